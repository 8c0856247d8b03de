import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Config } from '../config';

/** How long a name and password that passed bcrypt are known without hashing again. */
const KNOWN_FOR_MS = 10 * 60_000;
/** At most this many known pairs: one operator's browser needs one. */
const KNOWN_MAX = 32;
/** bcrypt reads 72 bytes; anything much longer is not a password anyone typed. */
const PASSWORD_MAX_CHARS = 1024;

export type CredentialCheck = 'ok' | 'wrong' | 'limited';

/**
 * The admin UI's one user: ADMIN_UI_USERNAME and a bcrypt hash of its password
 * (ADMIN_UI_PASSWORD_HASH, or ADMIN_UI_PASSWORD hashed at start, so the
 * password itself is not kept in memory after that).
 */
export class AdminCredentials {
  /** HMAC of a verified pair (a key of this process) -> until when it is known. */
  private readonly known = new Map<string, number>();
  private readonly key = randomBytes(32);

  private constructor(
    readonly username: string,
    private readonly hash: string,
  ) {}

  /** Undefined when neither ADMIN_UI_PASSWORD nor ADMIN_UI_PASSWORD_HASH is set: the admin UI is off. */
  static async fromConfig(config: Pick<Config, 'ADMIN_UI_USERNAME' | 'ADMIN_UI_PASSWORD' | 'ADMIN_UI_PASSWORD_HASH'>): Promise<AdminCredentials | undefined> {
    const hash = config.ADMIN_UI_PASSWORD_HASH ?? (config.ADMIN_UI_PASSWORD ? await bcrypt.hash(config.ADMIN_UI_PASSWORD, 10) : undefined);
    return hash ? new AdminCredentials(config.ADMIN_UI_USERNAME, hash) : undefined;
  }

  /**
   * Checks a name and password. The UI's page, its files and its socket each
   * present them, so a pair that passed is known for a while by its HMAC
   * instead of costing bcrypt every time. Before any bcrypt, `mayHash` is
   * asked (the caller's rate limit): a guesser pays a limit, not our CPU.
   */
  async check(username: unknown, password: unknown, mayHash: () => Promise<boolean>): Promise<CredentialCheck> {
    if (typeof username !== 'string' || typeof password !== 'string' || password.length > PASSWORD_MAX_CHARS) return 'wrong';
    const digest = createHmac('sha256', this.key).update(username).update('\0').update(password).digest('base64');
    const now = Date.now();
    if ((this.known.get(digest) ?? 0) > now) return 'ok';
    if (!(await mayHash())) return 'limited';
    const passwordOk = await bcrypt.compare(password, this.hash);
    if (!(passwordOk && sameText(username, this.username))) return 'wrong';
    for (const [d, until] of this.known) if (until <= now || this.known.size >= KNOWN_MAX) this.known.delete(d);
    this.known.set(digest, now + KNOWN_FOR_MS);
    return 'ok';
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
