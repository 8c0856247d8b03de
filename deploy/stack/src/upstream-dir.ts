// Where the rendered nginx upstream of a compose project lives. Its own module
// because both compose.ts (it hands the folder to compose as a mount) and
// upstream.ts (it renders the file from compose's container list) need it.
import path from 'node:path';
import { STACK_DIR } from './paths';
import { settings } from './settings';

export function upstreamDir(project = settings().project): string {
  return path.join(STACK_DIR, 'nginx', project);
}
