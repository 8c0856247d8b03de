import fs from 'node:fs';

/**
 * Secrets from files (Docker and Kubernetes secrets are files): before the
 * config is parsed, `NAME_FILE=/run/secrets/x` becomes `NAME=<the file's
 * contents>` with one trailing newline removed. Setting both NAME and
 * NAME_FILE is an error (which one wins would be a guess).
 *
 * REDIS_PASSWORD_FILE feeds REDIS_PASSWORD, which the connection factory
 * (infra/redis-topology.ts) applies to every topology: the single URL, every
 * cluster node and the Sentinel-managed primary.
 */
export const FILE_VARIANTS = ['AUTH_SECRET', 'REDIS_URL', 'REDIS_PASSWORD', 'MONGO_URL', 'ADMIN_UI_PASSWORD', 'ADMIN_UI_PASSWORD_HASH'] as const;

/** Every `*_FILE` variable the service accepts. */
export const SECRET_FILE_VARIABLES = FILE_VARIANTS.map((n) => `${n}_FILE`);

type Reader = (path: string) => string;
const readText: Reader = (p) => fs.readFileSync(p, 'utf8');

function read(name: string, path: string, reader: Reader): string {
  let text: string;
  try {
    text = reader(path);
  } catch (err) {
    throw new Error(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (!value) throw new Error(`${name}: ${path} is empty`);
  return value;
}

/** Returns a copy of `env` with every `*_FILE` resolved; throws one error naming the variable. */
export function resolveSecretFiles(env: NodeJS.ProcessEnv, reader: Reader = readText): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of FILE_VARIANTS) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) throw new Error(`set ${name} or ${name}_FILE, not both`);
    out[name] = read(`${name}_FILE`, file, reader);
    delete out[`${name}_FILE`];
  }
  return out;
}
