// Where the stack keeps its things. Everything under .tools/ and .stack/ is
// git-ignored: downloaded tools, the dockerd log, build contexts, caches.
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../..');
export const TOOLS = path.join(ROOT, '.tools');
export const STACK_DIR = path.join(ROOT, '.stack');
/** Per-project choices the CLI remembers between verbs (the Redis topology). */
export const STATE_DIR = path.join(STACK_DIR, 'state');
export const IMAGES_DIR = path.join(ROOT, 'deploy/images');
export const SERVICE_DIR = path.join(ROOT, 'services/realtime');
export const FERRETDB_SRC = path.join(IMAGES_DIR, 'ferretdb');
export const COMPOSE_PLUGIN = path.join(TOOLS, 'docker-cli-plugins/docker-compose');
/** A DOCKER_CONFIG of our own whose cli-plugins/ holds the compose plugin we built. */
export const DOCKER_CONFIG_DIR = path.join(TOOLS, 'docker-config');
export const COMPOSE_FILES = [path.join(ROOT, 'docker-compose.yml'), path.join(ROOT, 'docker-compose.scale.yml')];
