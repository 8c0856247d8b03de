import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, MainRequests, ServerToClientEvents, SocketData } from '@switchboard/protocol';
import type { MembershipChange } from '../rooms/access';
import type { EventRoute } from './router';

/** What replicas tell each other through the adapter (serverSideEmit), not clients. */
export interface ServerSideEvents {
  /** A durable membership began or ended (rooms/membership-events.ts). */
  membership: (change: MembershipChange) => void;
  /** Rooms that had new messages on the sending replica (conversations/index.ts). */
  'conversations:touched': (rooms: string[]) => void;
}

/** The Socket.IO server and sockets of the main namespace, typed by the protocol's event maps. */
export type MainServer = Server<ClientToServerEvents, ServerToClientEvents, ServerSideEvents, SocketData>;
export type MainSocket = Socket<ClientToServerEvents, ServerToClientEvents, ServerSideEvents, SocketData>;

/**
 * What a capability adds to every main-namespace connection: the routes of its
 * events (their rate-limit classes included) and what it does when a socket
 * connects and disconnects.
 */
export interface SocketCapability<E extends keyof MainRequests = never> {
  routes?: { [Event in E]: EventRoute<MainRequests[Event], MainSocket> };
  onConnect?(socket: MainSocket): void;
  /** Capabilities disconnect in the reverse order of connecting, one after the other. */
  onDisconnect?(socket: MainSocket): Promise<void>;
}
