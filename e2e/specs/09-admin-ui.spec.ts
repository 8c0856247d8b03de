// The official Socket.IO admin UI through nginx: logged in with the password `make up` printed,
// its one socket on one replica shows every replica, the chat users' sockets on all of them and
// their rooms; and the page loads nothing from another host (the bundle's Google Fonts and CDN
// icons are served by the replicas).
import { expect, test } from '../fixtures';
import { baseUrl, cidsByReplica, runningReplicas } from '../stack';

test('the admin UI shows every replica, their sockets and rooms', async ({ browser, openUser, uid }) => {
  const password = process.env.SB_E2E_ADMIN_PASSWORD;
  expect(password, 'make up printed the admin UI password (global-setup.ts reads it)').toBeTruthy();
  const replicas = await runningReplicas();
  const cids = await cidsByReplica(replicas, `s9-${uid}`);
  expect([...cids.keys()].sort()).toEqual(replicas);
  const room = `s9-${uid}`;
  // One chat user on each replica, all in one room.
  const users = [];
  for (const [i, replica] of replicas.entries()) {
    const u = await openUser(`ops${i}-${uid}`, cids.get(replica)!.cid);
    expect(await u.replica()).toBe(replica);
    await u.joinRoom(room);
    users.push(u);
  }

  const context = await browser.newContext({ baseURL: baseUrl(), httpCredentials: { username: 'admin', password: password! }, viewport: { width: 1400, height: 900 } });
  try {
    const page = await context.newPage();
    const elsewhere: string[] = [];
    const ours = new URL(baseUrl()).host;
    page.on('request', (req) => {
      if (new URL(req.url()).host !== ours) elsewhere.push(req.url());
    });
    const nav = (name: string) => page.getByRole('navigation').getByRole('link', { name });
    const opened = await page.goto('/admin/');
    expect(opened?.status()).toBe(200);
    const pageReplica = opened?.headers()['x-served-by'];

    // The UI's own login: server URL (nginx), then the same user and password.
    await page.getByLabel('Server URL').fill(baseUrl());
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(password!);
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect(page.locator('header').getByText(/^\s*connected\s*$/i).first()).toBeVisible();

    // Every replica reports to the one replica holding the UI's socket, through Redis.
    await nav('Servers').click();
    for (const replica of replicas) await expect(page.getByRole('row').filter({ hasText: replica })).toContainText(/healthy/i);

    // The room holds the three users' sockets, one on each replica.
    await nav('Rooms').click();
    await expect(page.getByRole('row').filter({ hasText: `room:${room}` })).toContainText(String(replicas.length));
    // Each user's socket, found through its user room, is listed with its rooms.
    for (const u of users) {
      await nav('Rooms').click();
      await page.getByRole('row').filter({ hasText: `user:${u.userId}` }).click();
      // The room's page lists its one socket (id, address, transport).
      await page.getByRole('row').filter({ hasText: /websocket|polling/i }).first().click();
      await expect(page.getByText('Socket details')).toBeVisible();
      await expect(page.getByRole('row').filter({ hasText: `room:${room}` })).toBeVisible();
      await expect(page.getByRole('row').filter({ hasText: `user:${u.userId}` })).toBeVisible();
    }
    await nav('Sockets').click();
    await expect.poll(async () => page.locator('tbody tr').count()).toBeGreaterThanOrEqual(users.length);

    expect(elsewhere, 'requests to another host').toEqual([]);
    process.stderr.write(`    [admin UI] page from ${pageReplica}, servers ${replicas.join(', ')}\n`);
  } finally {
    await context.close();
    for (const u of users) await u.close();
  }
});
