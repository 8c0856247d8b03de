import mongoose from 'mongoose';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/**
 * The MongoDB connection. Commands are not buffered: while MongoDB is away an
 * operation fails within MONGO_TIMEOUT_MS and the caller answers UNAVAILABLE,
 * instead of queueing work in memory. The driver reconnects by itself.
 */
export class MongoConnection {
  readonly connection: mongoose.Connection;

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly poolSize = 10,
  ) {
    this.connection = mongoose.createConnection();
    this.connection.set('bufferCommands', false);
    this.connection.on('connected', () => this.onState(true));
    this.connection.on('reconnected', () => this.onState(true));
    this.connection.on('disconnected', () => this.onState(false));
    this.connection.on('error', (err: Error) => this.log.warn({ err: err.message }, 'mongodb error'));
  }

  /** Opens the connection, retrying in the background until MongoDB answers. */
  start(): void {
    const attempt = () => {
      this.connection
        .openUri(this.url, {
          serverSelectionTimeoutMS: this.timeoutMs,
          maxPoolSize: this.poolSize,
          // A busy pool is a slow database: answer UNAVAILABLE in time instead of queueing for ever.
          waitQueueTimeoutMS: this.timeoutMs,
          socketTimeoutMS: 0,
          heartbeatFrequencyMS: 2000,
          autoIndex: true,
        })
        .catch((err: Error) => {
          this.log.warn({ err: err.message }, 'mongodb not reachable yet, retrying');
          setTimeout(attempt, 1000).unref();
        });
    };
    attempt();
  }

  isUp(): boolean {
    return this.connection.readyState === mongoose.ConnectionStates.connected;
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined); // shutting down: a connection that will not close goes with the process
  }

  private onState(up: boolean): void {
    this.metrics.mongoUp.set(up ? 1 : 0);
    this.log.info({ mongo: up ? 'connected' : 'disconnected' }, up ? 'mongodb connected' : 'mongodb disconnected');
  }
}
