// Child processes: capture for questions ("does docker info answer?"),
// stream for work whose output a person wants to see or a log should keep.
import { spawn } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { StackError } from './log';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the process (and report code 124) after this long. */
  timeoutMs?: number;
  /** Append stdout and stderr to this file. */
  logFile?: string;
  /** Called with every output line (for progress lines). */
  onLine?: (line: string) => void;
  /** Show output on the terminal as it comes. */
  inherit?: boolean;
  input?: string;
}

export function exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? (opts.inherit ? 'inherit' : 'ignore') : 'pipe', opts.inherit ? 'inherit' : 'pipe', opts.inherit ? 'inherit' : 'pipe'],
    });
    // The log's folder may not exist yet on a fresh clone (make test runs before make up ever did).
    if (opts.logFile) fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
    const log = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
    let stdout = '';
    let stderr = '';
    let partial = '';
    const feed = (chunk: Buffer, toStdout: boolean) => {
      const text = chunk.toString();
      if (toStdout) stdout += text;
      else stderr += text;
      log?.write(text);
      if (opts.onLine) {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        lines.forEach((l) => opts.onLine!(l));
      }
    };
    child.stdout?.on('data', (c: Buffer) => feed(c, true));
    child.stderr?.on('data', (c: Buffer) => feed(c, false));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      log?.end();
      resolve({ code: 127, stdout, stderr: stderr + String(err) });
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (partial && opts.onLine) opts.onLine(partial);
      log?.end();
      resolve({ code: timedOut ? 124 : (code ?? 1), stdout, stderr });
    });
  });
}

/** Runs and throws a one-sentence StackError (with the output's tail as details) when it fails. */
export async function mustExec(cmd: string, args: string[], failure: string, opts: ExecOptions = {}): Promise<Result> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new StackError(failure, tail(r.stdout + r.stderr));
  return r;
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export async function commandExists(cmd: string): Promise<boolean> {
  return (await exec('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
