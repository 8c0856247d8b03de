import { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import ClusterAllFailedError from 'ioredis/built/errors/ClusterAllFailedError';
import { Counter, Registry } from 'prom-client';
import { isRedisUnavailable, redisFallback } from '../../src/infra/redis-fallback';

/** An error as node's net module reports a failed socket. */
function socketError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code, syscall: 'connect' });
}

describe('isRedisUnavailable', () => {
  it.each([
    ['a closed connection', new Error('Connection is closed.')],
    ['no offline queue while disconnected', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['a cluster that is not ready', new Error("Cluster isn't ready and enableOfflineQueue options is false")],
    ['a command timeout', new Error('Command timed out')],
    ['the retry limit', new MaxRetriesPerRequestError(1)],
    ['no node to refresh the slot map from', new ClusterAllFailedError(ClusterAllFailedError.defaultMessage, new Error('Connection is closed.'))],
    ['redirections that never settle', new Error('Too many Cluster redirections. Last error: Error: Connection is closed.')],
    ['unreachable sentinels', new Error('All sentinels are unreachable. Retrying from scratch after 100ms.')],
    ['ECONNREFUSED', socketError('ECONNREFUSED')],
    ['ECONNRESET', socketError('ECONNRESET')],
    ['EPIPE', socketError('EPIPE')],
    ['ETIMEDOUT', socketError('ETIMEDOUT')],
    ['CLUSTERDOWN', new ReplyError('CLUSTERDOWN The cluster is down')],
    ['TRYAGAIN', new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot')],
    ['LOADING', new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['MASTERDOWN', new ReplyError('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no')],
    ['READONLY (a demoted primary)', new ReplyError("READONLY You can't write against a read only replica.")],
    // Seen in the load test's fault matrix (Cluster primary killed): a credits flush's script in an auto-pipeline.
    ['MOVED (a slot that moved during a failover)', new ReplyError('MOVED 1627 redis-1:6379')],
    ['ASK (a slot being migrated)', new ReplyError('ASK 1627 redis-2:6379')],
    ['OOM', new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
  ])('is true for %s', (_what, err) => {
    expect(isRedisUnavailable(err)).toBe(true);
  });

  it('is true for a MULTI that Redis discarded because it was unavailable', () => {
    const execAbort = Object.assign(new ReplyError('EXECABORT Transaction discarded because of previous errors.'), {
      previousErrors: [new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
    });
    expect(isRedisUnavailable(execAbort)).toBe(true);
  });

  it.each([
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'length')")],
    ['a SyntaxError from JSON.parse', new SyntaxError('Unexpected token')],
    ['WRONGTYPE', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a Lua script error', new ReplyError('ERR user_script:1: Script attempted to access nonexistent global variable')],
    ['CROSSSLOT', new ReplyError("CROSSSLOT Keys in request don't hash to the same slot")],
    ['an unknown command', new ReplyError("ERR unknown command 'NOPE'")],
    ['a MULTI discarded for a wrong command', Object.assign(new ReplyError('EXECABORT Transaction discarded because of previous errors.'), { previousErrors: [new ReplyError('ERR wrong number of arguments')] })],
    ['a plain error', new Error('no handler for job cleanup')],
    ['a string', 'Connection is closed.'],
    ['undefined', undefined],
  ])('is false for %s', (_what, err) => {
    expect(isRedisUnavailable(err)).toBe(false);
  });
});

describe('redisFallback', () => {
  const setup = () => {
    const registry = new Registry();
    const counter = new Counter({ name: 'fallbacks', help: 'test', labelNames: ['operation'], registers: [registry] });
    const count = async (operation: string) => (await counter.get()).values.find((v) => v.labels.operation === operation)?.value ?? 0;
    return { orLocal: redisFallback(counter), count };
  };

  it('answers with the Redis result when Redis answers', async () => {
    const { orLocal, count } = setup();
    await expect(orLocal('op', async () => 'redis', () => 'local')).resolves.toBe('redis');
    expect(await count('op')).toBe(0);
  });

  it('answers from local state and counts it when Redis is unavailable', async () => {
    const { orLocal, count } = setup();
    const down = async () => {
      throw new Error('Connection is closed.');
    };
    await expect(orLocal('rooms.members', down, () => 'local')).resolves.toBe('local');
    await expect(orLocal('rooms.members', down, async () => 'local, later')).resolves.toBe('local, later');
    expect(await count('rooms.members')).toBe(2);
  });

  it('rethrows anything else, uncounted', async () => {
    const { orLocal, count } = setup();
    const bug = new TypeError('x is not a function');
    const local = jest.fn(() => 'local');
    await expect(
      orLocal(
        'op',
        async () => {
          throw bug;
        },
        local,
      ),
    ).rejects.toBe(bug);
    expect(local).not.toHaveBeenCalled();
    expect(await count('op')).toBe(0);
  });
});
