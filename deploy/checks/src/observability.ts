// The Prometheus image for the observability profile: PROMETHEUS_IMAGE when
// set, the official one when present or pullable, else a local one built
// from Debian's prometheus package (deploy/observability/prometheus).
import path from 'node:path';
import { BASE_IMAGE, dockerBuild } from '../../stack/src/images';
import { exec } from '../../stack/src/exec';
import { ROOT } from './sources';

export const OFFICIAL_PROMETHEUS = 'prom/prometheus:v3.5.0';
export const LOCAL_PROMETHEUS = 'switchboard/prometheus:local';

export async function prometheusImage(): Promise<string> {
  if (process.env.PROMETHEUS_IMAGE) return process.env.PROMETHEUS_IMAGE;
  const has = async (ref: string) => (await exec('docker', ['image', 'inspect', '--format', '{{.Id}}', ref])).code === 0;
  if (await has(OFFICIAL_PROMETHEUS)) return OFFICIAL_PROMETHEUS;
  // The other local images exist (readyImages ran first): the registry is unreachable, do not wait on it.
  if (process.env.SB_IMAGES !== 'local' && !(await has('switchboard/redis:7-local'))) {
    if ((await exec('docker', ['pull', OFFICIAL_PROMETHEUS], { timeoutMs: 5 * 60_000 })).code === 0) return OFFICIAL_PROMETHEUS;
  }
  const dir = path.join(ROOT, 'deploy/observability/prometheus');
  // The classic builder caches every step, so building again when the image exists is cheap.
  await dockerBuild({ tag: LOCAL_PROMETHEUS, context: dir, dockerfile: path.join(dir, 'Dockerfile'), buildArgs: { BASE_IMAGE }, what: `local image ${LOCAL_PROMETHEUS}` });
  return LOCAL_PROMETHEUS;
}

/** Metric names a Prometheus text exposition declares (# TYPE), histograms with their series. */
export function exposedMetricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m[1] + s);
    if (m[2] === 'summary') for (const s of ['_sum', '_count']) names.add(m[1] + s);
  }
  for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) names.add(m[1]);
  return names;
}

const PROMQL_WORDS = new Set([
  'sum', 'by', 'without', 'rate', 'irate', 'increase', 'histogram_quantile', 'count', 'avg', 'max', 'min', 'on', 'ignoring',
  'group_left', 'group_right', 'and', 'or', 'unless', 'le', 'offset', 'topk', 'bottomk', 'label_values', 'clamp_min', 'abs',
]);

/** Every metric name the queries of a Grafana dashboard use (panels, rows, templating). */
export function dashboardMetricNames(dashboard: unknown): Set<string> {
  const exprs: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'expr' || k === 'query' || k === 'definition') && typeof x === 'string') exprs.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  const names = new Set<string>();
  for (const e of exprs) {
    const bare = e
      .replace(/\{[^}]*\}/g, ' ') // label matchers
      .replace(/\[[^\]]*\]/g, ' ') // ranges
      .replace(/"[^"]*"/g, ' ')
      .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' ') // grouping labels
      .replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,[^)]*\)/g, '$1');
    for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
      const w = m[0];
      if (PROMQL_WORDS.has(w) || w.startsWith('$') || /^\d/.test(w)) continue;
      names.add(w);
    }
  }
  return names;
}
