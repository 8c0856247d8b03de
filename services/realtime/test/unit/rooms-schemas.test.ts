import { ROOM_RE, schemas } from '@switchboard/protocol';
import { dmRoomName } from '../../src/rooms/access';

describe('rooms, direct conversations and conversations: payloads', () => {
  it('makes private rooms with their members, once each, and public rooms without', () => {
    expect(schemas.roomCreate.parse({ room: 'design', private: true, members: ['bob', 'bob', 'carol'] })).toEqual({ room: 'design', private: true, members: ['bob', 'carol'] });
    expect(schemas.roomCreate.parse({ room: 'open-space' })).toEqual({ room: 'open-space', private: false, members: [] });
    expect(schemas.roomCreate.parse({ room: 'solo', private: true })).toEqual({ room: 'solo', private: true, members: [] });
  });

  it.each([
    ['a dm: name', { room: 'dm:mine', private: true }],
    ['members of a public room', { room: 'r', members: ['bob'] }],
    ['members of a room said not private', { room: 'r', private: false, members: ['bob'] }],
    ['100 members besides the creator', { room: 'r', private: true, members: Array.from({ length: 100 }, (_, i) => `u${i}`) }],
    ['a bad member id', { room: 'r', private: true, members: ['a:b'] }],
    ['an unknown field', { room: 'r', owner: 'me' }],
  ])('refuses room:create with %s', (_what, payload) => {
    expect(schemas.roomCreate.safeParse(payload).success).toBe(false);
  });

  it('validates message:read, dm:open and the list queries', () => {
    expect(schemas.messageRead.safeParse({ room: 'lobby', upTo: '0123456789abcdef01234567' }).success).toBe(true);
    expect(schemas.messageRead.safeParse({ room: 'lobby', upTo: 'nope' }).success).toBe(false);
    expect(schemas.dmOpen.safeParse({ userId: 'bob' }).success).toBe(true);
    expect(schemas.dmOpen.safeParse({ userId: 'bob', room: 'x' }).success).toBe(false);
    expect(schemas.conversationsList.parse({})).toEqual({});
    expect(schemas.conversationsList.safeParse({ limit: 101 }).success).toBe(false);
    expect(schemas.conversationsList.safeParse({ cursor: 'not a cursor!' }).success).toBe(false);
    expect(schemas.conversationsQuery.parse({ limit: '7' })).toEqual({ limit: 7 });
    expect(schemas.conversationsQuery.parse({})).toEqual({ limit: 50 });
    expect(schemas.conversationsQuery.safeParse({ limit: '5', sort: 'asc' }).success).toBe(false);
  });
});

describe('direct conversation names', () => {
  it('are the same for a pair whichever side opens, a valid room name of 46 characters even for the longest user ids', () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    expect(dmRoomName(a, b)).toBe(dmRoomName(b, a));
    expect(dmRoomName(a, b)).toMatch(ROOM_RE);
    expect(dmRoomName(a, b)).toHaveLength(46);
    expect(dmRoomName('ann', 'ben')).toMatch(/^dm:/);
  });

  it('differ between pairs, also when the ids could be joined alike', () => {
    expect(dmRoomName('ann', 'ben')).not.toBe(dmRoomName('ann', 'bea'));
    expect(dmRoomName('a.b', 'c')).not.toBe(dmRoomName('a', 'b.c'));
  });
});
