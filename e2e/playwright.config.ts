// Playwright e2e suites: real Chromium (Debian's, no browser download) through
// nginx against the real compose stack, started by global-setup.ts as its own
// compose project on a free port. `make e2e` runs it; docs/operations.md says
// what each spec proves.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './specs',
  outputDir: './test-results',
  globalSetup: './global-setup.ts',
  globalTeardown: './global-teardown.ts',
  // One stack, faults that affect every browser: strictly one spec at a time.
  workers: 1,
  fullyParallel: false,
  // Flakiness must show.
  retries: 0,
  // A loaded 2-core machine shared with other work: generous, but finite.
  timeout: 4 * 60_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    baseURL: process.env.SB_E2E_BASE_URL,
    headless: true,
    launchOptions: {
      executablePath: process.env.SB_E2E_CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
    actionTimeout: 20_000,
    navigationTimeout: 30_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
