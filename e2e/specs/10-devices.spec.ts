// One user on three browsers (each its own context and User-Agent, on two replicas through nginx):
// the Devices panel lists every session with its connections; signing one out from a page on another
// replica logs that page out (its socket is dropped, its token refused from then on); "Sign out other
// devices" ends the rest and keeps the page that asked, connected.
import { expect, test, type ChatUser } from '../fixtures';
import { cidFor, cidsByReplica, runningReplicas } from '../stack';

const sessionOf = (u: ChatUser) =>
  u.page.evaluate(() => (window as unknown as { switchboard: { session: { token: string; sessionId: string } } }).switchboard.session);
const device = (u: ChatUser, sessionId: string) => u.page.locator(`[data-testid="device"][data-session-id="${sessionId}"]`);
/** What the page's own token gets from GET /api/session through nginx now. */
const sessionStatus = (u: ChatUser, token: string) =>
  u.page.evaluate(async (t) => (await fetch('/api/session', { headers: { authorization: `Bearer ${t}` } })).status, token);

test('devices panel: lists sessions, signs one out, signs out the others', async ({ openUser, uid }) => {
  const cids = await cidsByReplica(await runningReplicas(), `s9-${uid}`);
  const [ra, rb] = [...cids.keys()];
  expect(ra && rb, 'two replicas reachable by client id').toBeTruthy();
  const userId = `dora-${uid}`;
  const laptop = await openUser(userId, cids.get(ra)!.cid, { userAgent: `Laptop-${uid}` });
  const phone = await openUser(userId, cids.get(rb)!.cid, { userAgent: `Phone-${uid}` });
  const tablet = await openUser(userId, await cidFor(rb, `s9t-${uid}`), { userAgent: `Tablet-${uid}` });
  expect(await laptop.replica()).toBe(ra);
  expect(await phone.replica()).toBe(rb);
  expect(await tablet.replica()).toBe(rb);
  const [mine, phones, tablets] = await Promise.all([laptop, phone, tablet].map(sessionOf));

  // Every session, own first, each with its User-Agent and its one socket (on whichever replica).
  const devices = laptop.page.getByTestId('device');
  await expect(devices).toHaveCount(3);
  await expect(devices.first()).toHaveAttribute('data-session-id', mine.sessionId);
  await expect(devices.first()).toHaveAttribute('data-current', 'true');
  await expect(devices.first()).toContainText('(this device)');
  for (const [s, ua] of [[mine, 'Laptop'], [phones, 'Phone'], [tablets, 'Tablet']] as const) {
    await expect(device(laptop, s.sessionId)).toHaveAttribute('data-user-agent', `${ua}-${uid}`);
    await expect(device(laptop, s.sessionId)).toHaveAttribute('data-sockets', '1');
    await expect(device(laptop, s.sessionId)).toHaveAttribute('data-source', 'demo');
  }
  await expect(device(laptop, mine.sessionId).getByTestId('revoke-device')).toHaveCount(0);

  // The laptop (one replica) signs out the phone (another): the phone's page drops to the login form.
  await device(laptop, phones.sessionId).getByTestId('revoke-device').click();
  await expect(phone.page.getByTestId('login-form')).toBeVisible();
  await expect(phone.page.getByTestId('error')).toHaveAttribute('data-code', 'UNAUTHORIZED');
  expect((await phone.stats()).disconnects).toContain('io server disconnect');
  expect(await sessionStatus(phone, phones.token)).toBe(401);
  await expect(devices).toHaveCount(2);
  await expect(device(laptop, phones.sessionId)).toHaveCount(0);
  await expect(tablet.page.getByTestId('device')).toHaveCount(2);

  // The tablet signs out every other device: the laptop goes, the tablet stays connected.
  await tablet.page.getByTestId('revoke-other-devices').click();
  await expect(laptop.page.getByTestId('login-form')).toBeVisible();
  expect(await sessionStatus(laptop, mine.token)).toBe(401);
  await expect(tablet.page.getByTestId('device')).toHaveCount(1);
  await expect(device(tablet, tablets.sessionId)).toHaveAttribute('data-current', 'true');
  await expect(tablet.page.getByTestId('revoke-other-devices')).toBeHidden();
  await expect(tablet.connectionState()).toHaveAttribute('data-state', 'connected');
  expect(await sessionStatus(tablet, tablets.token)).toBe(200);
  expect((await tablet.stats()).connects).toBe(1);
});
