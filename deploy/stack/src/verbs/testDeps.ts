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
