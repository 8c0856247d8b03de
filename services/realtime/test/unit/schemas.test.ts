import { describeIssue, mentionsIn, schemas } from '@switchboard/protocol';

describe('payload schemas', () => {
  const send = schemas.messageSend(4000);

  it('counts the distinct users a text mentions, and caps them per message', () => {
    expect(mentionsIn('@bob, @carol. and @bob again; mail ann@example.com; @dave.')).toEqual(['bob', 'carol', 'dave']);
    const twoAtMost = schemas.messageSend(4000, 2);
    expect(twoAtMost.parse({ room: 'r', text: '@bob @carol @bob', clientMsgId: 'c' }).text).toBe('@bob @carol @bob');
    const refused = twoAtMost.safeParse({ room: 'r', text: '@bob @carol @dave', clientMsgId: 'c' });
    expect(refused.success || describeIssue(refused.error)).toBe('text: text must mention at most 2 users');
  });

  it('accepts the payloads of the contract', () => {
    expect(schemas.roomJoin.parse({ room: 'lobby' })).toEqual({ room: 'lobby' });
    expect(schemas.roomJoin.parse({ room: 'team.eu-1:ops_2' })).toEqual({ room: 'team.eu-1:ops_2' });
    expect(send.parse({ room: 'lobby', text: 'x'.repeat(4000), clientMsgId: 'c1' }).text).toHaveLength(4000);
    expect(schemas.historySync.parse({ room: 'lobby', after: '0123456789abcdef01234567' })).toBeTruthy();
    expect(schemas.historySync.parse({ room: 'lobby' })).toEqual({ room: 'lobby' });
    expect(schemas.presenceSet.parse({ status: 'busy' })).toEqual({ status: 'busy' });
    expect(schemas.regionUpdate.parse({ lat: -90, lng: 180 })).toEqual({ lat: -90, lng: 180 });
    expect(schemas.login.parse({ userId: 'a.b-c_1', name: ' Ann ' })).toEqual({ userId: 'a.b-c_1', name: 'Ann' });
  });

  it.each([
    [schemas.roomJoin, { room: '' }, 'room'],
    [schemas.roomJoin, { room: 'a'.repeat(65) }, 'room'],
    [schemas.roomJoin, { room: 'white space' }, 'room'],
    [schemas.roomJoin, { room: 'lobby', admin: true }, 'admin'],
    [send, { room: 'lobby', text: 'x'.repeat(4001), clientMsgId: 'c' }, 'text'],
    [send, { room: 'lobby', text: ' \n ', clientMsgId: 'c' }, 'text'],
    [send, { room: 'lobby', text: 'hi' }, 'clientMsgId'],
    [schemas.historySync, { room: 'lobby', after: 'xyz' }, 'after'],
    [schemas.presenceSet, { status: 'gone' }, 'status'],
    [schemas.regionUpdate, { lat: 90.1, lng: 0 }, 'lat'],
    [schemas.regionUpdate, { lat: 0, lng: Number.NaN }, 'lng'],
    [schemas.login, { userId: 'a:b' }, 'userId'],
  ])('refuses %#: names the field', (schema, payload, field) => {
    const parsed = (schema as typeof schemas.roomJoin).safeParse(payload);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(describeIssue(parsed.error)).toContain(field);
  });

  it('refuses non-objects', () => {
    for (const v of [undefined, null, 'lobby', 42, ['lobby']]) expect(schemas.roomJoin.safeParse(v).success).toBe(false);
  });
});
