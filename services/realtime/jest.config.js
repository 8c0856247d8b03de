/** Unit tests (no I/O) and integration tests (real redis-server, FerretDB and service processes). */
const transform = {
  '^.+\\.ts$': ['ts-jest', {}],
  // jose ships ES modules only: compiled to CommonJS for Jest's module system (Node runs it as it is).
  '/node_modules/jose/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2023' } }],
};
const transformIgnorePatterns = ['/node_modules/(?!jose/)'];
// Tests compile the workspace libraries from their sources, so an edit there needs no build first.
const moduleNameMapper = {
  '^@switchboard/protocol$': '<rootDir>/../../packages/protocol/src',
  '^@switchboard/test-kit$': '<rootDir>/../../packages/test-kit/src',
  '^@switchboard/loss-checker$': '<rootDir>/../../tools/loss-checker/index.ts',
};

module.exports = {
  // Generous: a loaded 2-core machine starts redis, FerretDB and three Node processes per file.
  testTimeout: 90_000,
  // A run that does not exit within a minute of its last test fails, naming what holds it
  // (the tracker remembers where each timer was created).
  globalSetup: '<rootDir>/../../scripts/jest-timer-tracker.cjs',
  globalTeardown: '<rootDir>/../../scripts/jest-exit-watchdog.cjs',
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      moduleNameMapper,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      moduleNameMapper,
      testMatch: ['<rootDir>/test/integration/**/*.int.test.ts'],
    },
  ],
};
