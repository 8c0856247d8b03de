// One load-test client as the coordinator hands it to a worker, and how long
// connecting it may take. Its own module so resync.ts and the scenarios need
// not import the IPC protocol, which imports them.
import { PRESENCE_SUBSCRIBE_MAX_IDS } from '@switchboard/protocol';

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
  /** receive-only: the small ws client (harness/lite-client.ts), which only joins and counts deliveries */
  lite?: boolean;
}

/** The most one client may take to connect: login, connect, then one ack per presence:subscribe chunk and per room, each within the timeout. */
export function clientBudgetMs(spec: ClientSpec, timeoutMs: number): number {
  const subscribes = Math.ceil((spec.observePresence?.userIds.length ?? 0) / PRESENCE_SUBSCRIBE_MAX_IDS);
  return (2 + subscribes + Math.max(1, spec.rooms.length)) * timeoutMs;
}
