import fs from 'node:fs';
import { aptInstall } from '../engine';
import { commandExists, exec } from '../exec';
import { info, StackError, step } from '../log';
import { ensureFerretDbBinary } from '../images';

/** What the integration tests run as real processes: redis-server, PostgreSQL and .tools/bin/ferretdb-<hash>; returns the FerretDB binary. */
export async function testDeps(): Promise<string> {
  if (!(await commandExists('redis-server'))) {
    if (process.getuid?.() !== 0 || !(await commandExists('apt-get'))) {
      throw new StackError('redis-server is missing: install Redis 7 (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).');
    }
    step('Installing redis-server with apt-get');
    await aptInstall(['redis-server']);
  }
  info(`redis-server: ${(await exec('redis-server', ['--version'])).stdout.trim()}`);
  info(`postgresql: ${await ensurePostgres()}`);
  const bin = await ensureFerretDbBinary();
  info(`ferretdb: ${bin}`);
  return bin;
}

/**
 * FerretDB stores its data in a PostgreSQL it starts itself (deploy/images/ferretdb/postgres.go),
 * so only the server binaries are needed: the cluster Debian's package creates and starts is
 * stopped and removed when this step installed the package.
 */
async function ensurePostgres(): Promise<string> {
  if (process.env.FERRETDB_BACKEND === 'sqlite') return 'not needed (FERRETDB_BACKEND=sqlite)';
  const debian = '/usr/lib/postgresql';
  const versions = () => (fs.existsSync(debian) ? fs.readdirSync(debian).filter((v) => fs.existsSync(`${debian}/${v}/bin/postgres`)) : []);
  if (versions().length === 0 && !(await commandExists('postgres'))) {
    if (process.getuid?.() !== 0 || !(await commandExists('apt-get'))) {
      throw new StackError('PostgreSQL is missing: install it (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql), or set FERRETDB_BACKEND=sqlite to run FerretDB on SQLite.');
    }
    step('Installing postgresql with apt-get (FerretDB starts its own server; the one Debian starts is dropped)');
    await aptInstall(['postgresql']);
    for (const version of versions()) await exec('pg_dropcluster', ['--stop', version, 'main']);
  }
  const newest = versions().sort((a, b) => Number(a) - Number(b)).pop();
  return newest ? `${debian}/${newest}/bin` : 'postgres on PATH';
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
