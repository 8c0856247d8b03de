// The admin UI of a project's replicas (docs/operations.md, "The admin UI"): `make up` turns it
// on with a password of its own per project, kept in .stack/state/<project>.admin-ui (0600) so
// every later verb (scale, start) gives new replicas the same one, and prints it. Without
// `--admin-ui on` (the load test, the stack tests) the replicas get no password: no admin UI.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readIfExists } from './errno';
import { StackError } from './log';
import { STATE_DIR } from './paths';
import { settings } from './settings';

export const ADMIN_UI_USER = 'admin';

function passwordFile(project = settings().project): string {
  return path.join(STATE_DIR, `${project}.admin-ui`);
}

export function parseAdminUi(raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === 'off') return false;
  if (raw === 'on') return true;
  throw new StackError(`ADMIN_UI must be on or off, not "${raw}".`);
}

/** The project's admin UI password, or undefined when its replicas run without the admin UI. */
export function adminUiPassword(project = settings().project): string | undefined {
  return readIfExists(passwordFile(project))?.trim() || undefined;
}

/**
 * On: the project's password (ADMIN_UI_PASSWORD if you set one, else the one it
 * has, else a new one); off: none. Returns the password in force.
 */
export function chooseAdminUi(on: boolean, env: NodeJS.ProcessEnv = process.env, project = settings().project): string | undefined {
  const file = passwordFile(project);
  if (!on) {
    fs.rmSync(file, { force: true });
    return undefined;
  }
  const password = env.ADMIN_UI_PASSWORD || adminUiPassword(project) || randomBytes(18).toString('base64url');
  if (password.length < 12) throw new StackError('ADMIN_UI_PASSWORD must be at least 12 characters (or leave it unset: make up makes one).');
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

export function forgetAdminUi(project = settings().project): void {
  fs.rmSync(passwordFile(project), { force: true });
}
