// Two browsers on different replicas chat both ways through nginx;
// every message shows exactly once on each side, presence and typing cross replicas.
import { expect, test } from '../fixtures';
import { cidsByReplica, runningReplicas } from '../stack';

test('cross-replica delivery, presence and typing', async ({ openUser, uid }) => {
  const replicas = await runningReplicas();
  const cids = await cidsByReplica(replicas, `s1-${uid}`);
  const [ra, rb] = [...cids.keys()];
  expect(ra && rb, 'two replicas reachable by client id').toBeTruthy();
  const room = `s1-${uid}`;
  const a = await openUser(`alice-${uid}`, cids.get(ra)!.cid);
  const b = await openUser(`bob-${uid}`, cids.get(rb)!.cid);
  expect(await a.replica()).toBe(ra);
  expect(await b.replica()).toBe(rb);
  expect(ra).not.toBe(rb);
  await a.joinRoom(room);
  await b.joinRoom(room);

  // Both see each other online.
  await expect(a.onlineUser(b.userId)).toHaveAttribute('data-status', 'online');
  await expect(b.onlineUser(a.userId)).toHaveAttribute('data-status', 'online');

  const sent: string[] = [];
  for (let i = 0; i < 3; i++) {
    const fromA = `from alice ${i} ${uid}`;
    const fromB = `from bob ${i} ${uid}`;
    await a.send(fromA);
    await b.send(fromB);
    sent.push(fromA, fromB);
  }
  for (const u of [a, b]) {
    await expect.poll(async () => (await u.texts(room)).filter((t) => sent.includes(t)).length).toBe(sent.length);
  }
  // Time for a late duplicate to show, then exactly once each, and the instance crossed replicas.
  await new Promise((r) => setTimeout(r, 1500));
  for (const u of [a, b]) {
    const texts = await u.texts(room);
    for (const t of sent) expect(texts.filter((x) => x === t), `${u.userId} shows "${t}" once`).toHaveLength(1);
    await expect(u.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="pending-message"]`)).toHaveCount(0);
  }
  const instances = await b.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="message"][data-user-id="${a.userId}"]`)
    .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.instance));
  expect(new Set(instances)).toEqual(new Set([ra]));

  // Typing crosses replicas, both ways.
  await a.page.getByTestId('message-input').pressSequentially('typing…', { delay: 100 });
  await expect(b.page.getByTestId('typing')).toContainText(`${a.userId} is typing`);
  await b.page.getByTestId('message-input').pressSequentially('me too', { delay: 100 });
  await expect(a.page.getByTestId('typing')).toContainText(`${b.userId} is typing`);

  for (const u of [a, b]) expect((await u.stats()).connects).toBe(1);
});
