import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { Gauge } from 'prom-client';
import type { RedisClient, RedisTopology } from '../infra/redis-topology';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import { redisFallback, type RedisFallback } from '../infra/redis-fallback';

export type JobHandler = (job: Job) => Promise<unknown>;

export interface JobStatus {
  id: string;
  name: string;
  state: string;
  attemptsMade: number;
  failedReason?: string;
  returnValue?: unknown;
}

export const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed', 'paused'] as const;

/**
 * Background jobs on BullMQ: one queue shared by every replica, a worker in
 * each. BullMQ's locks make a job run once however many workers there are;
 * retries back off exponentially; schedulers with a fixed id are shared, so
 * every replica may declare the same repeatable job without duplicates.
 *
 * BullMQ needs its own connections (blocking commands, no retry limit), built
 * by the same topology as the rest: BullMQ speaks ioredis, Cluster included.
 */
export class JobQueue {
  readonly queue: Queue;
  private worker?: Worker;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly connections: RedisClient[] = [];
  private readonly bullPrefix: string;
  private readonly orLocal: RedisFallback;

  constructor(
    private readonly topology: RedisTopology,
    prefix: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly concurrency = 4,
    readonly name = 'switchboard',
  ) {
    this.bullPrefix = bullPrefix(prefix);
    const orLocal = (this.orLocal = redisFallback(metrics.redisFallbacks));
    const producer = this.connect(false);
    this.queue = new Queue(name, { connection: producer, prefix: this.bullPrefix });
    this.queue.on('error', (err) => this.log.debug({ err: err.message }, 'job queue error'));
    // Read on every scrape, so the dashboard shows the queue as it is, not as this replica saw it.
    const queue = this.queue;
    new Gauge({
      name: 'sb_jobs',
      help: 'Jobs in the shared queue by state',
      labelNames: ['state'],
      registers: [metrics.registry],
      async collect() {
        // Redis away: keep the last values rather than fail the scrape.
        const counts = await orLocal('jobs.counts', () => queue.getJobCounts(...JOB_STATES), (): Record<string, number> => ({}));
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
  }

  /** Registers what a job name does; call before start(). */
  handle(name: string, handler: JobHandler): void {
    this.handlers.set(name, handler);
  }

  /** Starts this replica's worker. */
  start(): void {
    this.worker = new Worker(
      this.name,
      async (job) => {
        const handler = this.handlers.get(job.name);
        if (!handler) throw new Error(`no handler for job ${job.name}`);
        return handler(job);
      },
      { connection: this.connect(true), prefix: this.bullPrefix, concurrency: this.concurrency },
    );
    this.worker.on('error', (err) => this.log.debug({ err: err.message }, 'job worker error'));
    this.worker.on('completed', (job) => this.metrics.jobs.inc({ name: job.name, result: 'completed' }));
    this.worker.on('failed', (job, err) => {
      this.metrics.jobs.inc({ name: job?.name ?? 'unknown', result: 'failed' });
      this.log.warn({ job: job?.name, id: job?.id, attempts: job?.attemptsMade, err: err.message }, 'job attempt failed');
    });
  }

  /** Adds a job; retries back off exponentially from 1 s unless told otherwise. */
  async add(name: string, data: unknown, opts: JobsOptions = {}): Promise<string> {
    const job = await this.queue.add(name, data, {
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 24 * 3600 },
      ...opts,
    });
    return job.id!;
  }

  /** A repeatable job, declared by every replica and run once per interval. */
  async every(name: string, everyMs: number, data: unknown = {}): Promise<void> {
    await this.queue.upsertJobScheduler(name, { every: everyMs }, { name, data, opts: { removeOnComplete: 100, removeOnFail: 100 } });
  }

  async remove(jobId: string): Promise<void> {
    // Redis away: the job stays; its handler finds it has nothing left to do.
    await this.orLocal('jobs.remove', () => this.queue.remove(jobId), () => 0);
  }

  async status(jobId: string): Promise<JobStatus | null> {
    const job = await this.queue.getJob(jobId);
    if (!job) return null;
    return {
      id: job.id!,
      name: job.name,
      state: await job.getState(),
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason || undefined,
      returnValue: job.returnvalue ?? undefined,
    };
  }

  async stats(): Promise<{ counts: Record<string, number>; schedulers: Array<{ name: string; everyMs?: number; next?: number }> }> {
    const counts = await this.queue.getJobCounts(...JOB_STATES);
    const schedulers = await this.queue.getJobSchedulers();
    return {
      counts,
      schedulers: schedulers.map((s) => ({ name: s.name, everyMs: s.every ? Number(s.every) : undefined, next: s.next })),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.worker?.close(), this.queue.close()]);
    for (const c of this.connections) c.disconnect();
  }

  private connect(blocking: boolean): RedisClient {
    // A producer fails fast while Redis is away (callers fall back); the worker waits.
    const c = this.topology.create({ name: blocking ? 'sb-jobs-worker' : 'sb-jobs', offlineQueue: blocking, maxRetriesPerRequest: null });
    c.on('error', (err: Error) => {
      this.metrics.redisErrors.inc({ client: blocking ? 'jobs-worker' : 'jobs' });
      this.log.debug({ err: err.message }, 'jobs redis error');
    });
    this.connections.push(c);
    return c;
  }
}

/**
 * BullMQ's key prefix: the whole prefix is one hash tag, so the keys of a
 * queue (its Lua scripts touch several at once) share a slot on a cluster.
 * "sb:" -> "{sb}:bull"; the same in every mode, so switching modes keeps names.
 */
export function bullPrefix(keyPrefix: string): string {
  return `{${keyPrefix.replace(/:+$/, '') || 'sb'}}:bull`;
}
