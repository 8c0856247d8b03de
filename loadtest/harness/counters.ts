// A worker's live counters, reported to the coordinator while a phase runs.
// Its own module so the chat mix (chat.ts) need not import the IPC protocol.
export interface Counters {
  connected: number;
  connecting: number;
  sends: number;
  acks: number;
  deliveries: number;
  errors: number;
}
