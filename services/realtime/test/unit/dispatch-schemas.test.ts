import { describeIssue, dispatchSchemas } from '@switchboard/protocol';

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
