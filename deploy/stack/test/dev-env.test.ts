// `make dev`'s replica: nothing stands in front of it, so it believes no X-Forwarded-For. No Docker needed.
import { devServiceEnv } from '../src/verbs/dev';

describe('make dev', () => {
  it('trusts no forwarded header, whatever the shell says', () => {
    expect(devServiceEnv({}).TRUST_PROXY).toBe('0');
    expect(devServiceEnv({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe('0');
  });

  it('keeps the rest of the shell, and runs with demo login in development', () => {
    expect(devServiceEnv({ LOG_LEVEL: 'debug' })).toMatchObject({ LOG_LEVEL: 'debug', AUTH_DEMO_LOGIN: 'true', NODE_ENV: 'development' });
  });
});
