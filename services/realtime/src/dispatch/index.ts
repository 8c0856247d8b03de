import type { Config } from '../config';
import type { Keyspace } from '../infra/keys';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { MongoConnection } from '../infra/mongo';
import type { RedisConnections } from '../infra/redis';
import type { JobQueue } from '../jobs';
import { dispatchUserRoom, type DispatchServerToClientEvents } from '@switchboard/protocol';
import { OrderArchive } from './archive';
import { LocalProviders } from './local-providers';
import { dispatchMetrics } from './metrics';
import type { DispatchNamespace } from './namespace';
import { OutboxWriter } from './outbox';
import { DispatchRestorer } from './restore';
import { DispatchService, type DispatchNotifier } from './service';
import { DispatchStore } from './store';

/**
 * Dispatch: online providers and active orders on the /dispatch namespace.
 * namespace.ts (socket handlers) and http.ts (order history, admin views) -> service.ts (state
 * machine, offer timers; transitions.ts: what each script reply means) -> store.ts (Redis keys)
 * -> scripts.ts (typed calls of the Lua scripts in lua/). Redis is the live authority; every
 * transition also reaches MongoDB through the outbox (outbox.ts -> archive.ts, order.model.ts),
 * and restore.ts brings the orders back from there when Redis loses its data.
 */
export { registerDispatch, type DispatchDeps } from './namespace';
export { DispatchService, OFFER_TIMEOUT_JOB } from './service';

export interface DispatchCapabilityDeps {
  config: Config;
  nodeId: string;
  redis: RedisConnections;
  keys: Keyspace;
  jobs: JobQueue;
  mongo: MongoConnection;
  log: Logger;
  metrics: Metrics;
}

/** Sends to a user's room of /dispatch once registerDispatch has bound the namespace. */
class NamespaceNotifier implements DispatchNotifier {
  nsp?: DispatchNamespace;

  constructor(private readonly metrics: Metrics) {}

  toUser<E extends keyof DispatchServerToClientEvents>(userId: string, event: E, ...payload: Parameters<DispatchServerToClientEvents[E]>): void {
    if (!this.nsp) return;
    this.metrics.broadcasts.inc({ event });
    this.nsp.to(dispatchUserRoom(userId)).emit(event, ...payload);
  }
}

/** Every part of dispatch, built once per replica; start() after jobs.start(), stop() before Redis closes. */
export class Dispatch {
  readonly store: DispatchStore;
  readonly archive: OrderArchive;
  readonly service: DispatchService;
  readonly restorer: DispatchRestorer;
  readonly providers: LocalProviders;
  readonly notifier: NamespaceNotifier;
  private readonly writer: OutboxWriter;

  /** Build before jobs.start(): the service registers the offer-timeout job handler. */
  constructor({ config, nodeId, redis, keys, jobs, mongo, log, metrics }: DispatchCapabilityDeps) {
    const dlog = log.child({ component: 'dispatch' });
    this.store = new DispatchStore(redis, keys, config.PRESENCE_TTL_MS, config.DISPATCH_OUTBOX_MAX);
    const m = dispatchMetrics(metrics.registry, this.store);
    this.archive = new OrderArchive(mongo, dlog);
    this.notifier = new NamespaceNotifier(metrics);
    this.service = new DispatchService(
      this.store,
      this.archive,
      jobs,
      redis,
      this.notifier,
      { offerTimeoutMs: config.DISPATCH_OFFER_TIMEOUT_MS, radiusKm: config.DISPATCH_RADIUS_KM, nodeId },
      dlog,
    );
    // Restored orders wait two refresh periods: every replica's tick has announced its providers by then.
    this.restorer = new DispatchRestorer(this.store, this.archive, this.service, redis, nodeId, 2 * config.PRESENCE_REFRESH_MS, dlog, m);
    this.store.onRestoring = () => void this.restorer.check();
    this.providers = new LocalProviders(this.store, this.service, this.restorer, redis, config.PRESENCE_REFRESH_MS, dlog);
    this.writer = new OutboxWriter(this.store, this.archive, redis, nodeId, dlog, m);
    this.store.onStep = () => this.writer.nudge();
  }

  start(): void {
    this.providers.start();
    this.writer.start();
    void this.restorer.check();
  }

  async stop(): Promise<void> {
    this.providers.stop();
    await this.writer.stop();
  }
}
