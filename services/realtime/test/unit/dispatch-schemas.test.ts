import { describeIssue, dispatchQueries, dispatchSchemas } from '@switchboard/protocol';
import { decodeCursor, encodeCursor } from '../../src/dispatch/http';

describe('dispatch payload schemas', () => {
  it('accepts the payloads of the contract', () => {
    expect(dispatchSchemas.providerOnline.parse({ lat: 48.85, lng: 2.35 })).toEqual({ lat: 48.85, lng: 2.35 });
    expect(dispatchSchemas.orderCreate.parse({ pickup: { lat: -90, lng: 180 } })).toEqual({ pickup: { lat: -90, lng: 180 } });
    expect(dispatchSchemas.orderCreate.parse({ pickup: { lat: 0, lng: 0 }, radiusKm: 2.5, clientOrderId: 'c-1' })).toMatchObject({ radiusKm: 2.5 });
    expect(dispatchSchemas.orderUpdate.parse({ orderId: '3f0c1a2b-aaaa-bbbb-cccc-0123456789ab' })).toBeTruthy();
    expect(dispatchSchemas.orderRef.parse({ orderId: 'Ab_9-x' })).toEqual({ orderId: 'Ab_9-x' });
  });

  it.each([
    [dispatchSchemas.providerOnline, { lat: 91, lng: 0 }, 'lat'],
    [dispatchSchemas.providerOnline, { lat: 0, lng: -181 }, 'lng'],
    [dispatchSchemas.providerOnline, { lat: '1', lng: 0 }, 'lat'],
    [dispatchSchemas.providerLocation, { lat: 0, lng: 0, speed: 3 }, ''],
    [dispatchSchemas.orderCreate, { pickup: { lat: 0, lng: Number.NaN } }, 'pickup.lng'],
    [dispatchSchemas.orderCreate, { pickup: { lat: 0, lng: 0 }, radiusKm: 0 }, 'radiusKm'],
    [dispatchSchemas.orderCreate, { pickup: { lat: 0, lng: 0 }, radiusKm: 101 }, 'radiusKm'],
    [dispatchSchemas.orderCreate, { pickup: { lat: 0, lng: 0 }, clientOrderId: '' }, 'clientOrderId'],
    [dispatchSchemas.orderCreate, {}, 'pickup'],
    [dispatchSchemas.orderRef, { orderId: 'a b' }, 'orderId'],
    [dispatchSchemas.orderRef, { orderId: 'x'.repeat(65) }, 'orderId'],
    [dispatchSchemas.orderRef, undefined, ''],
  ])('refuses %#', (schema, payload, path) => {
    const r = schema.safeParse(payload);
    expect(r.success).toBe(false);
    if (!r.success && path) expect(describeIssue(r.error).startsWith(`${path}:`)).toBe(true);
  });
});

describe('dispatch HTTP query strings', () => {
  it('reads numbers and limits from their strings', () => {
    expect(dispatchQueries.providers.parse({ lat: '48.8566', lng: '-2.35', radiusKm: '2.5', limit: '10' })).toEqual({ lat: 48.8566, lng: -2.35, radiusKm: 2.5, limit: 10 });
    expect(dispatchQueries.providers.parse({ lat: '0', lng: '180' })).toEqual({ lat: 0, lng: 180 });
    expect(dispatchQueries.orders.parse({})).toEqual({});
    expect(dispatchQueries.orders.parse({ limit: '100', cursor: 'abc', role: 'provider' })).toEqual({ limit: 100, cursor: 'abc', role: 'provider' });
    expect(dispatchQueries.orders.parse({ active: '1', limit: '1' })).toEqual({ active: '1', limit: 1 });
  });

  it.each([
    [dispatchQueries.providers, { lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: '', lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: ' 1', lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: '1e1', lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: '0x10', lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: '90.5', lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: '1', lng: '-180.01' }, 'lng'],
    [dispatchQueries.providers, { lat: '1', lng: '1', radiusKm: '0' }, 'radiusKm'],
    [dispatchQueries.providers, { lat: '1', lng: '1', radiusKm: '100.1' }, 'radiusKm'],
    [dispatchQueries.providers, { lat: '1', lng: '1', limit: '501' }, 'limit'],
    [dispatchQueries.providers, { lat: ['1', '2'], lng: '1' }, 'lat'],
    [dispatchQueries.providers, { lat: '1', lng: '1', zoom: '3' }, ''],
    [dispatchQueries.orders, { limit: '0' }, 'limit'],
    [dispatchQueries.orders, { limit: '101' }, 'limit'],
    [dispatchQueries.orders, { limit: '2.5' }, 'limit'],
    [dispatchQueries.orders, { cursor: '' }, 'cursor'],
    [dispatchQueries.orders, { cursor: 'x'.repeat(201) }, 'cursor'],
    [dispatchQueries.orders, { role: 'admin' }, 'role'],
    [dispatchQueries.orders, { active: 'true' }, 'active'],
    [dispatchQueries.orders, { active: '1', role: 'customer' }, ''],
    [dispatchQueries.orders, { page: '2' }, ''],
  ])('refuses %#', (schema, query, path) => {
    const r = (schema as { safeParse(v: unknown): { success: boolean; error?: Parameters<typeof describeIssue>[0] } }).safeParse(query);
    expect(r.success).toBe(false);
    if (!r.success && path) expect(describeIssue(r.error!).startsWith(`${path}:`)).toBe(true);
  });
});

describe('dispatch page cursors', () => {
  it('round-trips and refuses anything it did not make', () => {
    const c = { createdAt: 1764130000123, id: '3f0c1a2b-aaaa_B9' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const raw of ['garbage', Buffer.from('12.a b').toString('base64url'), Buffer.from('x.abc').toString('base64url'), `${encodeCursor(c)}=`, '']) {
      expect(() => decodeCursor(raw)).toThrow(expect.objectContaining({ code: 'VALIDATION' }));
    }
  });
});
