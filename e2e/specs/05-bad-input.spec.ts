// Bad input from a page script (the page's own socket): malformed
// payloads, wrong types, oversized text, unknown events, 1,000 events in a
// second. Every one gets an error ack or is rate limited; the page and every
// replica stay healthy, and nothing is stored.
import type { AckResponse, ChatMessage } from '@switchboard/protocol';
import { expect, note, test } from '../fixtures';
import { cidsByReplica, health, runningReplicas } from '../stack';

/** An ack as the protocol shapes it, or the page's note that none came. */
type Ack = AckResponse | { timeout: true };

test('bad input: error acks and flood limiting, nothing stored, everyone healthy', async ({ openUser, uid }) => {
  const replicas = await runningReplicas();
  const cids = await cidsByReplica(replicas, `s5-${uid}`);
  const [ra, rb] = [...cids.keys()];
  const room = `s5-${uid}`;
  const mark = `bad${uid}`;
  const a = await openUser(`mallory-${uid}`, cids.get(ra)!.cid);
  const b = await openUser(`bob-${uid}`, cids.get(rb)!.cid);
  await a.joinRoom(room);
  await b.joinRoom(room);

  const cases: [string, string, unknown, string][] = [
    ['null payload', 'message:send', null, 'VALIDATION'],
    ['string payload', 'message:send', 'hello', 'VALIDATION'],
    ['number payload', 'message:send', 42, 'VALIDATION'],
    ['array payload', 'message:send', [room, mark], 'VALIDATION'],
    ['text of the wrong type', 'message:send', { room, text: 12345, clientMsgId: `${mark}-1` }, 'VALIDATION'],
    ['missing clientMsgId', 'message:send', { room, text: `${mark} no id` }, 'VALIDATION'],
    ['unknown field', 'message:send', { room, text: `${mark} extra`, clientMsgId: `${mark}-2`, admin: true }, 'VALIDATION'],
    ['whitespace only', 'message:send', { room, text: '   \n\t ', clientMsgId: `${mark}-3` }, 'VALIDATION'],
    ['oversized text (4,001 chars)', 'message:send', { room, text: `${mark} ${'x'.repeat(4001)}`, clientMsgId: `${mark}-4` }, 'VALIDATION'],
    ['clientMsgId too long', 'message:send', { room, text: `${mark} long id`, clientMsgId: 'c'.repeat(65) }, 'VALIDATION'],
    ['bad room name', 'message:send', { room: 'no spaces allowed!', text: `${mark} room`, clientMsgId: `${mark}-5` }, 'VALIDATION'],
    ['room not joined', 'message:send', { room: `${room}-other`, text: `${mark} other`, clientMsgId: `${mark}-6` }, 'FORBIDDEN'],
    ['join: wrong type', 'room:join', { room: 7 }, 'VALIDATION'],
    ['join: name too long', 'room:join', { room: 'r'.repeat(65) }, 'VALIDATION'],
    ['sync: after not an id', 'history:sync', { room, after: 'not-hex' }, 'VALIDATION'],
    ['presence: unknown status', 'presence:set', { status: 'sleeping' }, 'VALIDATION'],
    ['region: out of range', 'region:update', { lat: 999, lng: 0 }, 'VALIDATION'],
    ['unknown event', 'no:such:event', { room }, 'NOT_FOUND'],
  ];
  const results = await a.page.evaluate(async (list) => {
    const s = (window as unknown as { switchboard: { socket: { timeout(ms: number): { emitWithAck(ev: string, p: unknown): Promise<unknown> }; emit(...args: unknown[]): void } } }).switchboard.socket;
    // Events without an ack: must be ignored (or answered nowhere) without harm.
    s.emit('typing', 'garbage');
    s.emit('typing', { room: 42, typing: 'yes' });
    s.emit('no:such:event:without:ack', { x: 1 });
    const out: unknown[] = [];
    for (const [, ev, payload] of list) {
      // The ack timeout is the only rejection: it becomes NO ACK below, which no case expects.
      out.push(await s.timeout(10_000).emitWithAck(ev, payload).catch(() => ({ timeout: true })));
    }
    return out;
  }, cases) as Ack[];
  const codes = results.map((r) => ('timeout' in r ? 'NO ACK' : r.ok ? 'OK' : r.error.code));
  expect(Object.fromEntries(cases.map(([name], i) => [name, codes[i]]))).toEqual(Object.fromEntries(cases.map(([name, , , code]) => [name, code])));

  await a.page.waitForTimeout(1100);
  // 1,000 events in well under a second (wrong types, so none could be stored anyway).
  const flood = await a.page.evaluate(async ([r, m]) => {
    const s = (window as unknown as { switchboard: { socket: { timeout(ms: number): { emitWithAck(ev: string, p: unknown): Promise<{ ok: boolean; error?: { code: string } }> } } } }).switchboard.socket;
    const started = performance.now();
    const acks = [];
    // The ack timeout is the only rejection: counted as NO ACK, which the expectations below reject.
    for (let i = 0; i < 1000; i++) acks.push(s.timeout(30_000).emitWithAck('message:send', { room: r, text: i, clientMsgId: `${m}-f${i}` }).catch(() => ({ ok: false, error: { code: 'NO ACK' } })));
    const emittedMs = performance.now() - started;
    const settled = await Promise.all(acks);
    const counts: Record<string, number> = {};
    for (const x of settled) { const c = x.ok ? 'OK' : x.error?.code ?? '?'; counts[c] = (counts[c] ?? 0) + 1; }
    return { emittedMs, counts };
  }, [room, mark] as const);
  note('flood', JSON.stringify(flood));
  expect(flood.emittedMs).toBeLessThan(1000);
  expect(flood.counts.OK ?? 0).toBe(0);
  expect(flood.counts['NO ACK'] ?? 0).toBe(0);
  expect(flood.counts.RATE_LIMITED, 'the per-socket flood limit (RATE_LIMIT_EVENTS, 100/1s) answered most of them').toBeGreaterThanOrEqual(800);
  expect((flood.counts.RATE_LIMITED ?? 0) + (flood.counts.VALIDATION ?? 0)).toBe(1000);

  // The page is still fine: same connection, and a normal message goes through to bob.
  await a.page.waitForTimeout(1100);
  const stats = await a.stats();
  expect(stats.disconnects, 'the flood did not cost the page its connection').toEqual([]);
  expect(stats.connects).toBe(1);
  const ok = `after the storm ${uid}`;
  await a.send(ok);
  await expect.poll(async () => (await b.texts(room)).filter((t) => t === ok).length).toBe(1);
  expect(a.consoleErrors.filter((e) => e.startsWith('pageerror'))).toEqual([]);

  // Nothing of the bad input is stored.
  const stored = await b.page.evaluate(async (r) => {
    const token = (window as unknown as { switchboard: { session: { token: string } } }).switchboard.session.token;
    const out: string[] = [];
    for (const rr of [r, `${r}-other`]) {
      const res = await fetch(`/api/rooms/${rr}/messages?limit=100`, { headers: { authorization: `Bearer ${token}` } });
      out.push(...((await res.json()) as { messages?: ChatMessage[] }).messages?.map((m) => `${m.clientMsgId} ${m.text}`) ?? []);
    }
    return out;
  }, room);
  expect(stored.filter((t) => t.includes(mark))).toEqual([]);
  expect(stored.filter((t) => t.includes(ok))).toHaveLength(1);

  // Every replica still answers ok.
  for (const [name, { cid }] of await cidsByReplica(replicas, `s5h-${uid}`)) {
    const h = await health(cid);
    expect([name, h.status, h.body.status]).toEqual([name, 200, 'ok']);
  }
});
