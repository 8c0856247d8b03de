import type { Socket } from 'socket.io-client';
import { collect, connect, emitAck, login, type Replica } from './cluster';

/**
 * The people of the /dispatch tests: each logs in as a new user and opens a /dispatch socket on
 * the replica given; every socket lands in `sockets`, for the suite's afterAll to close.
 */
export function dispatchUsers(sockets: Socket[]) {
  let seq = 0;

  async function user(replica: Replica, prefix: string): Promise<{ userId: string; token: string; socket: Socket }> {
    const userId = `${prefix}-${++seq}-${Date.now().toString(36)}`;
    const { token } = await login(replica.url, userId);
    const socket = await connect(`${replica.url}/dispatch`, token);
    sockets.push(socket);
    return { userId, token, socket };
  }

  /** Online at `at`, available, with every offer and revocation it hears. */
  async function provider(replica: Replica, at: { lat: number; lng: number }) {
    const p = await user(replica, 'prov');
    const offers = collect(p.socket, 'offer:new');
    const revoked = collect(p.socket, 'offer:revoked');
    const ack = await emitAck(p.socket, 'provider:online', at);
    expect(ack).toMatchObject({ ok: true, provider: { userId: p.userId, status: 'available' } });
    return { ...p, offers, revoked };
  }

  /** With every order:update it hears. */
  async function customer(replica: Replica) {
    const c = await user(replica, 'cust');
    return { ...c, updates: collect(c.socket, 'order:update') };
  }

  return { user, provider, customer };
}
