// Removes this run's compose project and its volumes, whether the specs passed
// or not, then this run's service image tag (the layers stay shared and cached).
import { spawnSync } from 'node:child_process';
import { cli } from './stack';

export default async function globalTeardown(): Promise<void> {
  if (process.env.SB_E2E_OWN_STACK !== '1') return;
  const r = await cli(['down', '--volumes']);
  const image = process.env.REALTIME_IMAGE;
  if (image && image.startsWith('switchboard/realtime:sbe2e')) spawnSync('docker', ['image', 'rm', image], { stdio: 'ignore' });
  if (r.code !== 0) throw new Error(`stack down --volumes failed (exit ${r.code}): ${r.output.trim().split('\n').slice(-5).join('\n')}`);
}
