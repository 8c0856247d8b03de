// The observability profile on a real engine: the dev stack (via the stack
// CLI, in its own project on free ports) plus Prometheus from the
// `observability` profile, behind the password its secrets hold. Every replica's
// internal metrics port is an `up` target; a replica added with the CLI's
// `scale` (what `make scale` runs) becomes one without edits; every metric the
// Grafana dashboard queries exists in a replica's /metrics; nginx serves none.
// Grafana itself has no Debian package and cannot be pulled here: its
// provisioning files and dashboard are checked statically.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { docker, eventually, exec, freePort, readyImages, request } from '../src/docker';
import { dashboardMetricNames, exposedMetricNames, prometheusImage } from '../src/observability';
import { read, ROOT } from '../src/sources';

const PROJECT = `sbobs${process.pid}`;
const DASHBOARD = JSON.parse(read('deploy/observability/grafana/dashboards/switchboard.json'));
/** Series Prometheus makes itself, not a replica. */
const PROMETHEUS_OWN = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
let env: NodeJS.ProcessEnv = {};
let base = '';
let prom = '';
const secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-obs-'));
/** Prometheus' basic auth, from the secret deploy/observability/make-secrets.sh wrote. */
let promAuth: Record<string, string> = {};
const promGet = (route: string) => request(`${prom}${route}`, { headers: promAuth });

function cli(...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/stack/src/cli.ts', ...args], { cwd: ROOT, env });
    let output = '';
    const take = (c: Buffer) => {
      output += c.toString();
      process.stderr.write(c);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}
const compose = (args: string[]) =>
  docker(['compose', '-p', PROJECT, '--project-directory', ROOT, '-f', path.join(ROOT, 'docker-compose.yml'), '-f', path.join(ROOT, 'docker-compose.scale.yml'), '--profile', 'observability', ...args], { env });

interface Target {
  labels: Record<string, string>;
  health: string;
  scrapeUrl: string;
}
async function realtimeTargets(): Promise<Target[]> {
  const r = await promGet('/api/v1/targets?state=active');
  return r.json<{ data: { activeTargets: Target[] } }>().data.activeTargets.filter((t) => t.labels.job === 'realtime');
}
async function upTargets(n: number): Promise<Target[] | undefined> {
  const t = await realtimeTargets();
  return t.length === n && t.every((x) => x.health === 'up') ? t : undefined;
}
async function replicaIps(): Promise<string[]> {
  const ids = (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=realtime'])).stdout.trim().split('\n').filter(Boolean);
  const ips: string[] = [];
  for (const id of ids) ips.push((await docker(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', id])).stdout.trim());
  return ips.sort();
}

describe('observability profile: Prometheus finds every replica, the dashboard queries real metrics', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    const images = await readyImages();
    const promImage = await prometheusImage();
    const [httpPort, promPort] = [await freePort(), await freePort()];
    env = { ...process.env, ...images, PROMETHEUS_IMAGE: promImage, SB_PROJECT: PROJECT, SB_HTTP_PORT: String(httpPort), SB_BIND: '127.0.0.1', SB_PROMETHEUS_PORT: String(promPort), SB_OBSERVABILITY_SECRETS_DIR: path.join(secretsDir, 'secrets') };
    const made = await exec(path.join(ROOT, 'deploy/observability/make-secrets.sh'), [], { env });
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const password = fs.readFileSync(path.join(secretsDir, 'secrets/prometheus_password'), 'utf8').trim();
    promAuth = { authorization: `Basic ${Buffer.from(`switchboard:${password}`).toString('base64')}` };
    base = `http://127.0.0.1:${httpPort}`;
    prom = `http://127.0.0.1:${promPort}`;
    const up = await cli('up', '--replicas', '2');
    assert.equal(up.code, 0, `stack up failed:\n${up.output.split('\n').slice(-20).join('\n')}`);
    // The profile's Prometheus alone (Grafana cannot be pulled here).
    const started = await compose(['up', '-d', '--wait', '--wait-timeout', '120', '--no-build', '--no-recreate', 'prometheus']);
    assert.equal(started.code, 0, started.stdout + started.stderr);
  });

  after(async () => {
    const down = await compose(['down', '--volumes', '--remove-orphans', '--timeout', '20']);
    fs.rmSync(path.join(ROOT, '.stack/nginx', PROJECT), { recursive: true, force: true });
    fs.rmSync(secretsDir, { recursive: true, force: true });
    assert.equal(down.code, 0, down.stderr);
  });

  it('Prometheus asks for its password; nginx serves no /metrics', async () => {
    assert.equal((await request(`${prom}/api/v1/targets`)).status, 401);
    assert.equal((await request(`${prom}/api/v1/targets`, { headers: { authorization: `Basic ${Buffer.from('switchboard:wrong').toString('base64')}` } })).status, 401);
    assert.equal((await promGet('/api/v1/targets')).status, 200);
    assert.equal((await request(`${base}/metrics?cid=metrics-probe`)).status, 404);
  });

  it('every replica is an up target, labelled with its replica name', async () => {
    const targets = await eventually('2 realtime targets up', () => upTargets(2), 60_000);
    const addresses = targets.map((t) => new URL(t.scrapeUrl).hostname).sort();
    assert.deepEqual(addresses, await replicaIps());
    assert.ok(targets.every((t) => new URL(t.scrapeUrl).port === '9464'), 'Prometheus scrapes the internal metrics port');
    const q = await promGet(`/api/v1/query?query=${encodeURIComponent('sb_socket_connections')}`);
    const instances = q.json<{ data: { result: { metric: { instance: string } }[] } }>().data.result.map((r) => r.metric.instance).sort();
    assert.deepEqual(instances, ['realtime-1', 'realtime-2']);
  });

  it('a replica added with `scale` becomes an up target without edits', async () => {
    const scaled = await cli('scale', '--replicas', '3');
    assert.equal(scaled.code, 0, scaled.output.split('\n').slice(-15).join('\n'));
    const targets = await eventually('3 realtime targets up after scale 3', () => upTargets(3), 90_000);
    assert.deepEqual(targets.map((t) => new URL(t.scrapeUrl).hostname).sort(), await replicaIps());
    const q = await promGet(`/api/v1/query?query=${encodeURIComponent('sum(up{job="realtime"})')}`);
    assert.equal(q.json<{ data: { result: { value: [number, string] }[] } }>().data.result[0].value[1], '3');
  });

  it("every metric the Grafana dashboard queries exists in a replica's /metrics", async () => {
    // From a replica's internal listener, inside its container (nginx does not proxy that port).
    const r = await compose(['exec', '-T', '--index', '1', 'realtime', 'node', '-e', "fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
    assert.equal(r.code, 0, r.stderr);
    const exposed = exposedMetricNames(r.stdout);
    const queried = dashboardMetricNames(DASHBOARD);
    assert.ok(queried.size >= 15, `the dashboard queries only ${queried.size} metrics`);
    const missing = [...queried].filter((m) => !exposed.has(m) && !PROMETHEUS_OWN.has(m));
    assert.deepEqual(missing, [], `queried by the dashboard but not in /metrics: ${missing.join(', ')}`);
    // And Prometheus has scraped them (a series exists for a plain gauge).
    const q = await promGet(`/api/v1/series?match[]=${encodeURIComponent('sb_redis_up')}`);
    assert.ok(q.json<{ data: unknown[] }>().data.length >= 3);
  });

  it('the dashboard covers what operators ask for, and Grafana provisioning points at it', () => {
    const queried = dashboardMetricNames(DASHBOARD);
    for (const m of ['sb_socket_connections', 'sb_socket_events_in_total', 'sb_socket_events_out_total', 'sb_socket_ack_seconds_bucket', 'sb_broadcasts_total', 'sb_redis_up', 'sb_rate_limited_total', 'sb_cache_lookups_total', 'sb_jobs_total', 'nodejs_eventloop_lag_p99_seconds', 'sb_unhandled_rejections_total']) {
      assert.ok(queried.has(m), `the dashboard does not show ${m}`);
    }
    const uids = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (o.datasource && typeof o.datasource === 'object') uids.add(String((o.datasource as { uid: string }).uid));
        Object.values(o).forEach(walk);
      }
    };
    walk(DASHBOARD);
    const ds = YAML.parse(read('deploy/observability/grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; url: string }[] };
    assert.deepEqual([...uids], [ds.datasources[0].uid]);
    assert.equal(ds.datasources[0].url, 'http://prometheus:9090');
    assert.equal((ds.datasources[0] as { basicAuth?: boolean }).basicAuth, true, 'Grafana reaches Prometheus with its password');
    const ids = DASHBOARD.panels.map((p: { id: number }) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  });
});
