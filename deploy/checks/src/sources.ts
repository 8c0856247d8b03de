// Reads every place that names the service's variables, so drift.test.ts can
// compare them with the one source: the zod schema in services/realtime/src/config.ts.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { configSchema } from '../../../services/realtime/src/config';
import { SECRET_FILE_VARIABLES } from '../../../services/realtime/src/infra/secrets';

export const ROOT = path.resolve(__dirname, '../../..');
export const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');
export { SECRET_FILE_VARIABLES };

type ZodLike = { def?: { type: string; defaultValue?: unknown; in?: ZodLike; innerType?: ZodLike } };

function defaultOf(s: ZodLike): unknown {
  const d = s.def!;
  if (d.type === 'default') return typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue;
  if (d.type === 'pipe') return defaultOf(d.in!);
  if (d.type === 'optional') return undefined;
  throw new Error(`config.ts: cannot read the default of a ${d.type}`);
}

/** Every variable of the schema and its default as the string one would write (undefined: none). */
export function schemaDefaults(): Map<string, string | undefined> {
  const shape = (configSchema as unknown as { shape: Record<string, ZodLike> }).shape;
  const out = new Map<string, string | undefined>();
  for (const [k, s] of Object.entries(shape)) {
    const v = defaultOf(s);
    out.set(k, v === undefined ? undefined : String(v));
  }
  return out;
}

/** `NAME=value` lines of .env.example, commented out or not (a trailing `# note` is not part of the value). */
export function envExample(text = read('.env.example')): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^#?\s?([A-Z][A-Z0-9_]*)=(\S*)/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

export interface ReadmeRow {
  vars: string[];
  /** Backticked defaults, one per variable, or none when the cell describes the default in words. */
  defaults: string[] | undefined;
  cell: string;
}

/** The README's configuration table: `| \`A\`, \`B\` | \`1\`, \`2\` | meaning |`. */
export function readmeTable(text = read('README.md')): ReadmeRow[] {
  const start = text.indexOf('## Configuration');
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const section = text.slice(start, text.indexOf('\n## ', start + 5));
  const rows: ReadmeRow[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !cells[1].startsWith('`')) continue;
    const vars = [...cells[1].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]);
    const ticks = [...cells[2].matchAll(/`([^`]*)`/g)].map((m) => m[1]);
    // Only a cell made of backticked values alone states defaults; words describe them.
    const onlyValues = cells[2].replace(/`[^`]*`/g, '').replace(/[,\s]/g, '') === '';
    rows.push({ vars, defaults: onlyValues && ticks.length === vars.length ? ticks : undefined, cell: cells[2] });
  }
  return rows;
}

export type EnvValue = { kind: 'passthrough' } | { kind: 'literal'; value: string } | { kind: 'interpolated'; name: string; fallback: string | undefined };

const RESET = Symbol('compose !reset');
/** Compose's merge tags (Compose >= 2.24): `!reset` drops what it tags, `!override` replaces instead of merging. */
const COMPOSE_TAGS = [
  { tag: '!reset', resolve: () => RESET },
  { tag: '!reset', collection: 'map' as const, resolve: () => RESET },
  { tag: '!reset', collection: 'seq' as const, resolve: () => RESET },
  { tag: '!override', collection: 'map' as const, resolve: (v: unknown) => v },
  { tag: '!override', collection: 'seq' as const, resolve: (v: unknown) => v },
];

function dropResets(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== RESET).map(dropResets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== RESET).map(([k, v]) => [k, dropResets(v)]));
  }
  return value;
}

/**
 * A compose file as compose reads it on its own: merge keys (<<: *anchor)
 * resolved, `!override` values kept, `!reset` keys dropped (an overlay that
 * resets a service or variable then simply does not name it).
 */
export function composeDoc(file: string): Record<string, unknown> {
  return dropResets(YAML.parse(read(file), { merge: true, customTags: COMPOSE_TAGS as never })) as Record<string, unknown>;
}

/** The environment of one compose service, each value classified. */
export function composeEnv(file: string, service = 'realtime'): Map<string, EnvValue> {
  const doc = composeDoc(file) as { services: Record<string, { environment?: Record<string, unknown> | string[] }> };
  const env = doc.services[service]?.environment;
  if (!env) throw new Error(`${file}: service ${service} has no environment`);
  const entries: [string, unknown][] = Array.isArray(env)
    ? env.map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, null] : [e.slice(0, i), e.slice(i + 1)];
      })
    : Object.entries(env);
  const out = new Map<string, EnvValue>();
  for (const [k, v] of entries) {
    if (v === null || v === undefined) {
      out.set(k, { kind: 'passthrough' });
      continue;
    }
    const s = String(v);
    const m = /^\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}$/.exec(s);
    out.set(k, m ? { kind: 'interpolated', name: m[1], fallback: m[2] } : { kind: 'literal', value: s });
  }
  return out;
}

/** Every document of a multi-document YAML file. */
export function yamlDocs(file: string): Record<string, unknown>[] {
  return YAML.parseAllDocuments(read(file))
    .map((d) => d.toJS() as Record<string, unknown>)
    .filter(Boolean);
}
