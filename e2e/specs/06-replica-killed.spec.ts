// Kill the replica serving user B while A keeps sending; B's page
// reconnects through nginx to another replica by itself, rejoins its room and
// history:sync fills the gap: every message A sent appears exactly once, in order.
import { check, formatReport, Producer, type Phase } from '@switchboard/loss-checker';
import { expect, note, test } from '../fixtures';
import { chaos, cidsByReplica, runningReplicas, waitFor } from '../stack';

test('a killed replica: its users reconnect elsewhere and miss nothing', async ({ openUser, uid, guard }) => {
  const cids = await cidsByReplica(await runningReplicas(), `s6-${uid}`);
  const [ra, rb] = [...cids.keys()];
  guard.allowRestart(rb);
  const room = `s6-${uid}`;
  const a = await openUser(`alice-${uid}`, cids.get(ra)!.cid);
  const b = await openUser(`bob-${uid}`, cids.get(rb)!.cid);
  expect(await a.replica()).toBe(ra);
  expect(await b.replica()).toBe(rb);
  await a.joinRoom(room);
  await b.joinRoom(room);

  const producer = new Producer(`a${uid}`);
  const sendSome = async (n: number, phase: Phase) => {
    for (let i = 0; i < n; i++) {
      await a.send(`msg ${producer.next(phase)}`);
      await a.page.waitForTimeout(250);
    }
  };
  let killed = false;
  try {
    await sendSome(5, 'before');
    const sending = sendSome(12, 'during');
    sending.catch(() => undefined);  // awaited below; a failure elsewhere must not leave it unhandled
    await a.page.waitForTimeout(500);
    await chaos.kill(rb);
    killed = true;
    const killedAt = Date.now();
    await sending;
    // B's page reconnects by itself, through nginx, to a replica that lives.
    await waitFor('B to reconnect', async () => (await b.stats()).connects >= 2, 60_000);
    await b.waitConnected(60_000);
    const reconnectedAfter = Date.now() - killedAt;
    await expect(b.page.getByTestId('replica')).not.toHaveText(rb, { timeout: 30_000 });
    note('B reconnected after', `${reconnectedAfter} ms, to ${await b.replica()}`);
    await sendSome(5, 'after');
    await expect(a.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="pending-message"]`)).toHaveCount(0, { timeout: 30_000 });
    await expect.poll(async () => (await b.tags(room, producer.producerId)).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(producer.log.length);
    await b.page.waitForTimeout(1500);
    const report = check({ sent: producer.log, received: { bob: await b.tags(room, producer.producerId), alice: await a.tags(room, producer.producerId) } });
    note('loss report', formatReport(report));
    expect(report.totals, formatReport(report)).toEqual({ lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
    expect((await b.stats()).disconnects.length).toBeGreaterThanOrEqual(1);
  } finally {
    // Bring the replica back for the specs that follow (start re-renders nginx's upstream).
    if (killed) await chaos.start(rb);
  }
});
