import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { observeHeapAfterFullGc } from './heap-after-gc';

/** One registry per process, served at GET /metrics. */
export function createMetrics(instance: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ instance });
  collectDefaultMetrics({ register: registry });
  const heapAfterGc = observeHeapAfterFullGc();
  new Gauge({
    name: 'nodejs_heap_used_after_major_gc_bytes',
    help: 'Heap in use right after the latest full (mark-compact) GC: the live set, without garbage; absent before the first',
    registers: [registry],
    collect() {
      const bytes = heapAfterGc.bytes();
      if (bytes !== undefined) this.set(bytes);
    },
  });

  return {
    registry,
    connections: new Gauge({ name: 'sb_socket_connections', help: 'Open Socket.IO connections on this replica', registers: [registry] }),
    eventsIn: new Counter({ name: 'sb_socket_events_in_total', help: 'Socket events received', labelNames: ['event', 'result'], registers: [registry] }),
    eventsOut: new Counter({
      name: 'sb_socket_events_out_total',
      help: 'Socket events sent to clients of this replica (counted once per broadcast, by its number of local recipients)',
      labelNames: ['event'],
      registers: [registry],
    }),
    adapterPublishErrors: new Counter({ name: 'sb_adapter_publish_errors_total', help: 'Cross-replica broadcasts the Redis adapter could not publish', registers: [registry] }),
    ackLatency: new Histogram({
      name: 'sb_socket_ack_seconds',
      help: 'Time from receiving a socket event to its ack',
      labelNames: ['event'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    broadcasts: new Counter({ name: 'sb_broadcasts_total', help: 'Events broadcast through the adapter', labelNames: ['event'], registers: [registry] }),
    sendStage: new Histogram({
      name: 'sb_send_stage_seconds',
      help: 'Time one message:send spends in each stage on this replica: limit (rate-limit decision), store (MongoDB insert, group commit included), redis (the round trip after it), broadcast (handing it to the adapter)',
      labelNames: ['stage'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    redisUp: new Gauge({ name: 'sb_redis_up', help: '1 while every Redis client of this replica is ready', registers: [registry] }),
    mongoUp: new Gauge({ name: 'sb_mongo_up', help: '1 while MongoDB is connected', registers: [registry] }),
    redisErrors: new Counter({ name: 'sb_redis_errors_total', help: 'Redis client errors and failed commands', labelNames: ['client'], registers: [registry] }),
    redisFallbacks: new Counter({
      name: 'sb_redis_fallbacks_total',
      help: 'Redis operations that failed because Redis was unavailable and were answered from local state instead (or skipped)',
      labelNames: ['operation'],
      registers: [registry],
    }),
    unhandledRejections: new Counter({ name: 'sb_unhandled_rejections_total', help: 'Promise rejections nobody handled (should stay 0)', registers: [registry] }),
    presenceSwept: new Counter({ name: 'sb_presence_swept_connections_total', help: 'Connections of dead nodes removed by the sweeper', registers: [registry] }),
    rateLimited: new Counter({ name: 'sb_rate_limited_total', help: 'Requests refused by a rate limit', labelNames: ['class', 'backend'], registers: [registry] }),
    cacheLookups: new Counter({ name: 'sb_cache_lookups_total', help: 'Cache lookups by result', labelNames: ['result'], registers: [registry] }),
    jobs: new Counter({ name: 'sb_jobs_total', help: 'Job attempts finished by this replica', labelNames: ['name', 'result'], registers: [registry] }),
    messagesPersisted: new Counter({ name: 'sb_messages_persisted_total', help: 'Chat messages stored in MongoDB', registers: [registry] }),
    messageBatchSize: new Histogram({
      name: 'sb_message_batch_size',
      help: 'Messages stored by one MongoDB insert (group commit: sends that arrive during an insert go in the next one)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 256],
      registers: [registry],
    }),
    messageInsertSeconds: new Histogram({
      name: 'sb_message_insert_seconds',
      help: 'Duration of one group-commit insertMany of chat messages, failed ones included',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    historyWindowFillSeconds: new Histogram({
      name: 'sb_history_window_fill_seconds',
      help: 'Duration of one MongoDB read that fills the Redis history windows of a batch of rooms, failed ones included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    historyWindowFilledRooms: new Counter({ name: 'sb_history_window_filled_rooms_total', help: 'Rooms whose history window a fill read covered', registers: [registry] }),
    conversationCacheBuilds: new Counter({ name: 'sb_conversation_cache_builds_total', help: "Users' conversation caches rebuilt from MongoDB (missing, or of an older window generation)", registers: [registry] }),
    conversationRecounts: new Counter({ name: 'sb_conversation_recounts_total', help: "Rooms whose conversation state (message counts, newest message) was recounted from the window and MongoDB", registers: [registry] }),
    conversationReadCounts: new Counter({ name: 'sb_conversation_read_counts_total', help: 'Read positions older than the window whose count of others\' messages was read from MongoDB', registers: [registry] }),
    userUpdateBulkSeconds: new Histogram({
      name: 'sb_user_update_bulk_seconds',
      help: 'Duration of one bulk of user updates (returning logins, lastSeen), failed ones included (the queue paces the next bulk by it)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
