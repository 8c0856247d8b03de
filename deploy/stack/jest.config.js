// The stack smoke test: Docker, real images, minutes not seconds. Run with
// `make test-stack` (npx jest --config deploy/stack/jest.config.js --runInBand).
/** @type {import('jest').Config} */
module.exports = {
  rootDir: __dirname,
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  testEnvironment: 'node',
  // Building images from nothing takes minutes on a fresh machine.
  testTimeout: 20 * 60 * 1000,
  verbose: true,
  // A run that does not exit within a minute of its last test fails, naming what holds it
  // (the tracker remembers where each timer was created).
  globalSetup: '<rootDir>/../../scripts/jest-timer-tracker.cjs',
  globalTeardown: '<rootDir>/../../scripts/jest-exit-watchdog.cjs',
};
