// MongoDB killed. message:send acks UNAVAILABLE; the page keeps the
// message in its outbox, shows it pending, and resends it with the same
// clientMsgId when MongoDB is back: nothing lost, nothing doubled.
import { check, formatReport, parseTag, Producer } from '@switchboard/loss-checker';
import type { AckOf, ChatMessage, MainRequests } from '@switchboard/protocol';
import { expect, note, test } from '../fixtures';
import { chaos, cidsByReplica, runningReplicas, waitFor } from '../stack';

type Ack = AckOf<MainRequests, 'message:send'>;

test('MongoDB down: pending outbox, resent with the same clientMsgId, stored once', async ({ openUser, uid }) => {
  const cids = await cidsByReplica(await runningReplicas(), `s8-${uid}`);
  const [ra, rb] = [...cids.keys()];
  const room = `s8-${uid}`;
  const a = await openUser(`alice-${uid}`, cids.get(ra)!.cid);
  const b = await openUser(`bob-${uid}`, cids.get(rb)!.cid);
  await a.joinRoom(room);
  await b.joinRoom(room);
  const p = new Producer(`a${uid}`);
  for (let i = 0; i < 3; i++) await a.send(`m ${p.next('before')}`);
  await expect.poll(async () => (await b.tags(room, p.producerId)).length).toBe(3);

  const rawSend = (clientMsgId: string) => a.page.evaluate(async ([r, id]) => {
    const s = (window as unknown as { switchboard: { socket: { timeout(ms: number): { emitWithAck(ev: string, p: unknown): Promise<unknown> } } } }).switchboard.socket;
    return s.timeout(20_000).emitWithAck('message:send', { room: r, text: `raw ${id}`, clientMsgId: id });
  }, [room, clientMsgId] as const) as Promise<Ack>;
  const rawId = `raw-${uid}`;

  let mongoDown = false;
  try {
    await chaos.kill('mongo');
    mongoDown = true;
    // The protocol: an explicit UNAVAILABLE ack (within MONGO_TIMEOUT_MS).
    const ack = await rawSend(rawId);
    expect(ack).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    // The page: messages typed now stay pending in the outbox.
    for (let i = 0; i < 4; i++) await a.send(`m ${p.next('during')}`);
    await expect(a.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="pending-message"][data-state="pending"]`)).toHaveCount(4);
    await expect(a.page.getByTestId('error')).toHaveAttribute('data-code', 'UNAVAILABLE', { timeout: 30_000 });
    await waitFor('a resend', async () => (await a.stats()).resends >= 1, 30_000);
    const pendingIds = await a.page.locator(`[data-testid="pending-message"]`).evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.clientMsgId));
    await chaos.start('mongo');
    mongoDown = false;
    // Resent with the same clientMsgId once MongoDB answers again.
    await expect(a.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="pending-message"]`)).toHaveCount(0, { timeout: 60_000 });
    const confirmedIds = await a.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="message"][data-user-id="${a.userId}"]`)
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.clientMsgId));
    for (const id of pendingIds) expect(confirmedIds).toContain(id);
  } finally {
    if (mongoDown) await chaos.start('mongo');
  }
  for (let i = 0; i < 2; i++) await a.send(`m ${p.next('after')}`);

  // The raw message: first resend stores it, the second is recognised as a duplicate.
  const first = await rawSend(rawId);
  if (!first.ok) throw new Error(`the resend after MongoDB came back failed: ${first.error.code}`);
  const again = await rawSend(rawId);
  expect(again).toMatchObject({ ok: true, duplicate: true, message: { id: first.message.id } });

  await expect.poll(async () => (await b.tags(room, p.producerId)).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(p.log.length);
  await a.page.waitForTimeout(1500);
  // Stored once each: the history over HTTP (through nginx) has every tag exactly once.
  const stored = await a.page.evaluate(async (r) => {
    const token = (window as unknown as { switchboard: { session: { token: string } } }).switchboard.session.token;
    const res = await fetch(`/api/rooms/${r}/messages?limit=100`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { messages: ChatMessage[] }).messages.map((m) => m.text).reverse();
  }, room);
  const report = check({
    sent: p.log,
    received: {
      alice: await a.tags(room, p.producerId),
      bob: await b.tags(room, p.producerId),
      history: stored.map(parseTag).filter((t) => t !== null),
    },
  });
  note('loss report', formatReport(report));
  expect({ lost: report.totals.lost, duplicated: report.totals.duplicated }, formatReport(report)).toEqual({ lost: 0, duplicated: 0 });
  expect(stored.filter((t) => t === `raw ${rawId}`)).toHaveLength(1);
  expect((await a.stats()).resends).toBeGreaterThanOrEqual(1);
});
