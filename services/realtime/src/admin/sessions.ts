import { randomBytes } from 'node:crypto';
import type { Keyspace } from '../infra/keys';
import type { RedisConnections } from '../infra/redis';

const SESSION_ID = /^[0-9a-f]{32}$/;

/**
 * The admin UI's sessions: after a password login the UI gets a session id
 * (its `session` event) and reconnects with it, to whichever replica nginx
 * picks, so they live in Redis. While Redis is away none is made or found:
 * the UI asks for the password again.
 *
 * Key: <p>admin-ui:session:<id> (TTL SESSION_TTL_SEC).
 */
export class AdminUiSessions {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: Keyspace,
    private readonly ttlSec: number,
  ) {}

  async create(): Promise<string | undefined> {
    const id = randomBytes(16).toString('hex');
    return this.redis.orLocal(
      'admin-ui.session',
      async () => {
        await this.redis.command.set(this.key(id), '1', 'EX', this.ttlSec);
        return id;
      },
      () => undefined,
    );
  }

  async exists(id: unknown): Promise<boolean> {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) return false;
    return this.redis.orLocal('admin-ui.session', async () => (await this.redis.command.exists(this.key(id))) === 1, () => false);
  }

  private key(id: string): string {
    return this.keys.plain('admin-ui', 'session', id);
  }
}
