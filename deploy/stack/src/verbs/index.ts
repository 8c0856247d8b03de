import { disconnect, kill, pause, reconnect, reload, resume, start } from './chaos';
import { dev } from './dev';
import { down } from './down';
import { composePlugin, engine } from './engine';
import { freshInstall } from './fresh-install';
import { images } from './images';
import { logs } from './logs';
import { scale } from './scale';
import { status } from './status';
import { e2eDeps, testDeps } from './test-deps';
import type { Verb } from './types';
import { up } from './up';

export const verbs: Record<string, Verb> = {
  up,
  down,
  status,
  logs,
  scale,
  kill,
  start,
  pause,
  resume,
  disconnect,
  reconnect,
  reload,
  images,
  engine,
  'compose-plugin': composePlugin,
  dev,
  'test-deps': async () => void (await testDeps()),
  'e2e-deps': e2eDeps,
  'fresh-install': freshInstall,
};

export function usage(): string {
  return [
    'usage: cli.ts <verb> [--replicas N] [--redis single|cluster|sentinel] [--admin-ui on|off] [--target T] [--network N] [--json] [--volumes]',
    `verbs: ${Object.keys(verbs).join(', ')}`,
    'env: SB_PROJECT (compose project, default switchboard), SB_HTTP_PORT (8080), SB_BIND (127.0.0.1),',
    '     SB_IMAGES (auto|official|local), REDIS_IMAGE, MONGO_IMAGE, NGINX_IMAGE, NODE_IMAGE, SB_REBUILD_IMAGES=1',
  ].join('\n');
}
