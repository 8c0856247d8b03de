// Starts this run's own compose project (its own name and a free port, so a
// person's stack is never touched) with short presence timings, and hands its
// coordinates to the specs through the environment. SB_E2E_REUSE=1 with
// SB_PROJECT and SB_HTTP_PORT set uses a stack you started yourself (with the
// same variables as SERVICE_ENV) and leaves it running.
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '@switchboard/test-kit';
import { cli, ROOT, SERVICE_ENV } from './stack';

export default async function globalSetup(): Promise<void> {
  const chromium = process.env.SB_E2E_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) throw new Error(`${chromium} is missing: run \`make e2e\` (installs Debian's chromium when root) or set SB_E2E_CHROMIUM`);
  if (process.env.SB_E2E_REUSE === '1') {
    process.env.SB_E2E_PROJECT = process.env.SB_PROJECT;
    process.env.SB_E2E_BASE_URL = `http://127.0.0.1:${process.env.SB_HTTP_PORT}`;
    // The admin UI's password `make up` made for that project (none when it ran with ADMIN_UI=off).
    const kept = path.join(ROOT, '.stack', 'state', `${process.env.SB_PROJECT}.admin-ui`);
    if (fs.existsSync(kept)) process.env.SB_E2E_ADMIN_PASSWORD = fs.readFileSync(kept, 'utf8').trim();
    return;
  }
  const port = await freePort();
  // pid plus a time suffix: unique even where pids repeat (containers, CI runners).
  const projectName = `sbe2e${process.pid}${Date.now().toString(36).slice(-4)}`;
  Object.assign(process.env, { SB_PROJECT: projectName, SB_HTTP_PORT: String(port), SB_BIND: '127.0.0.1' });
  process.env.SB_E2E_PROJECT = projectName;
  process.env.SB_E2E_BASE_URL = `http://127.0.0.1:${port}`;
  process.env.SB_E2E_OWN_STACK = '1';
  // Our own tag for the service image: every `up` rebuilds the image it names from the
  // current source, so with the shared switchboard/realtime:local another person's `up`
  // could change what a later `scale` or `start` of this run creates.
  process.env.REALTIME_IMAGE = `switchboard/realtime:${projectName}`;
  process.stderr.write(`e2e: starting compose project ${projectName} on 127.0.0.1:${port} (${Object.entries(SERVICE_ENV).map(([k, v]) => `${k}=${v}`).join(' ')})\n`);
  // As `make up` runs it: with the admin UI, whose password it prints.
  const r = await cli(['up', '--replicas', '3', '--admin-ui', 'on']);
  if (r.code !== 0) {
    await cli(['down', '--volumes']);
    throw new Error(`stack up failed (exit ${r.code}):\n${r.output.trim().split('\n').slice(-15).join('\n')}`);
  }
  const printed = /admin UI +\S+\/admin\/ +user admin, password (\S+)/.exec(r.stdout);
  if (printed) process.env.SB_E2E_ADMIN_PASSWORD = printed[1];
}
