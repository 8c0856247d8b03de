import { checkRouteLimits } from '../../src/gateway/router';
import { USER_LIMIT_CLASSES } from '../../src/ratelimit';

const handle = async () => undefined;

describe('every socket route names a per-user rate-limit class', () => {
  it('accepts a table whose routes all name one', () => {
    expect(() => checkRouteLimits('/', Object.fromEntries(USER_LIMIT_CLASSES.map((limit) => [`e:${limit}`, { limit, handle }])))).not.toThrow();
  });

  it('refuses, at start-up, a route that names none, naming the event', () => {
    expect(() => checkRouteLimits('/dispatch', { 'order:create': { limit: 'orders', handle }, 'order:forget': { handle } })).toThrow(
      /socket event order:forget of namespace \/dispatch names no rate-limit class/,
    );
  });

  it('refuses a class that is not a per-user one (the flood limit, an address class, a typo)', () => {
    for (const limit of ['events', 'logins', 'handshakes', 'message']) expect(() => checkRouteLimits('/', { typing: { limit, handle } })).toThrow(/typing/);
  });
});
