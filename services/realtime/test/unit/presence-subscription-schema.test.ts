import { describeIssue, PRESENCE_SUBSCRIBE_MAX_IDS, schemas } from '@switchboard/protocol';

describe('presence:subscribe / presence:unsubscribe payload', () => {
  const schema = schemas.presenceSubscription;
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);

  it('accepts a list of users (de-duplicated) or everyone', () => {
    expect(schema.parse({ userIds: ['alice', 'bob', 'alice'] })).toEqual({ userIds: ['alice', 'bob'] });
    expect(schema.parse({ userIds: ids(PRESENCE_SUBSCRIBE_MAX_IDS) })).toEqual({ userIds: ids(PRESENCE_SUBSCRIBE_MAX_IDS) });
    expect(schema.parse({ all: true })).toEqual({ all: true });
  });

  it.each([
    ['an empty list', { userIds: [] }, 'userIds'],
    ['one id too many', { userIds: ids(PRESENCE_SUBSCRIBE_MAX_IDS + 1) }, 'userIds'],
    ['a bad id', { userIds: ['alice', 'a:b'] }, 'userIds.1'],
    ['a non-string id', { userIds: [42] }, 'userIds.0'],
    ['all: false', { all: false }, 'all'],
    ['both', { userIds: ['alice'], all: true }, 'either'],
    ['neither', {}, 'either'],
    ['an unknown field', { all: true, room: 'lobby' }, 'room'],
  ])('refuses %s and says why', (_what, payload, mention) => {
    const parsed = schema.safeParse(payload);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(describeIssue(parsed.error)).toContain(mention);
  });

  it('refuses non-objects', () => {
    for (const v of [undefined, null, 'all', 42, ['alice']]) expect(schema.safeParse(v).success).toBe(false);
  });
});
