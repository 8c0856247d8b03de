import { aptInstall } from '../engine';
import { commandExists, exec } from '../exec';
import { info, StackError, step } from '../log';
import { ensureFerretDbBinary } from '../images';

/** What the integration tests run as real processes: redis-server and .tools/bin/ferretdb. */
export async function testDeps(): Promise<void> {
  if (!(await commandExists('redis-server'))) {
    if (process.getuid?.() !== 0 || !(await commandExists('apt-get'))) {
      throw new StackError('redis-server is missing: install Redis 7 (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).');
    }
    step('Installing redis-server with apt-get');
    await aptInstall(['redis-server']);
  }
  info(`redis-server: ${(await exec('redis-server', ['--version'])).stdout.trim()}`);
  const bin = await ensureFerretDbBinary();
  info(`ferretdb: ${bin}`);
}

/** What the e2e suites (e2e/, Playwright) need besides the stack: Debian's Chromium (no browser download here). */
export async function e2eDeps(): Promise<void> {
  const chromium = process.env.SB_E2E_CHROMIUM || '/usr/bin/chromium';
  if (!(await commandExists(chromium))) {
    if (process.env.SB_E2E_CHROMIUM || process.getuid?.() !== 0 || !(await commandExists('apt-get'))) {
      throw new StackError(`${chromium} is missing: install Chromium (Debian/Ubuntu: apt-get install chromium fonts-liberation) or point SB_E2E_CHROMIUM at one.`);
    }
    step('Installing chromium with apt-get');
    await aptInstall(['chromium', 'fonts-liberation']);
  }
  const version = await exec(chromium, ['--version']);
  info(`chromium: ${version.stdout.trim() || chromium}`);
}
