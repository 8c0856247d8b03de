// Chaos, the worker side: after a phase with a fault, every client of the
// phase that lost its socket logs in and connects again (nginx re-hashes its
// cid onto a live replica) and rejoins its rooms; then every client runs
// history:sync for its rooms from the newest message it had before the phase
// (paging while `hasMore`) and counts the phase's messages it had missed live
// as received. That is the reliable delivery recipe of docs/protocol.md, so
// `lost` afterwards is what a client following it would really have lost. A
// step that fails is tried again a moment later (`attempts` in all), as the
// recipe's client does; only what still fails then is reported as failed.
import type { Socket } from 'socket.io-client';
import { nowMs, sleep } from '../lib/clock';
import { login } from '@switchboard/test-kit';
import { ackOk, openSocket } from './client';
import type { LossChecker } from './loss';
import type { ClientSpec } from './client-spec';
import type { ShownMessages } from './shown';

export interface ResyncCmd {
  type: 'resync';
  /** the phase whose messages are looked for in history */
  phase: string;
  url: string;
  clients: ClientSpec[];
  transports: ('websocket' | 'polling')[];
  timeoutMs: number;
  /** false against a target without history (the stock server): reconnect only */
  history: boolean;
  /** tries per step (reconnect, each room's sync); default 1 */
  attempts?: number;
  /** pause between two tries */
  retryMs?: number;
}

export interface ResyncResult {
  reconnected: number;
  reconnectFailed: number;
  /** ms from the command until the last client was connected again */
  reconnectMs: number;
  /** phase messages found in history that had not arrived live */
  recovered: number;
  /** rooms whose history:sync still failed after every try */
  syncErrors: number;
  /** those failures by error code (or "ack timeout") */
  syncErrorCodes: Record<string, number>;
  /** failed tries a later try got past (reconnects and syncs) */
  retried?: number;
  /** acks with code INTERNAL met on the way (joins, syncs), retried ones included */
  internalAcks?: number;
  /** HTTP 5xx answers to the logins, by status */
  http5xx?: Record<string, number>;
}

export interface WorkerClients {
  get(key: string): { key: string; userId: string; socket?: Socket } | undefined;
  /** attaches the worker's message:new handler to a new socket */
  listen(key: string, socket: Socket): void;
  loss(phase: string): LossChecker;
  /** message ids and sync anchors, where the phase tracks them */
  shown(phase: string): ShownMessages | undefined;
}

/** The most pages one room's sync reads (HISTORY_SYNC_MAX messages each): far above what a phase stores. */
const MAX_PAGES = 50;

export async function resync(cmd: ResyncCmd, w: WorkerClients): Promise<ResyncResult> {
  const t0 = nowMs();
  const attempts = Math.max(1, cmd.attempts ?? 1);
  const out: ResyncResult = { reconnected: 0, reconnectFailed: 0, reconnectMs: 0, recovered: 0, syncErrors: 0, syncErrorCodes: {}, retried: 0, internalAcks: 0, http5xx: {} };
  const noteError = (message: string) => {
    if (message === 'INTERNAL' || /\bINTERNAL\b/.test(message)) out.internalAcks!++;
    const status = /HTTP (5\d\d)/.exec(message)?.[1];
    if (status) out.http5xx![status] = (out.http5xx![status] ?? 0) + 1;
  };
  const withTries = async <T>(step: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        noteError((err as Error).message);
        if (attempt >= attempts) throw err;
        out.retried!++;
        await sleep(cmd.retryMs ?? 1000);
      }
    }
  };
  await Promise.all(
    cmd.clients.map(async (spec) => {
      const c = w.get(spec.key);
      if (!c || c.socket?.connected) return;
      try {
        c.socket = await withTries(async () => {
          const token = (await login(cmd.url, spec.userId, { cid: spec.cid, timeoutMs: cmd.timeoutMs })).token;
          const socket = await openSocket(cmd.url, { token, userId: spec.userId, cid: spec.cid, transports: cmd.transports, timeoutMs: cmd.timeoutMs }, (s) => w.listen(spec.key, s));
          try {
            for (const room of spec.rooms) await ackOk(socket, cmd.timeoutMs, 'room:join', { room });
          } catch (err) {
            socket.disconnect();
            throw err;
          }
          return socket;
        });
        out.reconnected++;
      } catch {
        out.reconnectFailed++; // counted, not itemised: the report says how many clients stayed offline
      }
    }),
  );
  out.reconnectMs = Math.round(nowMs() - t0);
  if (!cmd.history) return out;
  const loss = w.loss(cmd.phase);
  const shown = w.shown(cmd.phase);
  const prefix = `lt|${cmd.phase}.`;
  const take = (key: string, m: { id?: string; text?: string }) => {
    if (!m.text?.startsWith(prefix)) return;
    const [, producer, seqS] = m.text.split('|', 3);
    const seq = Number(seqS);
    if (m.id) shown?.shown(key, producer, seq, m.id);
    if (loss.seen(key, producer, seq)) return void shown?.repeated();
    loss.received(key, producer, seq);
    out.recovered++;
  };
  // One room's messages since the client's anchor, page by page (an anchor the room does not know: the latest page).
  const syncRoom = async (socket: Socket, key: string, room: string) => {
    let after = shown?.anchor(key, room);
    for (let page = 0; page < MAX_PAGES; page++) {
      let a;
      try {
        a = await ackOk(socket, cmd.timeoutMs, 'history:sync', after ? { room, after } : { room });
      } catch (err) {
        if (after && (err as Error).message === 'NOT_FOUND') {
          after = undefined;
          continue;
        }
        throw err;
      }
      const messages = a.messages ?? [];
      for (const m of messages) take(key, m);
      if (!a.hasMore || !messages.length) return;
      after = messages[messages.length - 1].id;
    }
  };
  await Promise.all(
    cmd.clients.map(async (spec) => {
      const socket = w.get(spec.key)?.socket;
      if (!socket?.connected) return;
      for (const room of spec.rooms) {
        try {
          await withTries(() => syncRoom(socket, spec.key, room));
        } catch (err) {
          out.syncErrors++;
          const code = (err as Error).message;
          out.syncErrorCodes[code] = (out.syncErrorCodes[code] ?? 0) + 1;
        }
      }
    }),
  );
  return out;
}
