// Scaling live. `make scale N=4` while two users chat drops neither;
// `make scale N=2` drains the removed replicas and their users reconnect elsewhere,
// missing nothing.
import { check, formatReport, Producer } from '@switchboard/loss-checker';
import { attachLogs, expect, note, test, type ChatUser } from '../fixtures';
import { chaos, cidFor, runningReplicas, sleep, waitFor } from '../stack';

test('scale to 4 and down to 2 while users chat', async ({ openUser, uid, guard }) => {
  test.setTimeout(6 * 60_000);
  const room = `s4-${uid}`;
  // realtime-3 and -4 are removed by scaling down and realtime-3 is created anew by the scale back to 3.
  guard.allowRestart('realtime-3');
  guard.allowRestart('realtime-4');
  expect(await runningReplicas()).toEqual(['realtime-1', 'realtime-2', 'realtime-3']);
  const a = await openUser(`alice-${uid}`, await cidFor('realtime-1', `s4a-${uid}`));
  const b = await openUser(`bob-${uid}`, await cidFor('realtime-2', `s4b-${uid}`));
  await a.joinRoom(room);
  await b.joinRoom(room);
  const pa = new Producer(`a${uid}`);
  const pb = new Producer(`b${uid}`);
  const pc = new Producer(`c${uid}`);
  let stop = false;
  // carol, who joins later, gets the 'during' messages from the page's first history page (the newest
  // 50): a slow scale on a loaded machine must not push the room's first messages out of that page.
  const DURING_MAX = 20;
  const produce = async (u: ChatUser, p: Producer, phase: 'during' | 'after') => {
    for (let sent = 0; !stop && (phase === 'after' || sent < DURING_MAX); sent++) {
      await u.send(`m ${p.next(phase)}`);
      await u.page.waitForTimeout(600);
    }
  };
  let scaled = false;
  let c: ChatUser | null = null;
  try {
    // Up to 4 while both chat: nobody is dropped.
    let traffic = Promise.all([produce(a, pa, 'during'), produce(b, pb, 'during')]);
    traffic.catch(() => undefined);  // awaited below; a failure elsewhere must not leave it unhandled
    await sleep(1000);
    scaled = true;
    await chaos.scale(4);
    await sleep(1500);
    stop = true;
    await traffic;
    expect(await runningReplicas()).toEqual(['realtime-1', 'realtime-2', 'realtime-3', 'realtime-4']);
    for (const u of [a, b]) {
      const s = await u.stats();
      expect([u.userId, s.connects, s.disconnects]).toEqual([u.userId, 1, []]);
    }

    // A user on a replica that scaling down removes (realtime-4, the newest).
    c = await openUser(`carol-${uid}`, await cidFor('realtime-4', `s4c-${uid}`));
    expect(await c.replica()).toBe('realtime-4');
    await c.joinRoom(room);
    stop = false;
    traffic = Promise.all([produce(a, pa, 'after'), produce(c, pc, 'after')]);
    traffic.catch(() => undefined);  // awaited below; a failure elsewhere must not leave it unhandled
    await sleep(1000);
    const scaledDownAt = Date.now();
    await chaos.scale(2);
    // The removed replicas drained: carol reconnected by herself to one that stays.
    await waitFor('carol to reconnect', async () => (await c!.stats()).connects >= 2, 60_000);
    await c.waitConnected(60_000);
    await expect(c.page.getByTestId('replica')).toHaveText(/^realtime-[12]$/, { timeout: 30_000 });
    note('carol moved', `to ${await c.replica()}, ${Date.now() - scaledDownAt} ms after scale 2 began; disconnect reasons ${JSON.stringify((await c.stats()).disconnects)}`);
    await sleep(2000);
    stop = true;
    await traffic;
    expect(await runningReplicas()).toEqual(['realtime-1', 'realtime-2']);
    for (const u of [a, b]) expect((await u.stats()).disconnects, `${u.userId} was not on a removed replica`).toEqual([]);

    for (const u of [a, b, c]) {
      await expect(u.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="pending-message"]`)).toHaveCount(0, { timeout: 30_000 });
    }
    const sent = [...pa.log, ...pb.log, ...pc.log];
    const got = async (u: ChatUser) => [...(await u.tags(room, pa.producerId)), ...(await u.tags(room, pb.producerId)), ...(await u.tags(room, pc.producerId))];
    // carol joined after the first phase: she is owed what was sent after she joined (and gets the rest from history).
    const received = async () => ({ alice: await got(a), bob: await got(b), carol: await got(c!) });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && check({ sent, received: await received() }).totals.lost > 0) await sleep(500);
    await sleep(1500);
    const report = check({ sent, received: await received() });
    note('loss report', formatReport(report));
    expect(report.totals, formatReport(report)).toEqual({ lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  } catch (err) {
    // Before scaling back removes them: the logs of every container, realtime-4 included.
    await attachLogs(test.info());
    throw err;
  } finally {
    stop = true;
    // Leave the stack as the other specs expect it.
    if (scaled) await chaos.scale(3);
  }
});
