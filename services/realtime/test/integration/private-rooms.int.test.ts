import type { Socket } from 'socket.io-client';
import { FAST_PRESENCE, api, collect, emitAck, openClient, sendOk, startCluster, type Cluster } from '../support/cluster';
import { sleep, waitFor } from '../support/processes';

/**
 * Who may read, join and send where: history for members only, private rooms,
 * direct conversations, and memberships that outlast sockets. Three replicas
 * on one Redis (the run's topology) and one FerretDB.
 */
describe('private reads, private rooms and direct conversations', () => {
  let cluster: Cluster;
  const sockets: Socket[] = [];
  const open = (replica: number, userId: string) => openClient(cluster, replica, userId, sockets);
  type Client = Awaited<ReturnType<typeof open>>;
  const send = (c: Client, room: string, text: string) => sendOk(c, room, text);
  const history = (c: Client, room: string, url = c.url) => api(url, `/api/rooms/${encodeURIComponent(room)}/messages`, c.token);
  const forbidden = { ok: false, error: { code: 'FORBIDDEN' } };

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, env: { ...FAST_PRESENCE, RATE_LIMIT_JOINS: '1000/60s' } });
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it("serves a room's history to its members only, over HTTP and history:sync, on every replica", async () => {
    const alice = await open(0, 'hole-alice');
    const eve = await open(1, 'hole-eve');
    expect(await emitAck(alice.socket, 'room:join', { room: 'hole' })).toMatchObject({ ok: true, kind: 'room', private: false });
    const m = await send(alice, 'hole', 'not for eve');

    // Eve never joined: every replica refuses her the history (this was readable by anyone logged in).
    for (const r of cluster.replicas) expect(await history(eve, 'hole', r.url)).toMatchObject({ status: 403, body: forbidden });
    expect(await emitAck(eve.socket, 'history:sync', { room: 'hole' })).toMatchObject(forbidden);
    expect(await emitAck(eve.socket, 'history:sync', { room: 'hole', after: m.id })).toMatchObject(forbidden);

    // Joining a public room makes her a member: she may read it, on any replica, also without a socket in it.
    expect(await emitAck(eve.socket, 'room:join', { room: 'hole' })).toMatchObject({ ok: true });
    for (const r of cluster.replicas) expect((await history(eve, 'hole', r.url)).body.messages.map((x: { id: string }) => x.id)).toEqual([m.id]);
    const other = await open(2, 'hole-eve');
    expect(await emitAck(other.socket, 'history:sync', { room: 'hole' })).toMatchObject({ ok: true, messages: [{ id: m.id }] });

    // Leaving ends the membership: no more history, from any device.
    expect(await emitAck(eve.socket, 'room:leave', { room: 'hole' })).toMatchObject({ ok: true });
    expect(await history(eve, 'hole', cluster.replicas[2].url)).toMatchObject({ status: 403 });
    expect(await emitAck(other.socket, 'history:sync', { room: 'hole' })).toMatchObject(forbidden);
  });

  it('admits only the members of a private room to join, read and send', async () => {
    const owner = await open(0, 'priv-owner');
    const member = await open(1, 'priv-member');
    const outsider = await open(2, 'priv-outsider');
    expect(await emitAck(owner.socket, 'room:create', { room: 'secret', private: true, members: ['priv-member', 'priv-member'] })).toEqual({
      ok: true,
      room: 'secret',
      private: true,
      members: ['priv-owner', 'priv-member'],
    });
    expect(await emitAck(owner.socket, 'room:join', { room: 'secret' })).toMatchObject({ ok: true, kind: 'room', private: true });
    expect(await emitAck(member.socket, 'room:join', { room: 'secret' })).toMatchObject({ ok: true, private: true });
    const got = collect(member.socket, 'message:new');
    const m = await send(owner, 'secret', 'members only');
    await waitFor('the member hears it', () => got.some((x) => x.id === m.id));
    expect((await history(member, 'secret')).body.messages).toHaveLength(1);

    expect(await emitAck(outsider.socket, 'room:join', { room: 'secret' })).toMatchObject(forbidden);
    expect(await emitAck(outsider.socket, 'message:send', { room: 'secret', text: 'let me in', clientMsgId: 'x-1' })).toMatchObject(forbidden);
    expect(await emitAck(outsider.socket, 'history:sync', { room: 'secret' })).toMatchObject(forbidden);
    expect(await emitAck(outsider.socket, 'typing', { room: 'secret', typing: true })).toMatchObject(forbidden);
    expect(await history(outsider, 'secret')).toMatchObject({ status: 403, body: forbidden });
    expect(await api(outsider.url, '/api/rooms/secret/members', outsider.token)).toMatchObject({ status: 403 });
    expect((await api(member.url, '/api/rooms/secret/members', member.token)).body.members.sort()).toEqual(['priv-member', 'priv-owner']);

    // Leaving a private room is for good: no way back in without being made a member again.
    expect(await emitAck(member.socket, 'room:leave', { room: 'secret' })).toMatchObject({ ok: true });
    expect(await emitAck(member.socket, 'room:join', { room: 'secret' })).toMatchObject(forbidden);
    expect(await history(member, 'secret')).toMatchObject({ status: 403 });
  });

  it('refuses a name that is taken, a dm: name, and bad members', async () => {
    const a = await open(0, 'taker');
    await emitAck(a.socket, 'room:join', { room: 'taken-public' });
    expect(await emitAck(a.socket, 'room:create', { room: 'taken-public', private: true, members: [] })).toMatchObject(forbidden);
    expect(await emitAck(a.socket, 'room:create', { room: 'taken-private', private: true })).toMatchObject({ ok: true, members: ['taker'] });
    expect(await emitAck(a.socket, 'room:create', { room: 'taken-private' })).toMatchObject(forbidden);
    // A public room joined first cannot become private; a private one is not made public by a join.
    const b = await open(1, 'joiner');
    expect(await emitAck(b.socket, 'room:join', { room: 'taken-private' })).toMatchObject(forbidden);
    const validation = { ok: false, error: { code: 'VALIDATION' } };
    expect(await emitAck(a.socket, 'room:create', { room: 'dm:mine', private: true })).toMatchObject(validation);
    expect(await emitAck(a.socket, 'room:create', { room: 'public-with-members', members: ['joiner'] })).toMatchObject(validation);
    expect(await emitAck(a.socket, 'room:create', { room: 'too-many', private: true, members: Array.from({ length: 100 }, (_, i) => `u${i}`) })).toMatchObject(validation);
    expect(await emitAck(a.socket, 'room:create', { room: 'bad-member', private: true, members: ['no spaces'] })).toMatchObject(validation);
    // A dm: room nobody opened cannot be claimed by joining it.
    expect(await emitAck(a.socket, 'room:join', { room: 'dm:squatted' })).toMatchObject(forbidden);
  });

  it('gives a pair one direct conversation whichever opens it, closed to everyone else', async () => {
    const ann = await open(0, 'dm-ann');
    const ben = await open(1, 'dm-ben');
    const eve = await open(2, 'dm-eve');
    const opened = await emitAck(ann.socket, 'dm:open', { userId: 'dm-ben' });
    expect(opened).toMatchObject({ ok: true, with: 'dm-ben' });
    const room = opened.room as string;
    expect(room).toMatch(/^dm:[A-Za-z0-9_-]{43}$/);
    expect(await emitAck(ben.socket, 'dm:open', { userId: 'dm-ann' })).toEqual({ ok: true, room, with: 'dm-ann' });
    expect(await emitAck(ann.socket, 'dm:open', { userId: 'dm-ben' })).toEqual({ ok: true, room, with: 'dm-ben' });
    expect(await emitAck(eve.socket, 'dm:open', { userId: 'dm-ann' })).not.toMatchObject({ room });

    expect(await emitAck(ann.socket, 'room:join', { room })).toMatchObject({ ok: true, kind: 'dm', private: true });
    expect(await emitAck(ben.socket, 'room:join', { room })).toMatchObject({ ok: true, kind: 'dm' });
    const got = collect(ben.socket, 'message:new');
    const m = await send(ann, room, 'just us');
    await waitFor('ben hears it', () => got.some((x) => x.id === m.id));
    expect((await history(ben, room)).body.messages.map((x: { id: string }) => x.id)).toEqual([m.id]);

    expect(await emitAck(eve.socket, 'room:join', { room })).toMatchObject(forbidden);
    expect(await emitAck(eve.socket, 'message:send', { room, text: 'hi', clientMsgId: 'e-1' })).toMatchObject(forbidden);
    expect(await emitAck(eve.socket, 'history:sync', { room })).toMatchObject(forbidden);
    expect(await history(eve, room)).toMatchObject({ status: 403 });
    expect(await emitAck(eve.socket, 'message:read', { room, upTo: m.id })).toMatchObject(forbidden);
    expect(await emitAck(ann.socket, 'dm:open', { userId: 'dm-ann' })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });

    // Leaving a direct conversation only leaves it here: it stays theirs.
    expect(await emitAck(ben.socket, 'room:leave', { room })).toMatchObject({ ok: true });
    expect(await history(ben, room)).toMatchObject({ status: 200 });
    expect(await emitAck(ben.socket, 'room:join', { room })).toMatchObject({ ok: true });
  });

  it('remembers memberships across reconnects and devices until room:leave, which every device follows', async () => {
    const first = await open(0, 'keeper');
    for (const room of ['kept-a', 'kept-b']) expect(await emitAck(first.socket, 'room:join', { room })).toMatchObject({ ok: true });
    first.socket.close();

    // Another device on another replica: the conversations come back from the server.
    const phone = await open(1, 'keeper');
    const listed = await emitAck(phone.socket, 'conversations:list', {});
    expect(listed.conversations.map((c: { room: string }) => c.room).sort()).toEqual(['kept-a', 'kept-b']);
    const http = await api(cluster.replicas[2].url, '/api/conversations', phone.token);
    expect(http.body.conversations.map((c: { room: string }) => c.room).sort()).toEqual(['kept-a', 'kept-b']);

    // Two devices in kept-a; leaving on one takes the other out of it too, and out of the list.
    const laptop = await open(2, 'keeper');
    for (const s of [phone, laptop]) await emitAck(s.socket, 'room:join', { room: 'kept-a' });
    const removed = collect(phone.socket, 'conversation:removed');
    const sender = await open(0, 'kept-sender');
    await emitAck(sender.socket, 'room:join', { room: 'kept-a' });
    expect(await emitAck(laptop.socket, 'room:leave', { room: 'kept-a' })).toMatchObject({ ok: true });
    await waitFor('the phone hears the conversation went', () => removed.some((r) => r.room === 'kept-a'));
    const phoneGot = collect(phone.socket, 'message:new');
    await sleep(300); // the phone's socket-level leave comes through the adapter
    await send(sender, 'kept-a', 'after the leave');
    await sleep(500);
    expect(phoneGot).toEqual([]);
    expect(await emitAck(phone.socket, 'message:send', { room: 'kept-a', text: 'x', clientMsgId: 'k-x' })).toMatchObject(forbidden);
    expect((await emitAck(phone.socket, 'conversations:list', {})).conversations.map((c: { room: string }) => c.room)).toEqual(['kept-b']);
  });
});
