// Freeze the replica serving user B (`make pause`, a cgroup freeze):
// within the presence TTL plus one sweep, user A (on another replica) sees B
// offline; after `make resume`, B is back online without reloading.
import { expect, note, test } from '../fixtures';
import { chaos, cidsByReplica, runningReplicas, SERVICE_ENV } from '../stack';

test('presence expires when a replica freezes and comes back when it resumes', async ({ openUser, uid }) => {
  const cids = await cidsByReplica(await runningReplicas(), `s3-${uid}`);
  const [ra, rb] = [...cids.keys()];
  const a = await openUser(`alice-${uid}`, cids.get(ra)!.cid);
  const b = await openUser(`bob-${uid}`, cids.get(rb)!.cid);
  expect(await a.replica()).toBe(ra);
  expect(await b.replica()).toBe(rb);
  await expect(a.onlineUser(b.userId)).toHaveAttribute('data-status', 'online');

  const ttl = Number(SERVICE_ENV.PRESENCE_TTL_MS);
  const sweep = Number(SERVICE_ENV.PRESENCE_SWEEP_MS);
  let resumed = false;
  await chaos.pause(rb);
  const frozenAt = Date.now();
  try {
    await expect(a.onlineUser(b.userId)).toHaveCount(0, { timeout: 30_000 });
    const took = Date.now() - frozenAt;
    note('offline after', `${took} ms (TTL ${ttl} + sweep ${sweep})`);
    // TTL + one sweep, plus slack for the freeze itself, the event's trip and a loaded machine.
    expect(took, 'B offline within TTL + sweep (+ slack)').toBeLessThan(ttl + sweep + 4000);
    // A is still online for itself, and A's replica carries on.
    await expect(a.onlineUser(a.userId)).toHaveCount(1);
  } finally {
    await chaos.resume(rb);
    resumed = true;
  }
  expect(resumed).toBe(true);
  // Back without a reload: the resumed replica re-announces its users.
  await expect(a.onlineUser(b.userId)).toHaveAttribute('data-status', 'online', { timeout: 30_000 });
  await expect(b.onlineUser(a.userId)).toHaveAttribute('data-status', 'online', { timeout: 30_000 });
  await b.waitConnected();
  expect(await b.replica()).toBe(rb);
});
