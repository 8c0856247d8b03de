// A receive-only Socket.IO client for the fan-out's listeners: Engine.IO v4 /
// Socket.IO v5 frames straight over `ws`, no socket.io-client machinery
// (reconnection, buffering, packet encoders, timers per socket). Most of a
// fan-out's sockets only count deliveries; giving them this client leaves more
// of the machine to the servers under test. It speaks what those sockets need:
// the WebSocket handshake (`0{...}` open), the namespace CONNECT with the auth
// payload (`40{...}`, answered `40{sid}` or `44{error}`), pings (`2` answered
// `3`), events (`42["name",payload]`) and acks of its own requests
// (`42<id>[...]` answered `43<id>[...]`). Binary packets are not used by the
// protocol and are ignored. harness/lite.test.ts checks it against
// socket.io-client: the same delivery counts and latencies within noise.
import WebSocket from 'ws';

export interface LiteSocket {
  readonly connected: boolean;
  on(event: string, fn: (payload: unknown) => void): void;
  /** An event with an ack; rejects after `timeoutMs`. */
  emitWithAck(event: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  disconnect(): void;
}

/** ws://host:port/socket.io/?EIO=4&transport=websocket&cid=... from the HTTP base URL. */
export function engineUrl(base: string, cid: string): string {
  const u = new URL('/socket.io/', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('EIO', '4');
  u.searchParams.set('transport', 'websocket');
  u.searchParams.set('cid', cid);
  return u.toString();
}

class Lite implements LiteSocket {
  private readonly handlers = new Map<string, ((p: unknown) => void)[]>();
  private readonly acks = new Map<number, { resolve: (v: unknown) => void; timer: NodeJS.Timeout }>();
  private nextAck = 0;
  private open = false;
  private disconnectHandlers: ((reason: string) => void)[] = [];

  constructor(private readonly ws: WebSocket) {}

  get connected(): boolean {
    return this.open && this.ws.readyState === WebSocket.OPEN;
  }

  on(event: string, fn: (payload: unknown) => void): void {
    if (event === 'disconnect') this.disconnectHandlers.push(fn as (r: string) => void);
    else this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
  }

  /** One Engine.IO packet (a text frame). Returns the namespace answer while connecting. */
  packet(data: string, onConnect: (err?: string) => void): void {
    const type = data[0];
    if (type === '2') {
      this.ws.send('3'); // ping -> pong, or the server closes us after pingTimeout
      return;
    }
    if (type !== '4') return; // 0 (open) and 6 (noop) need no answer here
    const sio = data[1];
    if (sio === '0') {
      this.open = true;
      onConnect();
    } else if (sio === '4') onConnect(safeJson<{ message?: string }>(data.slice(2))?.message ?? 'connect refused');
    else if (sio === '2') {
      const args = safeJson<unknown[]>(data.slice(2 + leadingDigits(data, 2)));
      if (!Array.isArray(args) || typeof args[0] !== 'string') return;
      for (const fn of this.handlers.get(args[0]) ?? []) fn(args[1]);
    } else if (sio === '3') {
      const n = leadingDigits(data, 2);
      const id = Number(data.slice(2, 2 + n));
      const pending = this.acks.get(id);
      if (!pending) return;
      this.acks.delete(id);
      clearTimeout(pending.timer);
      const args = safeJson<unknown[]>(data.slice(2 + n));
      pending.resolve(Array.isArray(args) ? args[0] : undefined);
    } else if (sio === '1') this.closed('io server disconnect');
  }

  emitWithAck(event: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (!this.connected) return reject(new Error('not connected'));
      const id = this.nextAck++;
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new Error('operation has timed out'));
      }, timeoutMs);
      this.acks.set(id, { resolve, timer });
      this.ws.send(`42${id}${JSON.stringify([event, payload])}`);
    });
  }

  closed(reason: string): void {
    if (!this.open) return;
    this.open = false;
    for (const { timer } of this.acks.values()) clearTimeout(timer);
    this.acks.clear();
    for (const fn of this.disconnectHandlers) fn(reason);
  }

  disconnect(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send('41'); // namespace DISCONNECT, as socket.io-client sends it
    this.closed('io client disconnect');
    this.ws.close();
  }
}

function leadingDigits(s: string, from: number): number {
  let n = 0;
  while (from + n < s.length && s.charCodeAt(from + n) >= 48 && s.charCodeAt(from + n) <= 57) n++;
  return n;
}

function safeJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined; // a frame we do not understand is dropped, as a client would
  }
}

/**
 * Opens a socket and completes the namespace CONNECT with `auth`, within
 * `timeoutMs` for both (socket.io-client's `timeout` plus the harness's own
 * bound on the CONNECT, as openSocket does). `before` adds listeners before any
 * event can arrive.
 */
export function openLite(baseUrl: string, o: { cid: string; auth: Record<string, unknown>; timeoutMs: number }, before?: (s: LiteSocket) => void): Promise<LiteSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(engineUrl(baseUrl, o.cid), { perMessageDeflate: false });
    const socket = new Lite(ws);
    before?.(socket);
    let settled = false;
    const done = (err?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        ws.terminate();
        reject(new Error(err));
      } else resolve(socket);
    };
    const timer = setTimeout(() => done(`connect timeout after ${o.timeoutMs} ms`), o.timeoutMs);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      if (text[0] === '0') ws.send(`40${JSON.stringify(o.auth)}`);
      else socket.packet(text, (err) => done(err === undefined ? undefined : `connect_error ${err}`));
    });
    ws.on('error', (e) => done(`websocket error ${e.message}`));
    ws.on('close', () => {
      done('websocket closed');
      socket.closed('transport close');
    });
  });
}
