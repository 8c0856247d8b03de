import type { Cluster as RedisCluster, Redis } from 'ioredis';
import jwt from 'jsonwebtoken';
import mongoose from 'mongoose';
import { api, connect, emitAck, login, startCluster, type Cluster } from '../support/cluster';
import { waitFor } from '../support/processes';

const DEV_SECRET = 'switchboard-dev-secret-change-me';

/** Every malformed payload is refused with VALIDATION and leaves Redis and MongoDB as they were. */
describe('bad input and bad tokens', () => {
  let cluster: Cluster;
  let redis: Redis | RedisCluster;
  let mongo: mongoose.Connection;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    redis = cluster.redisClient();
    mongo = await mongoose.createConnection(cluster.mongoUrl).asPromise();
  });

  afterAll(async () => {
    redis?.disconnect();
    await mongo?.close();
    await cluster?.stop();
  });

  /** Every key with its type and value: the state that bad input must not touch. */
  const redisState = async () => {
    // The node heartbeat and its info (connections, time) change every refresh tick by design.
    const keys = (await cluster.allKeys()).filter((k) => !k.includes('presence:nodes') && !k.includes('presence:node-info')).sort();
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const type = await redis.type(k);
      out[k] =
        type === 'zset' ? await redis.zrange(k, 0, -1) : type === 'hash' ? await redis.hgetall(k) : type === 'set' ? (await redis.smembers(k)).sort() : type === 'string' ? await redis.get(k) : type;
    }
    return out;
  };
  const messageCount = () => mongo.collection('messages').countDocuments();

  it('answers VALIDATION to every malformed socket payload and changes nothing', async () => {
    const { token } = await login(cluster.replicas[0].url, 'mallory');
    const s = await connect(cluster.replicas[0].url, token);
    expect((await emitAck(s, 'room:join', { room: 'lobby' })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    const beforeRedis = await redisState();
    const beforeMessages = await messageCount();

    const bad: Array<[string, unknown]> = [
      ['room:join', undefined],
      ['room:join', null],
      ['room:join', 'lobby'],
      ['room:join', { room: '' }],
      ['room:join', { room: 'x'.repeat(65) }],
      ['room:join', { room: 'bad room' }],
      ['room:join', { room: 42 }],
      ['room:join', { room: 'lobby', extra: true }],
      ['room:leave', { room: ['lobby'] }],
      ['message:send', { room: 'lobby', text: 'hi' }],
      ['message:send', { room: 'lobby', text: '', clientMsgId: 'a' }],
      ['message:send', { room: 'lobby', text: '   ', clientMsgId: 'a' }],
      ['message:send', { room: 'lobby', text: 'x'.repeat(4001), clientMsgId: 'a' }],
      ['message:send', { room: 'lobby', text: 5, clientMsgId: 'a' }],
      ['message:send', { room: 'lobby', text: 'hi', clientMsgId: '' }],
      ['message:send', { room: 'lobby', text: 'hi', clientMsgId: 'x'.repeat(65) }],
      ['message:send', { room: { $gt: '' }, text: 'hi', clientMsgId: 'a' }],
      ['history:sync', { room: 'lobby', after: 'not-an-id' }],
      ['history:sync', { room: 'lobby', after: { $ne: null } }],
      ['presence:set', { status: 'sleeping' }],
      ['presence:set', {}],
      ['region:update', { lat: 91, lng: 0 }],
      ['region:update', { lat: 0, lng: -181 }],
      ['region:update', { lat: '1', lng: '2' }],
      ['region:update', { lat: null, lng: 0 }],
    ];
    for (const [event, payload] of bad) {
      const ack = payload === undefined ? await emitAck(s, event) : await emitAck(s, event, payload);
      expect({ event, payload, ack }).toMatchObject({ event, payload, ack: { ok: false, error: { code: 'VALIDATION', message: expect.any(String) } } });
    }
    // Typing has no ack: a bad one is dropped and the socket stays usable.
    s.emit('typing', { room: 'lobby', typing: 'yes' });
    s.emit('typing', 'garbage');
    expect(await emitAck(s, 'no:such:event', {})).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await emitAck(s, 'message:send', { room: 'elsewhere', text: 'hi', clientMsgId: 'f1' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emitAck(s, 'history:sync', { room: 'lobby', after: '0123456789abcdef01234567' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    expect(await messageCount()).toBe(beforeMessages);
    // The last history:sync was valid (its id is just no message of the room): it is charged to mallory's history limit.
    const after = await redisState();
    expect(after['sb:{rl:history:user:mallory}']).toHaveLength(2); // the call and the spare it left
    delete after['sb:{rl:history:user:mallory}'];
    expect(after).toEqual(beforeRedis);
    expect(s.connected).toBe(true);
    s.close();
  });

  it("cannot reach another user's or session's private room by naming it", async () => {
    const bob = await login(cluster.replicas[1].url, 'bob');
    const bobSocket = await connect(cluster.replicas[1].url, bob.token);
    const got: unknown[] = [];
    bobSocket.on('message:new', (m) => got.push(m));
    const { token } = await login(cluster.replicas[0].url, 'mallory');
    const s = await connect(cluster.replicas[0].url, token);
    for (const room of ['user:bob', `session:${bob.sessionId}`]) {
      expect((await emitAck(s, 'room:join', { room })).ok).toBe(true);
      expect((await emitAck(s, 'message:send', { room, text: 'psst', clientMsgId: `leak-${room}` })).ok).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toEqual([]);
    s.close();
    bobSocket.close();
  });

  it('refuses bad HTTP input with the error body and status of the contract', async () => {
    const url = cluster.replicas[1].url;
    const post = (body: string) => fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    for (const body of ['{', '{"userId":""}', '{"userId":"has space"}', '{"userId":"ok","name":""}', '{"userId":"ok","admin":true}', '[]']) {
      const res = await post(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(await res.json()).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    const { token } = await login(url, 'reader');
    expect((await api(url, '/api/rooms/bad%20room/messages', token)).status).toBe(400);
    expect((await api(url, '/api/rooms/lobby/messages?limit=1000', token)).status).toBe(400);
    expect((await api(url, '/api/rooms/lobby/messages?before=zzz', token)).status).toBe(400);
    expect((await api(url, '/api/nothing', token)).body).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const noAuth = await fetch(`${url}/api/presence`);
    expect(noAuth.status).toBe(401);
    expect(await noAuth.json()).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
  });

  it('refuses missing, forged, expired and revoked tokens at the handshake', async () => {
    const url = cluster.replicas[0].url;
    const { token, sessionId } = await login(url, 'trent');
    const now = Math.floor(Date.now() / 1000);
    const forged = jwt.sign({ sub: 'trent', sid: sessionId, iat: now, exp: now + 60 }, 'not-the-secret-at-all', { issuer: 'switchboard' });
    const expired = jwt.sign({ sub: 'trent', sid: sessionId, iat: now - 120, exp: now - 60 }, DEV_SECRET, { issuer: 'switchboard' });
    const unknownSession = jwt.sign({ sub: 'trent', sid: 'no-such-session', iat: now, exp: now + 60 }, DEV_SECRET, { issuer: 'switchboard' });
    for (const bad of [undefined, '', 'garbage', forged, expired, unknownSession]) {
      await expect(connect(url, bad)).rejects.toThrow('unauthorized');
    }

    const live = await connect(cluster.replicas[1].url, token);
    const out = await api(url, '/api/logout', token, { method: 'POST' });
    expect(out.body).toEqual({ ok: true });
    // Logout on replica 1 disconnects the session's socket on replica 2 and refuses the token everywhere.
    await waitFor('revoked socket disconnected', () => !live.connected);
    await expect(connect(url, token)).rejects.toThrow('unauthorized');
    await expect(connect(cluster.replicas[1].url, token)).rejects.toThrow('unauthorized');
    expect((await api(url, '/api/presence', token)).status).toBe(401);
  });
});
