import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, freePorts, sleep, waitFor } from '@switchboard/test-kit';

export { freePort, freePorts, sleep, waitFor };

/**
 * Starts real servers for integration tests: each child runs in its own
 * process group so a stop (or a failing test's afterAll, or the test process
 * exiting) takes down whatever it spawned.
 */
const running = new Set<ChildProcess>();

process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const SERVICE_ROOT = path.resolve(__dirname, '..', '..');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sb-${prefix}-`));
}

export interface Proc {
  child: ChildProcess;
  name: string;
  output(): string;
  exited: Promise<number | null>;
}

export function startProcess(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-64_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
    child.on('error', (err) => {
      out += `\nspawn failed: ${err.message}`;
      running.delete(child);
      resolve(-1);
    });
  });
  return { child, name, output: () => out, exited };
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopProcess(proc: Proc, graceMs = 5000): Promise<number | null> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode;
  killGroup(proc.child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(proc.child, 'SIGKILL'), graceMs);
  const code = await proc.exited;
  clearTimeout(timer);
  return code;
}

/**
 * SIGSTOP a server and wait until every one of its threads has stopped. The
 * kernel wakes a single thread to take the stop and it halts the others: on a
 * loaded machine the rest of a Go or Node process (its network poller
 * included) can still answer a request meanwhile, and a test that sends one
 * right after `kill` would find its "frozen" server replying.
 */
export async function freeze(proc: Proc, timeoutMs = 10_000): Promise<void> {
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error(`${proc.name} has no pid to freeze`);
  process.kill(pid, 'SIGSTOP');
  await waitFor(`${proc.name} (pid ${pid}) stopped`, () => allThreadsStopped(pid), timeoutMs, 5);
}

export function thaw(proc: Proc): void {
  if (proc.child.pid !== undefined && proc.child.exitCode === null && proc.child.signalCode === null) process.kill(proc.child.pid, 'SIGCONT');
}

function allThreadsStopped(pid: number): boolean {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  // The state is the field after the parenthesised command name: T when stopped.
  return tasks.every((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Fails with a message that says how to get a missing binary. */
export function requireBinary(file: string, hint: string): string {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return file;
}
