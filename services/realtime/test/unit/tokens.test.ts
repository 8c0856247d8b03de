import jwt from 'jsonwebtoken';
import { signToken, verifyToken } from '../../src/auth/tokens';

const SECRET = 'a-test-secret-of-some-length';

describe('login tokens', () => {
  it('round-trips the claims and the expiry', () => {
    const now = Date.UTC(2026, 0, 1);
    const { token, expiresAt } = signToken({ userId: 'ann', sessionId: 's-1', name: 'Ann' }, SECRET, 3600, now);
    expect(expiresAt).toBe(now + 3600_000);
    expect(verifyToken(token, SECRET, now + 1000)).toEqual({ userId: 'ann', sessionId: 's-1', name: 'Ann', expiresAt });
  });

  it('refuses expired, forged, tampered and malformed tokens', () => {
    const now = Date.UTC(2026, 0, 1);
    const { token } = signToken({ userId: 'ann', sessionId: 's-1', name: 'Ann' }, SECRET, 60, now);
    expect(verifyToken(token, SECRET, now + 61_000)).toBeNull();
    expect(verifyToken(token, 'another-secret-entirely', now)).toBeNull();
    const [h, p, s] = token.split('.');
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' })).toString('base64url');
    expect(verifyToken(`${h}.${tampered}.${s}`, SECRET, now)).toBeNull();
    const none = jwt.sign({ sub: 'ann', sid: 's-1', iss: 'switchboard' }, '', { algorithm: 'none' });
    expect(verifyToken(none, SECRET, now)).toBeNull();
    for (const bad of [undefined, null, 42, '', 'a.b.c', 'x'.repeat(5000)]) expect(verifyToken(bad, SECRET, now)).toBeNull();
  });
});
