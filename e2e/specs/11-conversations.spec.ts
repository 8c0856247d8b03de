// Conversations on the demo page, through nginx, users on different replicas:
// a DM started from the online list (an empty-room state until its first
// message), unread badges that follow a user's two devices, "seen" under the
// last message of a DM, and a conversation list that a new device gets from
// the server.
import { expect, test, type ChatUser } from '../fixtures';
import { cidsByReplica, runningReplicas } from '../stack';

const conversation = (u: ChatUser, room: string) => u.page.locator(`[data-testid="conversation"][data-room="${room}"]`);
const seen = (u: ChatUser, room: string) => u.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="seen"]`);

test('conversations: a DM with someone online, unread badges on every device, seen, empty room', async ({ openUser, uid }) => {
  const cids = await cidsByReplica(await runningReplicas(), `s11-${uid}`);
  const [ra, rb, rc] = [...cids.keys()];
  const cidOn = (r: string | undefined) => cids.get(r ?? ra)!.cid;
  const room = `s11-${uid}`;
  const alice = await openUser(`alice-${uid}`, cidOn(ra));
  const bob = await openUser(`bob-${uid}`, cidOn(rb));
  expect(await alice.replica()).not.toBe(await bob.replica());
  await alice.joinRoom(room);
  await bob.joinRoom(room);
  // The public room is in both lists, with nothing said yet: the pane says so instead of staying blank.
  await expect(conversation(bob, room)).toHaveAttribute('data-unread', '0');
  await expect(bob.page.getByTestId('empty-room')).toContainText('No messages');

  // A DM from the online list.
  await alice.page.getByRole('button', { name: `Message ${bob.userId}`, exact: true }).click();
  await expect(alice.page.getByTestId('active-room')).toHaveText(`@${bob.userId}`);
  const tab = alice.page.locator('[data-testid="room-tab"][aria-current="true"]');
  const dm = (await tab.getAttribute('data-room'))!;
  expect(dm).toMatch(/^dm:/);
  await expect(alice.page.getByTestId('empty-room')).toBeVisible();
  await expect(alice.page.getByTestId('empty-room')).toContainText(`No messages in @${bob.userId}`);
  // Opened by alice and still empty: not in bob's list yet.
  await expect(conversation(bob, dm)).toHaveCount(0);

  const hi = `hi bob ${uid}`;
  await alice.send(hi);
  await expect(alice.page.getByTestId('empty-room')).toBeHidden();
  // Bob has the public room open: the DM arrives in his list, unread.
  await expect(conversation(bob, dm)).toHaveAttribute('data-unread', '1');
  await expect(conversation(bob, dm).getByTestId('unread-badge')).toHaveText('1');
  await expect(conversation(bob, dm).getByTestId('conversation-name')).toHaveText(`@${alice.userId}`);
  await expect(conversation(bob, dm).getByTestId('conversation-last')).toContainText(hi);
  await expect(seen(alice, dm)).toHaveCount(0);

  // Bob's second device, on a third replica where there is one: the server gives it the same list.
  const bob2 = await openUser(bob.userId, cidOn(rc));
  await expect(conversation(bob2, dm)).toHaveAttribute('data-unread', '1');
  await expect(conversation(bob2, room)).toBeVisible();

  // Bob opens the DM on his first device: read there, cleared on both devices, and alice sees "seen".
  await conversation(bob, dm).getByRole('button').click();
  await expect(bob.page.getByTestId('active-room')).toHaveText(`@${alice.userId}`);
  await expect.poll(() => bob.texts(dm)).toEqual([hi]);
  for (const device of [bob, bob2]) {
    await expect(conversation(device, dm)).toHaveAttribute('data-unread', '0');
    await expect(conversation(device, dm).getByTestId('unread-badge')).toBeHidden();
  }
  await expect(seen(alice, dm)).toHaveCount(1);
  await expect(alice.page.locator(`[data-testid="messages"][data-room="${dm}"] [data-testid="message"]`).last().getByTestId('seen')).toHaveText('Seen');

  // Bob looks at the public room; two messages from alice there and one in the DM: badges on both devices.
  await bob.page.locator(`[data-testid="room-tab"][data-room="${room}"] .pick`).click();
  await bob2.page.locator(`[data-testid="room-tab"][data-room="lobby"] .pick`).click().catch(() => undefined);
  await alice.page.locator(`[data-testid="room-tab"][data-room="${room}"] .pick`).click();
  await alice.send(`one ${uid}`);
  await alice.send(`two ${uid}`);
  await alice.page.locator(`[data-testid="room-tab"][data-room="${dm}"] .pick`).click();
  const again = `are you there ${uid}`;
  await alice.send(again);
  // Bob is reading the public room on his first device: it stays read on both; the DM's new message is not.
  for (const device of [bob, bob2]) {
    await expect.poll(async () => [await conversation(device, room).getByTestId('conversation-last').textContent(), await conversation(device, room).getAttribute('data-unread')])
      .toEqual([`${alice.userId}: two ${uid}`, '0']);
  }
  for (const device of [bob, bob2]) await expect(conversation(device, dm)).toHaveAttribute('data-unread', '1');
  // "Seen" moved off: alice's newest message is not read yet.
  await expect(seen(alice, dm)).toHaveCount(0);
  // Newest activity first.
  await expect(bob2.page.getByTestId('conversation').first()).toHaveAttribute('data-room', dm);

  // Bob answers from his second device: he read it there, so his badges clear everywhere, and alice has a reply.
  await conversation(bob2, dm).getByRole('button').click();
  await expect.poll(() => bob2.texts(dm)).toEqual([hi, again]);
  for (const device of [bob, bob2]) await expect(conversation(device, dm)).toHaveAttribute('data-unread', '0');
  const reply = `here ${uid}`;
  await bob2.send(reply);
  await expect.poll(() => alice.texts(dm)).toEqual([hi, again, reply]);
  // Alice has the DM open: she reads the reply at once, and bob sees "seen" under it on both devices.
  for (const device of [bob, bob2]) {
    await conversation(device, dm).getByRole('button').click();
    await expect(seen(device, dm)).toHaveCount(1);
  }
  for (const u of [alice, bob, bob2]) expect(u.consoleErrors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
});
