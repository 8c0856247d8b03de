// Small socket.io-client helpers for the scenarios that drive their own
// clients (chat mix, chaos resync, recovery probe): log in, open a socket,
// emit with an ack and a timeout.
import { io, type Socket } from 'socket.io-client';
import type { AckOf, MainRequests, RequestPayload } from '@switchboard/protocol';

/** The ack of a main-namespace event (the stock baseline answers the same shapes). */
export type AckFor<E extends keyof MainRequests> = AckOf<MainRequests, E>;

/** A connected socket (no automatic reconnection: the scenario decides). */
export async function openSocket(url: string, o: { token: string; userId: string; cid: string; transports: ('websocket' | 'polling')[]; timeoutMs: number }, before?: (s: Socket) => void): Promise<Socket> {
  const socket = io(url, { auth: { token: o.token, userId: o.userId }, query: { cid: o.cid }, transports: o.transports, forceNew: true, reconnection: false, timeout: o.timeoutMs });
  before?.(socket); // listeners in place before the first event can arrive
  try {
    // socket.io-client's `timeout` bounds the Engine.IO handshake only; the
    // namespace CONNECT (the server's auth middleware) gets the same bound here.
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`connect timeout after ${o.timeoutMs} ms`)), o.timeoutMs);
      socket.once('connect', () => resolve());
      socket.once('connect_error', (e) => reject(new Error(`connect_error ${e.message}`)));
    }).finally(() => clearTimeout(timer));
  } catch (e) {
    socket.disconnect();
    throw e;
  }
  return socket;
}

export function ack<E extends keyof MainRequests>(socket: Socket, timeoutMs: number, event: E, payload?: RequestPayload<MainRequests, E>): Promise<AckFor<E>> {
  const s = socket.timeout(timeoutMs);
  return (payload === undefined ? s.emitWithAck(event) : s.emitWithAck(event, payload)) as Promise<AckFor<E>>;
}

/** The ack's fields when it is ok; rejects with the server's error code when it is not. */
export async function ackOk<E extends keyof MainRequests>(socket: Socket, timeoutMs: number, event: E, payload?: RequestPayload<MainRequests, E>): Promise<Extract<AckFor<E>, { ok: true }>> {
  const a = await ack(socket, timeoutMs, event, payload);
  if (!a?.ok) throw new Error(a?.error?.code ?? 'not ok');
  return a as Extract<AckFor<E>, { ok: true }>;
}
