import type { Server as HttpServer } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { Server, type Socket } from 'socket.io';
import type { AuthService, TokenClaims } from '../auth';
import type { ChatMessage, ChatService } from '../chat';
import type { Config } from '../config';
import { AppError } from '../infra/errors';
import type { Logger } from '../infra/logger';
import type { Metrics } from '../infra/metrics';
import type { RedisConnections } from '../infra/redis';
import type { PresenceService } from '../presence';
import { notifySyncAfterRedisGaps } from './sync-notifier';
import { PresenceSubscriptions, type PresenceSubscription } from '../presence/subscriptions';
import { regionOf, regionRoom } from '../regions';
import type { RateLimiter } from '../ratelimit';
import type { RoomsService } from '../rooms';
import type { EventBus } from '../events';
import type { SocketSessions } from '../sessions';
import type { UsersService } from '../users';
import type { Reminders } from '../jobs/reminders';
import { tokenAuth } from './auth-middleware';
import { attachRoutes, type EventRoute } from './router';
import { schemas } from './schemas';

export interface GatewayDeps {
  config: Config;
  instance: string;
  redis: RedisConnections;
  auth: AuthService;
  presence: PresenceService;
  rooms: RoomsService;
  regions: RoomsService;
  sessions: SocketSessions;
  users: UsersService;
  events: EventBus;
  chat: ChatService;
  reminders: Reminders;
  limiter: RateLimiter;
  log: Logger;
  metrics: Metrics;
}

interface SocketData {
  user: TokenClaims;
  /** The last message:send of this socket still waiting to be broadcast. */
  sendChain?: Promise<unknown>;
}

/** Socket.IO rooms every connection joins, so a user or a session can be addressed on any replica. */
export const userRoom = (userId: string) => `user:${userId}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;
/** Chat rooms get their own prefix so a client cannot join `user:bob` or `session:x` by name. */
export const chatRoom = (room: string) => `room:${room}`;

/**
 * The adapter named by REDIS_ADAPTER (default: sharded on a cluster, classic
 * otherwise); every variant keeps its keys and channels under the prefix. On a
 * cluster, sharded pub/sub sends each room's messages to the one shard that
 * owns its channel instead of broadcasting every message over the cluster bus.
 */
function chooseAdapter(config: Config, redis: RedisConnections) {
  const prefix = `${config.REDIS_KEY_PREFIX}socket.io`;
  const onCluster = config.REDIS_MODE === 'cluster';
  switch (config.REDIS_ADAPTER) {
    case 'sharded':
      // "dynamic": one channel per public room, so rooms spread over the shards.
      return createShardedAdapter(redis.pub, redis.sub, { channelPrefix: prefix, subscriptionMode: 'dynamic' });
    case 'streams':
      // One stream key (one slot); its request/response channels use sharded pub/sub on a cluster.
      return createStreamsAdapter(redis.createStreamsClient(), { streamName: prefix, channelPrefix: prefix, useShardedPubSub: onCluster });
    default:
      return createAdapter(redis.pub, redis.sub, { key: prefix });
  }
}

/**
 * The Socket.IO server: Redis adapter for cross-replica broadcast, token check
 * at the handshake, and the event table of the protocol.
 */
export function createGateway(httpServer: HttpServer, deps: GatewayDeps): Server {
  const { config, instance, redis, auth, presence, rooms, regions, sessions, users, events, chat, reminders, limiter, log, metrics } = deps;
  const io = new Server(httpServer, {
    pingInterval: config.PING_INTERVAL_MS,
    pingTimeout: config.PING_TIMEOUT_MS,
    maxHttpBufferSize: 64 * 1024,
    cors: config.CORS_ORIGIN ? { origin: config.CORS_ORIGIN.split(',') } : undefined,
    adapter: chooseAdapter(config, redis),
  });

  // Long-polling responses say which replica answered, like every HTTP route.
  io.engine.on('initial_headers', (headers: Record<string, string>) => (headers['X-Served-By'] = instance));
  io.engine.on('headers', (headers: Record<string, string>) => (headers['X-Served-By'] = instance));

  io.use(tokenAuth(auth));

  // Broadcasts made while Redis was away reached only local clients; once it is
  // back, tell ours to run history:sync for their rooms (persisted, then synced).
  notifySyncAfterRedisGaps(io, redis);

  // presence:update goes to the sockets subscribed to that user or to everyone, not to all sockets.
  const presenceSubscriptions = new PresenceSubscriptions(presence);
  presence.onUpdate((update) => {
    metrics.broadcasts.inc({ event: 'presence:update' });
    presenceSubscriptions.broadcast(io, update);
    events.publish('presence', update);
    // Exactly one replica announces a user offline (the one that saw the last
    // device go, or the sweeper): it records lastSeen durably.
    if (!update.online) users.markSeen(update.userId, update.ts);
  });

  const roomEvent = (type: 'join' | 'leave', room: string, userId: string) => {
    const event = { type, room, userId };
    metrics.broadcasts.inc({ event: 'room:event' });
    io.to(chatRoom(room)).emit('room:event', event);
    events.publish('room', { ...event, ts: Date.now() });
  };

  const userOf = (socket: Socket) => (socket.data as SocketData).user;

  const broadcastMessage = (message: ChatMessage) => {
    metrics.broadcasts.inc({ event: 'message:new' });
    io.to(chatRoom(message.room)).emit('message:new', message);
    void reminders.onMessage(message);
  };
  // A write that outran its deadline and was stored after all: its sender heard UNAVAILABLE, the room hears it now.
  chat.onLateMessage(broadcastMessage);

  const routes: Record<string, EventRoute> = {
    'room:join': {
      schema: schemas.roomJoin,
      limit: 'joins',
      async handle(socket, { room }: { room: string }) {
        const user = userOf(socket);
        await socket.join(chatRoom(room));
        const members = await rooms.join(socket.id, user.userId, room);
        roomEvent('join', room, user.userId);
        return { room, members };
      },
    },
    'room:leave': {
      schema: schemas.roomLeave,
      async handle(socket, { room }: { room: string }) {
        const user = userOf(socket);
        await socket.leave(chatRoom(room));
        if (await rooms.leave(socket.id, room)) roomEvent('leave', room, user.userId);
      },
    },
    'message:send': {
      schema: schemas.messageSend(config.MESSAGE_MAX_CHARS),
      limit: 'messages',
      authorize(socket, { room }: { room: string }) {
        if (!rooms.isMember(socket.id, room)) throw new AppError('FORBIDDEN', `join ${room} before sending to it`);
      },
      async handle(socket, { room, text, clientMsgId }: { room: string; text: string; clientMsgId: string }) {
        // One socket's sends are stored and broadcast in the order it sent them.
        // Storing starts at once: the writer stores first in, first out, so a
        // socket's messages keep their order without waiting for each other.
        // Only the broadcasts wait for this socket's earlier sends, so a fast
        // sender is limited by the database's throughput, not by its latency.
        const data = socket.data as SocketData;
        const storing = chat.send(userOf(socket).userId, room, text, clientMsgId);
        storing.catch(() => undefined); // answered below, in turn: not an unhandled rejection meanwhile
        const turn = (data.sendChain ?? Promise.resolve()).then(() => storing);
        data.sendChain = turn.catch(() => undefined);
        const { message, duplicate } = await turn;
        // Persisted first; a retry of a stored message is not broadcast again
        // (clients that missed the first broadcast get it from history:sync).
        if (!duplicate) broadcastMessage(message);
        return { message, duplicate };
      },
    },
    'history:sync': {
      schema: schemas.historySync,
      async handle(_socket, { room, after }: { room: string; after?: string }) {
        return await chat.since(room, after, config.HISTORY_SYNC_MAX);
      },
    },
    'presence:set': {
      schema: schemas.presenceSet,
      async handle(socket, { status }: { status: 'online' | 'away' | 'busy' }) {
        const { userId } = userOf(socket);
        await presence.setStatus(userId, status);
        events.publish('userStatus', { userId, status, ts: Date.now() });
      },
    },
    'presence:subscribe': {
      schema: schemas.presenceSubscription,
      // Joins rooms like room:join, and reads up to PRESENCE_SUBSCRIBE_MAX_IDS users: charged the same.
      limit: 'joins',
      async handle(socket, subscription: PresenceSubscription) {
        return { ...(await presenceSubscriptions.subscribe(socket, subscription)) };
      },
    },
    'presence:unsubscribe': {
      schema: schemas.presenceSubscription,
      async handle(socket, subscription: PresenceSubscription) {
        await presenceSubscriptions.unsubscribe(socket, subscription);
      },
    },
    'presence:heartbeat': {
      async handle(socket) {
        await presence.heartbeat(socket.id);
      },
    },
    typing: {
      schema: schemas.typing,
      async handle(socket, { room, typing }: { room: string; typing: boolean }) {
        if (!rooms.isMember(socket.id, room)) throw new AppError('FORBIDDEN', `join ${room} first`);
        socket.to(chatRoom(room)).emit('typing', { room, userId: userOf(socket).userId, typing });
      },
    },
    'region:update': {
      schema: schemas.regionUpdate,
      async handle(socket, { lat, lng }: { lat: number; lng: number }) {
        const region = regionOf(lat, lng, config.REGION_PRECISION);
        const previous = await sessions.setLocation(socket.id, region, lat, lng);
        if (previous && previous !== region) {
          await socket.leave(regionRoom(previous));
          await regions.leave(socket.id, previous);
        }
        if (previous !== region) {
          await socket.join(regionRoom(region));
          await regions.join(socket.id, userOf(socket).userId, region);
        }
        return { region };
      },
    },
  };

  io.on('connection', (socket) => {
    const user = userOf(socket);
    metrics.connections.inc();
    void socket.join([userRoom(user.userId), sessionRoom(user.sessionId)]);
    attachRoutes(socket, routes, { log, metrics, limiter, subjectOf: (s) => `user:${userOf(s).userId}` });
    void presence.connect(socket.id, user.userId);
    void sessions.open(socket.id, user.userId, socket.handshake.headers['user-agent']);
    socket.onAny(() => sessions.touch(socket.id));
    socket.onAnyOutgoing((event: string) => metrics.eventsOut.inc({ event }));
    reminders.deliverStoredOnConnect(user.userId);

    socket.on('disconnect', () => {
      metrics.connections.dec();
      void (async () => {
        const left = await rooms.leaveAll(socket.id);
        for (const room of left) roomEvent('leave', room, user.userId);
        await regions.leaveAll(socket.id);
        await sessions.close(socket.id);
        await presence.disconnect(socket.id);
      })().catch((err) => log.warn({ err: (err as Error).message }, 'disconnect cleanup failed'));
    });
  });

  return io;
}
