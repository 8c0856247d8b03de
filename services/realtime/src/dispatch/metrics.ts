import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { isRedisUnavailable } from '../infra/redis-fallback';
import type { DispatchStore } from './store';

/** Dispatch's own series on the replica's /metrics (docs/protocol.md, "Dispatch over HTTP"). */
export function dispatchMetrics(registry: Registry, store: DispatchStore) {
  return {
    transitionsStored: new Counter({
      name: 'sb_dispatch_transitions_stored_total',
      help: 'Order transitions this replica moved from the Redis outbox into MongoDB',
      registers: [registry],
    }),
    outboxWriteFailures: new Counter({
      name: 'sb_dispatch_outbox_write_failures_total',
      help: 'Outbox writes MongoDB did not take (the transitions stay in Redis and are retried)',
      registers: [registry],
    }),
    outboxWriteSeconds: new Histogram({
      name: 'sb_dispatch_outbox_write_seconds',
      help: 'Duration of one outbox batch written to MongoDB',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    restoredOrders: new Counter({
      name: 'sb_dispatch_restored_orders_total',
      help: 'Orders this replica put back into Redis from MongoDB after Redis lost its data',
      registers: [registry],
    }),
    outboxLength: new Gauge({
      name: 'sb_dispatch_outbox_length',
      help: 'Order transitions waiting in the Redis outbox for MongoDB (the same on every replica)',
      registers: [registry],
      // Read on every scrape; while Redis is away the last value stays.
      async collect() {
        try {
          this.set(await store.outboxLength());
        } catch (err) {
          if (!isRedisUnavailable(err)) throw err;
        }
      },
    }),
  };
}
export type DispatchMetrics = ReturnType<typeof dispatchMetrics>;
