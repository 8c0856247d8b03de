// One replica with reload (tsx watch) against a local redis-server and
// FerretDB (on its own PostgreSQL) on fixed ports, no Docker. Ctrl-C stops them all.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errno';
import { info, StackError, step } from '../log';
import { portFree } from '../ports';
import { ROOT, SERVICE_DIR, STACK_DIR } from '../paths';
import { testDeps } from './test-deps';

export const DEV_PORTS = {
  service: Number(process.env.PORT || 3000),
  redis: Number(process.env.SB_DEV_REDIS_PORT || 6380),
  mongo: Number(process.env.SB_DEV_MONGO_PORT || 27018),
};

/**
 * The replica's environment: the shell's, with the local servers, demo login,
 * and no forwarded header believed whatever the shell says (TRUST_PROXY=0):
 * nothing stands in front of `make dev`, so a client could otherwise pick its
 * own address for the per-address limits.
 */
export function devServiceEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    PORT: String(DEV_PORTS.service),
    INSTANCE_NAME: env.INSTANCE_NAME || 'dev-1',
    REDIS_URL: `redis://127.0.0.1:${DEV_PORTS.redis}`,
    MONGO_URL: `mongodb://127.0.0.1:${DEV_PORTS.mongo}/switchboard`,
    AUTH_SECRET: env.AUTH_SECRET || 'switchboard-dev-secret-do-not-use-in-production',
    // The demo page logs in with POST /api/login (any user id): development only.
    AUTH_DEMO_LOGIN: env.AUTH_DEMO_LOGIN || 'true',
    NODE_ENV: env.NODE_ENV || 'development',
    TRUST_PROXY: '0',
  };
}

export async function dev(): Promise<number> {
  const ferretdb = await testDeps();
  for (const [what, port] of Object.entries(DEV_PORTS)) {
    if (!(await portFree('127.0.0.1', port))) throw new StackError(`Port ${port} (${what}) is taken: stop what uses it, or set PORT / SB_DEV_REDIS_PORT / SB_DEV_MONGO_PORT.`);
  }
  const dataDir = path.join(STACK_DIR, 'dev/ferretdb');
  fs.mkdirSync(dataDir, { recursive: true });
  const children: ChildProcess[] = [];
  const startChild = (label: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => {
    // Own process group each, so stopping reaches tsx's watched child too.
    const child = spawn(cmd, args, { stdio: 'inherit', detached: true, ...opts });
    child.on('exit', (code, signal) => info(`${label} exited (${signal ?? code})`));
    children.push(child);
  };
  step(`redis-server on 127.0.0.1:${DEV_PORTS.redis} (no persistence)`);
  startChild('redis-server', 'redis-server', ['--port', String(DEV_PORTS.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  // FerretDB starts its own PostgreSQL in dataDir/pgdata and stops it with itself.
  step(`FerretDB on 127.0.0.1:${DEV_PORTS.mongo}, PostgreSQL backend (data in .stack/dev/ferretdb)`);
  startChild('ferretdb', ferretdb, ['--listen', `127.0.0.1:${DEV_PORTS.mongo}`, '--data', dataDir]);
  step(`realtime on http://127.0.0.1:${DEV_PORTS.service} with tsx watch (Ctrl-C stops everything)`);
  const tsx = [path.join(SERVICE_DIR, 'node_modules/.bin/tsx'), path.join(ROOT, 'node_modules/.bin/tsx')].find((f) => fs.existsSync(f));
  if (!tsx) throw new StackError('tsx is not installed: run make install.');
  startChild('realtime', tsx, ['watch', 'src/main.ts'], { cwd: SERVICE_DIR, env: devServiceEnv() });
  return new Promise<number>((resolve) => {
    const stop = () => {
      for (const c of children) {
        if (c.exitCode !== null || c.pid === undefined) continue;
        try {
          process.kill(-c.pid, 'SIGTERM');
        } catch (err) {
          if (!isErrno(err, 'ESRCH')) throw err; // ESRCH: the group is already gone
        }
      }
      // Wait for all three (the service drains for up to SHUTDOWN_TIMEOUT_MS).
      const waitAll = Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
      const timeout = new Promise((r) => setTimeout(r, 12_000));
      void Promise.race([waitAll, timeout]).then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
