// Messages between the coordinator and its worker processes (Node IPC).
import type { ChatCmd } from './chat';
import type { ClientSpec } from './client-spec';
import type { ResyncCmd } from './resync';

export interface ConnectCmd {
  type: 'connect';
  phase: string;
  url: string;
  clients: ClientSpec[];
  transports: ('websocket' | 'polling')[];
  /** disconnect again after this long (presence churn); 0 = stay */
  holdMs: number;
  timeoutMs: number;
  /** the phase's deadline (epoch ms; the coordinator's, lib/deadline.ts): clients still unsettled then count as failed */
  deadlineAt?: number;
  deadlineMs?: number;
}

export interface ProducerSpec {
  /** the client (by key) that sends */
  client: string;
  /** unique per phase: `${phase}.${n}` */
  producer: string;
  room: string;
  /** the members (client keys, on any worker) that must receive its messages */
  members: string[];
  /** fixed schedule: first send at `start`, then every `intervalMs` until `end` */
  start: number;
  intervalMs: number;
  end: number;
}

export interface SendCmd {
  type: 'send';
  phase: string;
  producers: ProducerSpec[];
  ackTimeoutMs: number;
  textPad: number;
  /** block the worker's event loop for `forMs` every `everyMs` while it sends (a generator lagging on purpose) */
  stall?: { everyMs: number; forMs: number };
}

export type Cmd =
  | ConnectCmd
  | SendCmd
  /** `track`: record message ids (duplicates as shown after de-duplicating by id, history overlap) and history:sync anchors */
  | { type: 'members'; phase: string; members: { receiver: string; producer: string }[]; track?: boolean }
  | { type: 'shown'; phase: string }
  | { type: 'acked'; phase: string }
  | { type: 'loss'; phase: string; acked: Record<string, number[]> }
  | { type: 'collect'; phase: string }
  | { type: 'disconnect'; keys?: string[] }
  | { type: 'exit' }
  | { type: 'gen-mark' }
  | { type: 'gen-read' }
  | ChatCmd
  | ResyncCmd;

export interface ConnectResult {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  /** client key -> connect time (epoch ms), and disconnect time when held */
  connectedAt: Record<string, number>;
  disconnectedAt: Record<string, number>;
  /** the phase's deadline and how long it took (set by the coordinator) */
  deadlineMs?: number;
  tookMs?: number;
}

export interface PhaseCollect {
  hist: Record<string, string>;
  /** per-second delivery counts and latency histograms (encoded, 2 digits) */
  series: { sec: number; deliveries: number; hist: string }[];
  /** presence receipts: `${userId}|${online}` -> earliest receipt (epoch ms) per observer */
  presence: { observer: string; userId: string; online: boolean; at: number }[];
  sendErrors: Record<string, number>;
}
