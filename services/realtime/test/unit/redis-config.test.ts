import { loadConfig } from '../../src/config';
import { parseAddress, parseAddressList } from '../../src/infra/redis-topology';

describe('Redis topology configuration', () => {
  it('defaults to a single Redis with the classic adapter', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ REDIS_MODE: 'single', REDIS_ADAPTER: 'classic', REDIS_SENTINEL_NAME: 'mymaster' });
  });

  it('picks the sharded adapter on a cluster, and accepts ADAPTER as an alias of REDIS_ADAPTER', () => {
    expect(loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:7000,b:7001' }).REDIS_ADAPTER).toBe('sharded');
    expect(loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:7000', ADAPTER: 'streams' }).REDIS_ADAPTER).toBe('streams');
    expect(loadConfig({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's1,s2', ADAPTER: 'sharded' }).REDIS_ADAPTER).toBe('sharded');
    expect(loadConfig({ REDIS_ADAPTER: 'streams', ADAPTER: 'streams' }).REDIS_ADAPTER).toBe('streams');
  });

  it('says what is wrong with each bad combination', () => {
    expect(() => loadConfig({ REDIS_MODE: 'cluster' })).toThrow(/REDIS_CLUSTER_NODES: is empty \(required when REDIS_MODE=cluster\)/);
    expect(() => loadConfig({ REDIS_MODE: 'sentinel' })).toThrow(/REDIS_SENTINELS: is empty \(required when REDIS_MODE=sentinel\)/);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:7000' })).toThrow(/REDIS_CLUSTER_NODES: is only read when REDIS_MODE=cluster \(it is single\)/);
    expect(() => loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINELS: 's:26379' })).toThrow(/REDIS_SENTINELS: is only read when REDIS_MODE=sentinel/);
    expect(() => loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'redis://a:7000,rediss://b:7001' })).toThrow(/mixes redis:\/\/ and rediss:\/\//);
    expect(() => loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'http://a:7000' })).toThrow(/only redis:\/\/ and rediss:\/\//);
    expect(() => loadConfig({ REDIS_MODE: 'mesh' })).toThrow(/REDIS_MODE/);
    expect(() => loadConfig({ REDIS_ADAPTER: 'classic', ADAPTER: 'sharded' })).toThrow(/ADAPTER: says sharded but REDIS_ADAPTER says classic/);
    expect(() => loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:7000', ADAPTER: 'classic' })).toThrow(/ADAPTER: classic does not suit REDIS_MODE=cluster/);
    expect(() => loadConfig({ REDIS_URL: 'redis://:a@r:6379', REDIS_PASSWORD: 'b' })).toThrow(/REDIS_URL already has a password/);
    expect(() => loadConfig({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'rediss://:a@r:6379', REDIS_PASSWORD: 'b' })).toThrow(/REDIS_CLUSTER_NODES already carry a password/);
  });

  it('reads host:port and redis(s):// addresses; rediss turns TLS on', () => {
    expect(parseAddress('10.0.0.1:7001')).toEqual({ host: '10.0.0.1', port: 7001, tls: false });
    expect(parseAddress('redis-0.redis')).toEqual({ host: 'redis-0.redis', port: 6379, tls: false });
    expect(parseAddress('rediss://:p%40ss@cache.example:6380')).toEqual({ host: 'cache.example', port: 6380, tls: true, password: 'p@ss' });
    expect(parseAddressList(' s1:26379 , s2 ', 26379).map((a) => a.port)).toEqual([26379, 26379]);
  });
});
