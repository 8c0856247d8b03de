// A browser forced to HTTP long-polling chats for 60 s through nginx:
// every poll of its Engine.IO session lands on one replica (sticky by ?cid=),
// so there is no "Session ID unknown" and no reconnect.
import { expect, note, test } from '../fixtures';
import { cidsByReplica, runningReplicas } from '../stack';

test('sticky long-polling for 60 s without a reconnect', async ({ openUser, uid }) => {
  test.setTimeout(4 * 60_000);
  const cids = await cidsByReplica(await runningReplicas(), `s2-${uid}`);
  const [rp, rw] = [...cids.keys()];
  const room = `s2-${uid}`;
  const poller = await openUser(`poller-${uid}`, cids.get(rp)!.cid, { polling: true });
  const other = await openUser(`ws-${uid}`, cids.get(rw)!.cid);
  // Engine.IO requests carry ?cid= too; record any that fail or answer 400 (unknown session).
  const badPolls: string[] = [];
  const servedBy = new Map<string, number>();
  poller.page.on('response', async (res) => {
    if (res.url().includes('/socket.io/')) {
      // A response whose page has moved on has no headers: counted as '?', which fails the one-replica check.
      const by = (await res.allHeaders().catch(() => ({} as Record<string, string>)))['x-served-by'] ?? '?';
      servedBy.set(by, (servedBy.get(by) ?? 0) + 1);
    }
    // The body is only detail (it may be gone already): the status and URL are the finding.
    if (res.url().includes('/socket.io/') && res.status() >= 400) badPolls.push(`${res.status()} ${res.url()} ${await res.text().catch(() => '')}`);
  });
  poller.page.on('requestfailed', (req) => { if (req.url().includes('/socket.io/') && !/ERR_ABORTED/.test(req.failure()?.errorText ?? '')) badPolls.push(`failed ${req.url()} ${req.failure()?.errorText}`); });
  await expect(poller.connectionState()).toHaveAttribute('data-transport', 'polling');
  expect(await poller.replica()).toBe(rp);
  await poller.joinRoom(room);
  await other.joinRoom(room);

  const sent: string[] = [];
  const started = Date.now();
  for (let i = 0; Date.now() - started < 62_000; i++) {
    const from = i % 2 === 0 ? poller : other;
    const text = `poll chat ${i} by ${from.userId}`;
    await from.send(text);
    sent.push(text);
    await poller.page.waitForTimeout(3000);
  }
  for (const u of [poller, other]) {
    await expect.poll(async () => (await u.texts(room)).filter((t) => sent.includes(t)).length).toBe(sent.length);
    const texts = await u.texts(room);
    for (const t of sent) expect(texts.filter((x) => x === t)).toHaveLength(1);
  }
  const stats = await poller.stats();
  expect(stats.connects, 'connected once, never reconnected').toBe(1);
  expect(stats.disconnects).toEqual([]);
  expect(stats.connectErrors).toEqual([]);
  expect(badPolls).toEqual([]);
  // Every Engine.IO request of the session was answered by the one replica.
  note('polling requests by replica', JSON.stringify(Object.fromEntries(servedBy)));
  expect([...servedBy.keys()]).toEqual([rp]);
  expect(servedBy.get(rp)).toBeGreaterThan(20);
  expect(poller.consoleErrors.filter((e) => /Session ID unknown/i.test(e))).toEqual([]);
  await expect(poller.connectionState()).toHaveAttribute('data-transport', 'polling');
  expect(await poller.page.evaluate(() => (window as unknown as { switchboard: { socket: { io: { engine: { transport: { name: string } } } } } }).switchboard.socket.io.engine.transport.name)).toBe('polling');
  expect(await poller.replica()).toBe(rp);
});
