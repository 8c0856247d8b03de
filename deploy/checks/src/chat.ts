// A Socket.IO client session through nginx: login, connect, join, exchange.
import assert from 'node:assert/strict';
import type { ChatMessage, ClientToServerEvents, ServerToClientEvents } from '@switchboard/protocol';
import { io, type Socket } from 'socket.io-client';
import path from 'node:path';
import { exec, request } from './docker';
import { ROOT } from './sources';

/** A socket typed by the protocol's event maps: payloads and acks are checked at compile time. */
export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface Client {
  socket: ChatSocket;
  userId: string;
}

export async function login(base: string, userId: string, ca?: string): Promise<string> {
  const r = await request(`${base}/api/login?cid=${encodeURIComponent(userId)}`, { body: { userId }, ca });
  assert.equal(r.status, 200, `login ${userId}: HTTP ${r.status} ${r.text}`);
  return r.json<{ token: string }>().token;
}

/**
 * A token from the stand-in identity provider: deploy/production/sign-token.sh with the key pair
 * `make certs` made (SB_SECRETS_DIR, AUTH_ISSUER and AUTH_AUDIENCE from `env`), as the production
 * templates verify it. Roles comma-separated.
 */
export async function signedToken(userId: string, env: NodeJS.ProcessEnv, roles = ''): Promise<string> {
  const r = await exec(path.join(ROOT, 'deploy/production/sign-token.sh'), [userId, roles], { env });
  assert.equal(r.code, 0, `sign-token.sh ${userId}: ${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** A connected client: with `token`, or one from the demo login (dev stacks only). */
export async function connect(base: string, userId: string, cid: string, ca?: string, token?: string): Promise<Client> {
  token ??= await login(base, userId, ca);
  const socket: ChatSocket = io(base, { auth: { token }, query: { cid }, transports: ['websocket'], reconnection: false, ca });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(new Error(`${userId} (cid ${cid}) could not connect to ${base}: ${err.message}`)));
  });
  return { socket, userId };
}

export async function join(c: Client, room: string): Promise<void> {
  const ack = await c.socket.timeout(10_000).emitWithAck('room:join', { room });
  assert.equal(ack.ok, true, `room:join: ${JSON.stringify(ack)}`);
}


/** `from` sends; `to` must receive it exactly once. Returns the delivered message. */
export async function exchange(from: Client, to: Client, room: string, text: string): Promise<ChatMessage> {
  const clientMsgId = `chk-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const got: ChatMessage[] = [];
  const on = (m: ChatMessage) => {
    if (m.clientMsgId === clientMsgId) got.push(m);
  };
  to.socket.on('message:new', on);
  try {
    const ack = (await from.socket.timeout(10_000).emitWithAck('message:send', { room, text, clientMsgId })) as { ok: boolean; message?: ChatMessage };
    assert.equal(ack.ok, true, `message:send: ${JSON.stringify(ack)}`);
    const deadline = Date.now() + 10_000;
    while (!got.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(got.length, 1, `${to.userId} received the message ${got.length} times`);
    assert.equal(got[0].text, text);
    return got[0];
  } finally {
    to.socket.off('message:new', on);
  }
}

/** Two client ids that nginx hashes onto different replicas (by X-Served-By). */
export async function cidsOnTwoReplicas(base: string, ca?: string, prefix = 'chk'): Promise<[string, string, string, string]> {
  const served = async (cid: string) => String((await request(`${base}/health?cid=${cid}`, { ca })).headers['x-served-by'] ?? '');
  const a = `${prefix}-0`;
  const ra = await served(a);
  for (let i = 1; i < 200; i++) {
    const b = `${prefix}-${i}`;
    const rb = await served(b);
    if (rb && rb !== ra) return [a, ra, b, rb];
  }
  throw new Error(`every client id reached ${ra}: is the upstream rendered (one line per replica)?`);
}

/**
 * Waits until nginx routes consistently after a reload: `nginx -s reload`
 * returns before the new workers take over, and an old worker still answers
 * with the old upstream for a moment. Three rounds over the same client ids
 * must map identically and reach at least `replicas` replicas.
 */
export async function routingSettled(base: string, ca: string | undefined, replicas: number, timeoutMs = 30_000): Promise<void> {
  const served = async (cid: string) => String((await request(`${base}/health?cid=${cid}`, { ca })).headers['x-served-by'] ?? '');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let same = 0;
  while (Date.now() < deadline) {
    const map: string[] = [];
    for (let i = 0; i < 12; i++) map.push(await served(`settle-${i}`));
    const now = map.join(',');
    same = now === last && new Set(map).size >= replicas ? same + 1 : 0;
    if (same >= 2) return;
    last = now;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`nginx did not settle on ${replicas} replicas within ${timeoutMs / 1000} s (last mapping: ${last})`);
}
