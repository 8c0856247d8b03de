import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, MainRequests, ServerToClientEvents, SocketData } from '@switchboard/protocol';
import type { EventRoute } from './router';

/** The Socket.IO server and sockets of the main namespace, typed by the protocol's event maps. */
export type MainServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type MainSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

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
