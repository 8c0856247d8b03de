// What the stack tests share: the stack CLI for one compose project on one
// port, and a chat client that talks to it through nginx like a browser does.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ChatMessage, ClientToServerEvents, ServerToClientEvents } from '@switchboard/protocol';
import { freePort, login } from '@switchboard/test-kit';
import { io, type Socket } from 'socket.io-client';

/** A socket typed by the protocol's event maps: payloads and acks are checked at compile time. */
export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const ROOT = path.resolve(__dirname, '../../../..');

export interface CliResult {
  code: number;
  /** stdout and stderr as they came. */
  output: string;
  stdout: string;
}

/** Runs a command and returns its stdout (trimmed), whatever its exit code. */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(out.trim()));
  });
}


/** One compose project of the stack, on a port of its own, and the sockets the test opened against it. */
export class TestStack {
  port = 0;
  readonly sockets: ChatSocket[] = [];

  constructor(readonly project: string) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async choosePort(): Promise<void> {
    this.port = await freePort();
  }

  /** The stack CLI for this project, its progress (and, unless `quiet`, its output) shown on stderr. */
  cli(...args: string[]): Promise<CliResult> {
    return this.run(args, false);
  }

  private run(args: string[], quiet: boolean): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/stack/src/cli.ts', ...args], {
        cwd: ROOT,
        env: { ...process.env, SB_PROJECT: this.project, SB_HTTP_PORT: String(this.port), SB_BIND: '127.0.0.1' },
      });
      let output = '';
      let stdout = '';
      const pass = (chunk: Buffer) => {
        output += chunk.toString();
        process.stderr.write(chunk);
      };
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (quiet) output += chunk.toString();
        else pass(chunk);
      });
      child.stderr.on('data', pass);
      child.on('close', (code) => resolve({ code: code ?? 1, output, stdout }));
    });
  }

  async mustCli(...args: string[]): Promise<string> {
    const r = await this.cli(...args);
    if (r.code !== 0) {
      const reason = r.output.trim().split('\n').slice(-15).join('\n');
      throw new Error(`stack ${args.join(' ')} failed (exit ${r.code}):\n${reason}`);
    }
    return r.output;
  }

  /** `status --json`: stdout is the document, progress goes to stderr. */
  async status<T = Record<string, unknown>>(): Promise<T> {
    const r = await this.run(['status', '--json'], true);
    if (r.code !== 0) throw new Error(`stack status failed (exit ${r.code})`);
    return JSON.parse(r.stdout) as T;
  }

  /** Container ids of the project still present (running or not). */
  containersLeft(): Promise<string> {
    return run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${this.project}`]);
  }

  async servedBy(cid: string): Promise<string> {
    const res = await fetch(`${this.base}/health?cid=${encodeURIComponent(cid)}`);
    const served = res.headers.get('x-served-by');
    if (res.status !== 200 || !served) throw new Error(`/health?cid=${cid} answered ${res.status} (X-Served-By: ${served})`);
    return served;
  }

  /** Two client ids that nginx sends to two different replicas. */
  async cidsOnTwoReplicas(prefix: string): Promise<[{ cid: string; replica: string }, { cid: string; replica: string }]> {
    const first = { cid: `${prefix}-0`, replica: await this.servedBy(`${prefix}-0`) };
    for (let i = 1; i < 200; i++) {
      const replica = await this.servedBy(`${prefix}-${i}`);
      if (replica !== first.replica) return [first, { cid: `${prefix}-${i}`, replica }];
    }
    throw new Error('every client id reached the same replica: is more than one running?');
  }

  async login(userId: string): Promise<string> {
    return (await login(this.base, userId)).token;
  }

  connect(token: string, cid: string): Promise<ChatSocket> {
    const socket = io(this.base, { auth: { token }, query: { cid }, transports: ['websocket'], reconnection: false });
    this.sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => reject(new Error(`socket (cid ${cid}) could not connect: ${err.message}`)));
    });
  }

  disconnectAll(): void {
    for (const s of this.sockets) s.disconnect();
  }
}

/**
 * Sends from one socket and resolves with what the other received of exactly
 * that message within `waitMs` (and a moment more, for a duplicate to show).
 * Throws when the send is not acknowledged with ok and the stored message.
 */
export async function sendAndCollect(from: ChatSocket, to: ChatSocket, room: string, text: string, waitMs = 10_000): Promise<ChatMessage[]> {
  const clientMsgId = `stack-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const received: ChatMessage[] = [];
  const onMessage = (m: ChatMessage) => {
    if (m.clientMsgId === clientMsgId) received.push(m);
  };
  to.on('message:new', onMessage);
  try {
    const ack = await from.timeout(waitMs).emitWithAck('message:send', { room, text, clientMsgId });
    if (!ack?.ok || ack.message.text !== text || ack.message.clientMsgId !== clientMsgId) {
      throw new Error(`message:send was not acknowledged with ok and the message: ${JSON.stringify(ack)}`);
    }
    const deadline = Date.now() + waitMs;
    while (!received.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    return received;
  } finally {
    to.off('message:new', onMessage);
  }
}
