import { ensureEngine } from '../engine';
import { listContainers, mustCompose } from '../compose';
import { info, step } from '../log';
import fs from 'node:fs';
import { forgetAdminUi } from '../admin-ui';
import { forgetCuts } from '../network-cuts';
import { forgetRedisMode } from '../redis-mode';
import { settings } from '../settings';
import { upstreamDir } from '../upstream-dir';
import type { VerbOptions } from './types';

export async function down(opts: VerbOptions): Promise<void> {
  await ensureEngine();
  const { project } = settings();
  step(`Stopping project "${project}"${opts.volumes ? ' and removing its data volumes' : ''}`);
  const args = ['down', '--remove-orphans', '--timeout', '20'];
  if (opts.volumes) args.push('--volumes');
  await mustCompose(args, `docker compose down failed for project "${project}".`, { inherit: true });
  const left = await listContainers();
  if (left.length) {
    info(`still present: ${left.map((c) => c.name).join(', ')}`);
  } else {
    fs.rmSync(upstreamDir(project), { recursive: true, force: true });
    forgetRedisMode(project);
    forgetCuts(project);
    forgetAdminUi(project);
    info('no container of the project is left');
  }
}
