// Chaos, the worker side: after a phase with Redis or a replica killed, every
// client of the phase that lost its socket logs in and connects again (nginx
// re-hashes its cid onto a live replica) and rejoins its rooms; then every
// client reads its rooms' latest history page (history:sync) and counts the
// phase's messages it had missed live as received. That is the reliable
// delivery recipe of docs/protocol.md, so `lost` afterwards is what a
// client following it would really have lost.
import type { Socket } from 'socket.io-client';
import { nowMs } from '../lib/clock';
import { login } from '@switchboard/test-kit';
import { ackOk, openSocket } from './client';
import type { LossChecker } from './loss';
import type { ClientSpec } from './client-spec';

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
}

export interface ResyncResult {
  reconnected: number;
  reconnectFailed: number;
  /** ms from the command until the last client was connected again */
  reconnectMs: number;
  /** phase messages found in history that had not arrived live */
  recovered: number;
  syncErrors: number;
  /** failed history:sync calls by error code (or "ack timeout") */
  syncErrorCodes: Record<string, number>;
}

export interface WorkerClients {
  get(key: string): { key: string; userId: string; socket?: Socket } | undefined;
  /** attaches the worker's message:new handler to a new socket */
  listen(key: string, socket: Socket): void;
  loss(phase: string): LossChecker;
}

export async function resync(cmd: ResyncCmd, w: WorkerClients): Promise<ResyncResult> {
  const t0 = nowMs();
  const out: ResyncResult = { reconnected: 0, reconnectFailed: 0, reconnectMs: 0, recovered: 0, syncErrors: 0, syncErrorCodes: {} };
  await Promise.all(
    cmd.clients.map(async (spec) => {
      const c = w.get(spec.key);
      if (!c || c.socket?.connected) return;
      try {
        const token = (await login(cmd.url, spec.userId, { cid: spec.cid, timeoutMs: cmd.timeoutMs })).token;
        const socket = await openSocket(cmd.url, { token, userId: spec.userId, cid: spec.cid, transports: cmd.transports, timeoutMs: cmd.timeoutMs }, (s) => w.listen(spec.key, s));
        for (const room of spec.rooms) await ackOk(socket, cmd.timeoutMs, 'room:join', { room });
        c.socket = socket;
        out.reconnected++;
      } catch {
        out.reconnectFailed++; // counted, not itemised: the report says how many clients stayed offline
      }
    }),
  );
  out.reconnectMs = Math.round(nowMs() - t0);
  if (!cmd.history) return out;
  const loss = w.loss(cmd.phase);
  const prefix = `lt|${cmd.phase}.`;
  await Promise.all(
    cmd.clients.map(async (spec) => {
      const socket = w.get(spec.key)?.socket;
      if (!socket?.connected) return;
      for (const room of spec.rooms) {
        try {
          const a = await ackOk(socket, cmd.timeoutMs, 'history:sync', { room });
          for (const m of a.messages ?? []) {
            if (!m.text?.startsWith(prefix)) continue;
            const [, producer, seq] = m.text.split('|', 3);
            if (loss.seen(spec.key, producer, Number(seq))) continue;
            loss.received(spec.key, producer, Number(seq));
            out.recovered++;
          }
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
