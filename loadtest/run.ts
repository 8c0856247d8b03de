// make loadtest: starts the Switchboard stack and the stock baseline (each its
// own compose project on its own port), runs the Node harness, k6 and
// Artillery against both under the same load, samples every replica, writes
// loadtest/results/<timestamp>/ (report.json, report.md, charts) and removes
// both projects again, also on failure or Ctrl-C.
//
//   PROFILE=smoke|standard|capacity (default standard)
//   LT_ONLY=switchboard|stock        one target only (development)
//   LT_SKIP=k6,artillery             leave tools out (development; smoke refuses it)
//   LT_PATH=bridge|published         how generators reach nginx (default bridge: its
//                                    address on the compose network, no docker-proxy)
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Coordinator } from './harness/coordinator';
import { connectStorm, fanout, presenceChurn, type FanoutResult, type PresenceResult, type StormResult, type Target } from './harness/scenarios';
import { Sampler } from './lib/sampler';
import { freePort, LOAD_LIMITS, LOADTEST, nginxBridgeUrl, ROOT, stackDown, stackUp, type StackSpec } from './lib/stacks';
import { PROFILES } from './profiles';
import { runK6, type ToolResult } from './k6/run';
import { runArtillery } from './artillery/run';
import { writeReport, type Report, type TargetReport } from './report/write';

const profile = PROFILES[process.env.PROFILE || 'standard'];
if (!profile) {
  console.error(`Unknown PROFILE "${process.env.PROFILE}": use smoke, standard or capacity.`);
  process.exit(2);
}
const only = process.env.LT_ONLY;
const pathMode = process.env.LT_PATH === 'published' ? 'published' : 'bridge';
const skip = new Set((process.env.LT_SKIP ?? '').split(',').filter(Boolean));

const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
const outDir = path.join(LOADTEST, 'results', `${stamp}-${profile.name}`);
fs.mkdirSync(outDir, { recursive: true });
const step = (m: string) => console.log(`==> ${m}`);
const info = (m: string) => console.log(`    ${m}`);

function machine() {
  const sh = (c: string) => {
    try {
      return execSync(c, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const others = sh("docker ps --format '{{.Names}}'").split('\n').filter(Boolean);
  return {
    host: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    docker: sh("docker version --format '{{.Server.Version}}'"),
    compose: sh('docker compose version --short') || sh(`DOCKER_CONFIG=${ROOT}/.tools/docker-config docker compose version --short`),
    containersRunning: others.length,
    otherProjectsRunning: [...new Set(others.map((n) => n.replace(/-[a-z]+-\d+$/, '').split('_')[0]))],
  };
}

/** A /24 of our own per project (10.213-215.x.0/24 from the pid), Redis at .10 and MongoDB at .11 (compose/fixed-ips.*.yml). */
function fixedIps(k: number, files: string, extra = ''): Record<string, string> {
  const n = (process.pid * 2 + k) % 700;
  const net = `10.${213 + Math.floor(n / 250)}.${n % 250}`;
  return {
    LT_SUBNET: `${net}.0/24`,
    LT_REDIS_IP: `${net}.10`,
    LT_MONGO_IP: `${net}.11`,
    ...(files ? { SB_COMPOSE_FILES: files } : {}),
    ...(extra ? { LT_EXTRA_COMPOSE: extra } : {}),
  };
}

async function main(): Promise<number> {
  const started = new Date();
  step(`Load test, profile ${profile.name}: results in ${path.relative(ROOT, outDir)}`);
  const before = machine();
  info(`machine: ${before.cpus} cores, load ${before.loadavg.join(' ')}, ${before.containersRunning} containers running (${before.otherProjectsRunning.join(', ') || 'none'})`);

  const pid = process.pid;
  const specs: StackSpec[] = [];
  if (!only || only === 'switchboard')
    specs.push({
      target: 'switchboard',
      label: 'switchboard',
      project: `sblt${pid}`,
      port: await freePort(),
      replicas: profile.replicas,
      env: { ...LOAD_LIMITS, REDIS_ADAPTER: process.env.REDIS_ADAPTER || 'classic', ...fixedIps(0, 'docker-compose.yml:docker-compose.scale.yml:loadtest/compose/fixed-ips.switchboard.yml') },
      log: path.join(outDir, 'stack-switchboard.log'),
    });
  if (!only || only === 'stock')
    specs.push({ target: 'stock', label: 'stock', project: `sbltstock${pid}`, port: await freePort(), replicas: profile.replicas, env: fixedIps(1, '', 'loadtest/compose/fixed-ips.stock.yml'), log: path.join(outDir, 'stack-stock.log') });

  let stopping: Promise<void> | undefined;
  const teardown = () =>
    (stopping ??= (async () => {
      step('Removing the load-test projects (down --volumes)');
      const codes = await Promise.all(specs.map((s) => stackDown(s)));
      specs.forEach((s, i) => info(`${s.project}: down ${codes[i] === 0 ? 'ok' : `FAILED (exit ${codes[i]}, see ${s.log})`}`));
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      console.error(`\n!!  ${sig}: stopping`);
      void teardown().finally(() => process.exit(130));
    });

  const report: Report = { profile: profile.name, startedAt: started.toISOString(), machine: before, settings: profile, targets: {}, failures: [], outDir };
  try {
    step(`Starting ${specs.map((s) => `${s.label} (project ${s.project}, port ${s.port})`).join(' and ')}`);
    // In parallel, but the baseline waits until the Switchboard `up` has its
    // images (on a fresh machine it builds the local base images once; two
    // builders of the same images at once would collide).
    const sb = specs.find((s) => s.target === 'switchboard');
    const imagesReady = async () => {
      while (sb && !fs.existsSync(sb.log)) await new Promise((r) => setTimeout(r, 500));
      while (sb && !/==> Starting project|ERROR/.test(fs.readFileSync(sb.log, 'utf8'))) await new Promise((r) => setTimeout(r, 1000));
    };
    const ups = specs.map(async (s) => {
      if (s.target === 'stock') await imagesReady();
      await stackUp(s);
      info(`${s.label} is up on http://127.0.0.1:${s.port}`);
    });
    await Promise.all(ups);

    const urls = new Map<string, string>();
    for (const s of specs) {
      const published = `http://127.0.0.1:${s.port}`;
      urls.set(s.label, pathMode === 'published' ? published : await nginxBridgeUrl(s));
      info(`${s.label}: generators use ${urls.get(s.label)} (${pathMode === 'published' ? "the published port, through Docker's userland proxy" : 'nginx on the compose bridge network, no userland proxy'}; published: ${published})`);
    }
    report.path = pathMode;
    for (const s of specs) {
      const target: Target = { name: s.label, url: urls.get(s.label)!, presence: s.target === 'switchboard' };
      try {
        report.targets[s.label] = await runHarness(s, target);
      } catch (e) {
        report.targets[s.label] = { label: s.label, project: s.project, url: target.url, replicas: s.replicas, env: s.env, fanout: [], errors: [`harness: ${(e as Error).message}`] };
        console.error(`!!  [${s.label}] harness failed: ${(e as Error).message}`);
      }
    }
    for (const s of specs) {
      const url = urls.get(s.label)!;
      const tr = report.targets[s.label];
      // Each tool on its own: one failing does not keep the others from running.
      const guarded = async (tool: string, run: () => Promise<ToolResult>): Promise<ToolResult> => {
        try {
          return await run();
        } catch (e) {
          return { tool, exitCode: 1, errors: 1, error: (e as Error).message };
        }
      };
      if (!skip.has('k6')) {
        step(`k6 against ${s.label}`);
        tr.k6 = await guarded('k6', () => runK6(url, profile.k6, path.join(outDir, `k6-${s.label}`)));
        info(`k6: exit ${tr.k6.exitCode}, ${summaryLine(tr.k6)}`);
      }
      if (!skip.has('artillery')) {
        step(`Artillery against ${s.label}`);
        tr.artillery = await guarded('artillery', () => runArtillery(url, profile.artillery, path.join(outDir, `artillery-${s.label}`)));
        info(`artillery: exit ${tr.artillery.exitCode}, ${summaryLine(tr.artillery)}`);
      }
      // The connect storm last: on the local MongoDB stand-in (FerretDB +
      // SQLite) a 500 logins/s burst left writes hanging (SQLITE_BUSY, then
      // inserts that never return), which would spoil every later measurement.
      await new Promise((r) => setTimeout(r, 2000));
      await runStorm(s, { name: s.label, url, presence: s.target === 'switchboard' }, tr).catch((e: Error) => report.failures.push(`${s.label} connect storm: ${e.message}`));
    }
  } catch (e) {
    report.failures.push(`run aborted: ${(e as Error).message}`);
    console.error(`!!  ${(e as Error).message}`);
  } finally {
    await teardown();
  }

  report.finishedAt = new Date().toISOString();
  report.machineAfter = machine();
  gates(report);
  await writeReport(report);
  step(`Report: ${path.relative(ROOT, path.join(outDir, 'report.md'))}`);
  if (report.failures.length) {
    for (const f of report.failures) console.error(`!!  ${f}`);
    return 1;
  }
  return 0;
}

function summaryLine(t: ToolResult): string {
  const d = t.delivery;
  return d ? `delivery p50 ${d.p50} ms p99 ${d.p99} ms (${d.count} deliveries), connect p99 ${t.connect?.p99 ?? '-'} ms, errors ${t.errors}` : `no figures (${t.error ?? 'see its log'})`;
}

async function runHarness(s: StackSpec, target: Target): Promise<TargetReport> {
  const out: TargetReport = { label: s.label, project: s.project, url: target.url, replicas: s.replicas, env: s.env, fanout: [] };
  const sampler = new Sampler(s.label, target.url, s.project, s.replicas);
  await sampler.start().catch((e: Error) => console.error(`!!  [${s.label}] sampler: ${e.message}`));
  const h = new Coordinator(profile.workers);
  h.label = `${s.label}`;
  h.progress(true);
  try {
    const pp = profile.population;
    step(`[${s.label}] fan-out population: ${pp.sockets} sockets at ${pp.rate}/s into ${pp.rooms} rooms`);
    h.label = `${s.label} population`;
    const popRun = await connectStorm(h, target, { ...pp, transports: ['websocket'], tag: `${s.label}-population` });
    out.population = popRun.result;
    info(`connected ${popRun.result.ok}, failed ${popRun.result.failed}; connect+join p99 ${popRun.result.latency.connectJoin?.p99} ms`);
    const pop = popRun.pop;
    for (const f of [profile.warmup, ...profile.fanout]) {
      step(`[${s.label}] ${f.phase}: ${profile.storm.rooms} rooms, ${f.msgPerSec} msg/s for ${f.durationS} s`);
      h.label = `${s.label} ${f.phase}`;
      sampler.phase = f.phase;
      const r: FanoutResult = await fanout(h, pop, f);
      if (f !== profile.warmup) out.fanout.push(r);
      info(`delivery ratio ${r.deliveryRatio.toFixed(4)} (lost ${r.loss.lost}, dup ${r.loss.duplicated}, reordered ${r.loss.reordered}); p50 ${r.latency.delivery?.p50} p99 ${r.latency.delivery?.p99} max ${r.latency.delivery?.max} ms; ${r.deliveriesPerSec} deliveries/s`);
    }
    await h.disconnectAll();
    if (target.presence) {
      step(`[${s.label}] presence churn: ${profile.churn.churners} users at ${profile.churn.rate}/s, each online ${profile.churn.holdMs} ms`);
      h.label = `${s.label} presence`;
      try {
        const p: PresenceResult = await presenceChurn(h, target, { ...profile.churn, replicas: s.replicas, transports: ['websocket'] });
        out.presence = p;
        info(`presence online p99 ${p.online.p99} ms, offline p99 ${p.offline.p99} ms, missed ${p.missedOnline}/${p.missedOffline}; ${p.connected} of ${p.churners} churners connected`);
      } catch (e) {
        out.errors = [...(out.errors ?? []), `presence churn: ${(e as Error).message}`];
        console.error(`!!  [${s.label}] presence churn failed: ${(e as Error).message}`);
      }
    }
  } finally {
    await h.close();
    await sampler.stop();
    out.samples = sampler.samples;
    out.containers = sampler.containers;
    out.replicaSummary = sampler.summary();
    out.timeline = h.timeline;
  }
  return out;
}

/** The connect storm, run last per target (see below). */
async function runStorm(s: StackSpec, target: Target, out: TargetReport): Promise<void> {
  const h = new Coordinator(profile.workers);
  h.label = `${s.label} storm`;
  h.progress(true);
  try {
    // The connect storm last: on the local MongoDB stand-in (FerretDB + SQLite)
    // a 500 logins/s burst left writes hanging (SQLITE_BUSY, then inserts that
    // never return), which would spoil every later phase of this target.
    step(`[${s.label}] connect storm: ${profile.storm.sockets} sockets at ${profile.storm.rate}/s into ${profile.storm.rooms} rooms`);
    const storm = await connectStorm(h, target, { ...profile.storm, transports: ['websocket'], tag: s.label });
    out.storm = storm.result;
    info(`connected ${storm.result.ok}, failed ${storm.result.failed}; connect+join p99 ${storm.result.latency.connectJoin?.p99} ms`);
    await h.disconnectAll();
  } finally {
    await h.close();
  }
}

/** Smoke gates (the profile inside make test) and the targets of issue 11 (reported, not failing standard). */
function gates(r: Report): void {
  const smoke = r.profile === 'smoke';
  for (const t of Object.values(r.targets)) {
    if (smoke && (!t.storm || t.storm.failed > 0)) r.failures.push(`${t.label}: connect storm had ${t.storm?.failed ?? 'all'} failed clients`);
    if (smoke && (!t.population || t.population.failed > 0)) r.failures.push(`${t.label}: fan-out population had ${t.population?.failed ?? 'all'} failed clients`);
    for (const f of t.fanout) if (smoke && f.deliveryRatio < 1) r.failures.push(`${t.label} ${f.phase}: delivery ratio ${f.deliveryRatio.toFixed(4)} < 1`);
    if (!skip.has('k6') && (!t.k6 || t.k6.exitCode !== 0)) r.failures.push(`${t.label}: k6 ${t.k6 ? `exited ${t.k6.exitCode}` : 'did not run'}${t.k6?.error ? ` (${t.k6.error})` : ''}`);
    if (!skip.has('artillery') && (!t.artillery || t.artillery.exitCode !== 0))
      r.failures.push(`${t.label}: artillery ${t.artillery ? `exited ${t.artillery.exitCode}` : 'did not run'}${t.artillery?.error ? ` (${t.artillery.error})` : ''}`);
  }
  if (smoke && skip.size) r.failures.push(`smoke must run every tool; LT_SKIP=${[...skip].join(',')} was set`);
  if (!only && Object.keys(r.targets).length < 2) r.failures.push('not every target ran');
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
