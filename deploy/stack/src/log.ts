// Plain, line-oriented output: it reads the same in a terminal and in CI logs.

/** An error whose message is one sentence for a person; the CLI prints it without a stack. */
export class StackError extends Error {
  constructor(message: string, readonly details?: string) {
    super(message);
  }
}

// Progress goes to stdout, except for verbs whose stdout is data (status --json).
let progressToStderr = false;
export function progressOnStderr(): void {
  progressToStderr = true;
}
const out = (line: string) => (progressToStderr ? console.error(line) : console.log(line));

export function step(message: string): void {
  out(`==> ${message}`);
}

export function info(message: string): void {
  out(`    ${message}`);
}

export function warn(message: string): void {
  console.error(`!!  ${message}`);
}

/**
 * Runs a long step and prints a heartbeat line every `everyMs`, so nobody
 * wonders whether an engine install or an image build is stuck.
 */
export async function withProgress<T>(label: string, work: () => Promise<T>, everyMs = 15_000): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => {
    info(`... ${label}: ${Math.round((Date.now() - started) / 1000)}s`);
  }, everyMs);
  try {
    const result = await work();
    info(`${label}: done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return result;
  } finally {
    clearInterval(timer);
  }
}
