// Messages between the coordinator and its worker processes (Node IPC).
import type { ChatCmd } from './chat';
import type { ResyncCmd } from './resync';

/** The server's limit on user ids per presence:subscribe (docs/protocol.md). */
export const PRESENCE_SUBSCRIBE_MAX_IDS = 500;

export interface ClientSpec {
  /** unique over the run; also the receiver name in loss counting */
  key: string;
  userId: string;
  /** what nginx hashes: picks the replica */
  cid: string;
  /** rooms to join right after connecting (the first one is timed) */
  rooms: string[];
  /** when to start (epoch ms): the open arrival model's schedule */
  at: number;
  /** presence observers: presence:subscribe to these users right after connecting, and record their presence:update receipts */
  observePresence?: { userIds: string[] };
}

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

/** The most one client may take to connect: login, connect, then one ack per presence:subscribe chunk and per room, each within the timeout. */
export function clientBudgetMs(spec: ClientSpec, timeoutMs: number): number {
  const subscribes = Math.ceil((spec.observePresence?.userIds.length ?? 0) / PRESENCE_SUBSCRIBE_MAX_IDS);
  return (2 + subscribes + Math.max(1, spec.rooms.length)) * timeoutMs;
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
}

export type Cmd =
  | ConnectCmd
  | SendCmd
  | { type: 'members'; phase: string; members: { receiver: string; producer: string }[] }
  | { type: 'acked'; phase: string }
  | { type: 'loss'; phase: string; acked: Record<string, number[]> }
  | { type: 'collect'; phase: string }
  | { type: 'disconnect'; keys?: string[] }
  | { type: 'exit' }
  | ChatCmd
  | ResyncCmd;

export interface Counters {
  connected: number;
  connecting: number;
  sends: number;
  acks: number;
  deliveries: number;
  errors: number;
}

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
