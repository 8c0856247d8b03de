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
//   LT_SCENARIOS=chat,soak,...       run these scenarios instead of the profile's list
//                                    (profiles.ts SCENARIOS; development and one-off runs)
//   LT_VARIANTS=sharded,polling      only these of the profile's variants
//   LT_K6_NETWORK=1                  k6 from a container on each project's network
//                                    (compose loadtest profile) instead of the host
//   REDIS_ADAPTER=sharded|streams    the main Switchboard cluster's adapter (default classic)
//
// Options are read in main() (lib/options.ts); a bad value exits 2.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Coordinator } from './harness/coordinator';
import { connectStorm, fanout, presenceChurn, requireConnected, type FanoutResult, type PresenceResult, type StormResult, type Target } from './harness/scenarios';
import { Sampler } from './lib/sampler';
import { OptionError, parseOptions, type RunOptions } from './lib/options';
import { freePort } from '@switchboard/test-kit';
import { LOAD_LIMITS, LOADTEST, nginxBridgeUrl, prepareImages, ROOT, stackDown, stackUp, type StackSpec } from './lib/stacks';
import type { Profile, Scenario, Variant } from './profiles';
import type { ScenarioCtx } from './harness/context';
import { runChatMix } from './harness/chat-mix';
import { runSoak } from './harness/soak';
import { runChaos } from './harness/chaos';
import { runCapacity } from './harness/capacity';
import { runVariants } from './harness/variants';
import { buildK6Image, K6_IMAGE, runPaths } from './k6/paths';
import { runK6, type ToolResult } from './k6/run';
import { runArtillery } from './artillery/run';
import type { Report, TargetReport } from './report/types';
import { writeReport } from './report/write';

const step = (m: string) => console.log(`==> ${m}`);
const info = (m: string) => console.log(`    ${m}`);

/** loadtest/results/<timestamp>-<profile>/ */
function resultsDir(profile: Profile): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
  return path.join(LOADTEST, 'results', `${stamp}-${profile.name}`);
}

function machine() {
  const sh = (c: string) => {
    try {
      return execSync(c, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return ''; // the machine facts are context, not results: a missing docker leaves its field empty
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

const SWITCHBOARD_FILES = 'docker-compose.yml:docker-compose.scale.yml:loadtest/compose/fixed-ips.switchboard.yml';

/** A compose project of its own for a variant (harness/variants.ts starts and removes it). */
async function variantSpec(v: Variant, k: number, profile: Profile, outDir: string): Promise<StackSpec> {
  const replicas = v.replicas ?? profile.replicas;
  const project = `sbltv${k}${process.pid}`;
  const log = path.join(outDir, `stack-variant-${v.label}.log`);
  if ((v.target ?? 'switchboard') === 'stock') return { target: 'stock', label: v.label, project, port: await freePort(), replicas, env: fixedIps(k, '', 'loadtest/compose/fixed-ips.stock.yml'), log };
  // A Redis topology brings its own overlay and its own Redis addresses (no fixed-IP single Redis).
  const files = v.composeFiles?.length ? ['docker-compose.yml', 'docker-compose.scale.yml', ...v.composeFiles].join(':') : SWITCHBOARD_FILES;
  const env = { ...LOAD_LIMITS, REDIS_ADAPTER: 'classic', ...(v.composeFiles?.length ? { SB_COMPOSE_FILES: files } : fixedIps(k, files)), ...(v.env ?? {}) };
  return { target: 'switchboard', label: v.label, project, port: await freePort(), replicas, env, log, upArgs: v.redisMode ? ['--redis', v.redisMode] : undefined };
}

async function main(): Promise<number> {
  let options: RunOptions;
  try {
    options = parseOptions(process.env);
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    console.error(e.message);
    return e.exitCode;
  }
  const { profile, only, pathMode, scenarios } = options;
  const outDir = resultsDir(profile);
  fs.mkdirSync(outDir, { recursive: true });
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
      env: { ...LOAD_LIMITS, REDIS_ADAPTER: options.redisAdapter, ...fixedIps(0, SWITCHBOARD_FILES) },
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
    // The stock baseline runs on the same base images as Switchboard: they
    // are pulled or built once, before either project starts (on a fresh
    // machine two builders of the same images at once would collide); then
    // both start in parallel.
    const switchboard = specs.find((s) => s.target === 'switchboard');
    if (switchboard) {
      step('Preparing the images (pulled or built once for both projects)');
      await prepareImages(switchboard);
    }
    await Promise.all(
      specs.map(async (s) => {
        await stackUp(s);
        info(`${s.label} is up on http://127.0.0.1:${s.port}`);
      }),
    );

    const urls = new Map<string, string>();
    for (const s of specs) {
      const published = `http://127.0.0.1:${s.port}`;
      urls.set(s.label, pathMode === 'published' ? published : await nginxBridgeUrl(s));
      info(`${s.label}: generators use ${urls.get(s.label)} (${pathMode === 'published' ? "the published port, through Docker's userland proxy" : 'nginx on the compose bridge network, no userland proxy'}; published: ${published})`);
    }
    report.path = pathMode;
    report.scenarios = [...scenarios];
    const ctxOf = (s: StackSpec): ScenarioCtx => ({
      spec: s,
      target: { name: s.label, url: urls.get(s.label)!, presence: s.target === 'switchboard' },
      profile,
      switchboard: s.target === 'switchboard',
      transports: ['websocket'],
      step,
      info,
    });
    for (const s of specs) {
      const target: Target = { name: s.label, url: urls.get(s.label)!, presence: s.target === 'switchboard' };
      const url = target.url;
      report.targets[s.label] = { label: s.label, project: s.project, url, replicas: s.replicas, env: s.env, fanout: [] };
      const tr = report.targets[s.label];
      if (scenarios.has('fanout') || scenarios.has('presence'))
        try {
          Object.assign(tr, await runHarness(s, target, options));
        } catch (e) {
          tr.errors = [...(tr.errors ?? []), `harness: ${(e as Error).message}`];
          (tr.failed ??= {}).harness = (e as Error).message;
          console.error(`!!  [${s.label}] harness failed: ${(e as Error).message}`);
        }
      for (const [name, why] of Object.entries(tr.failed ?? {})) console.error(`!!  [${s.label}] ${name} failed: ${why}`);
      // Each tool on its own: one failing does not keep the others from running.
      const guarded = async (tool: string, run: () => Promise<ToolResult>): Promise<ToolResult> => {
        try {
          return await run();
        } catch (e) {
          return { tool, exitCode: 1, errors: 1, error: (e as Error).message };
        }
      };
      if (scenarios.has('k6')) {
        step(`k6 against ${s.label}`);
        // LT_K6_NETWORK=1: k6 from a container on the project's network (compose loadtest profile) instead of the host.
        const inNet = options.k6Network ? { network: `${s.project}_default`, image: K6_IMAGE, project: `${s.project}k6` } : undefined;
        if (inNet) await buildK6Image();
        tr.k6 = await guarded('k6', () => runK6(url, profile.k6, path.join(outDir, `k6-${s.label}`), inNet));
        info(`k6: exit ${tr.k6.exitCode}, ${summaryLine(tr.k6)}`);
      }
      if (scenarios.has('artillery')) {
        step(`Artillery against ${s.label}`);
        tr.artillery = await guarded('artillery', () => runArtillery(url, profile.artillery, path.join(outDir, `artillery-${s.label}`)));
        info(`artillery: exit ${tr.artillery.exitCode}, ${summaryLine(tr.artillery)}`);
      }
      // The scenarios with their own clients, each guarded the same way.
      const scenario = async <T>(name: Scenario, run: () => Promise<T>): Promise<T | undefined> => {
        if (!scenarios.has(name)) return undefined;
        if (!profile[name as 'chat' | 'soak' | 'chaos' | 'capacity']) {
          report.failures.push(`${s.label} ${name}: profile ${profile.name} has no settings for it`);
          return undefined;
        }
        try {
          return await run();
        } catch (e) {
          (tr.failed ??= {})[name] = (e as Error).message; // gates() makes it a failure of the run
          console.error(`!!  [${s.label}] ${name} failed: ${(e as Error).message}`);
          return undefined;
        }
      };
      tr.chat = await scenario('chat', () => runChatMix(ctxOf(s), profile.workers));
      tr.soak = await scenario('soak', () => runSoak(ctxOf(s), profile.workers));
      tr.chaos = await scenario('chaos', () => runChaos(ctxOf(s), profile.workers));
      tr.capacity = await scenario('capacity', () => runCapacity(ctxOf(s), profile.workers));
      if (scenarios.has('paths')) {
        step(`[${s.label}] where the load comes from: k6 (${profile.k6.sockets} sockets, ${profile.k6.msgPerSec} msg/s) via the published port, the bridge address, and from inside the compose network`);
        const bridge = pathMode === 'bridge' ? url : await nginxBridgeUrl(s);
        tr.paths = await runPaths(s, bridge, profile.k6, outDir, info).catch((e: Error) => {
          report.failures.push(`${s.label} paths: ${e.message}`);
          return undefined;
        });
      }
    }
    if (scenarios.has('variants') && profile.variants && profile.variantLoad) {
      const list = profile.variants.filter((v) => !options.variants.length || options.variants.includes(v.label));
      let k = 2;
      report.variants = await runVariants(
        {
          profile,
          main: specs.map((s) => ({ spec: s, url: urls.get(s.label)! })),
          pathMode,
          step,
          info,
          specFor: async (v: Variant) => variantSpec(v, k++, profile, outDir),
        },
        list,
      ).catch((e: Error) => {
        report.failures.push(`variants: ${e.message}`);
        return [];
      });
    }
    // The connect storm last: a login burst can leave the local MongoDB
    // stand-in (FerretDB on SQLite) with writes hanging (SQLITE_BUSY, then
    // inserts that never return, docs/benchmarks.md), which would spoil every
    // later measurement.
    if (scenarios.has('storm'))
      for (const s of specs) {
        const url = urls.get(s.label)!;
        await new Promise((r) => setTimeout(r, 2000));
        await runStorm(s, { name: s.label, url, presence: s.target === 'switchboard' }, report.targets[s.label], profile).catch((e: Error) => {
          (report.targets[s.label].failed ??= {}).storm = e.message; // gates() makes it a failure of the run
        });
      }
  } catch (e) {
    report.failures.push(`run aborted: ${(e as Error).message}`);
    console.error(`!!  ${(e as Error).message}`);
  } finally {
    await teardown();
  }

  report.finishedAt = new Date().toISOString();
  report.machineAfter = machine();
  gates(report, options);
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

/** The fan-out population, the warm-up and the fan-out phases. */
async function runFanout(s: StackSpec, target: Target, h: Coordinator, sampler: Sampler, out: TargetReport, profile: Profile): Promise<void> {
  const pp = profile.population;
  step(`[${s.label}] fan-out population: ${pp.sockets} sockets at ${pp.rate}/s into ${pp.rooms} rooms`);
  h.label = `${s.label} population`;
  const popRun = await connectStorm(h, target, { ...pp, transports: ['websocket'], tag: `${s.label}-population` });
  out.population = popRun.result;
  info(`connected ${popRun.result.ok}, failed ${popRun.result.failed}; connect+join p99 ${popRun.result.latency.connectJoin?.p99} ms`);
  requireConnected(popRun.result, 'population');
  if (popRun.result.shortfall) info(`shortfall: ${popRun.result.shortfall}; going on with the sockets it has`);
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
}

async function runHarness(s: StackSpec, target: Target, { profile, scenarios }: RunOptions): Promise<TargetReport> {
  const out: TargetReport = { label: s.label, project: s.project, url: target.url, replicas: s.replicas, env: s.env, fanout: [] };
  const sampler = new Sampler(s.label, target.url, s.project, s.replicas);
  await sampler.start().catch((e: Error) => console.error(`!!  [${s.label}] sampler: ${e.message}`));
  const h = new Coordinator(profile.workers);
  h.label = `${s.label}`;
  h.progress(true);
  const fail = (name: string, e: unknown) => {
    const why = (e as Error).message;
    out.errors = [...(out.errors ?? []), `${name}: ${why}`];
    (out.failed ??= {})[name] = why;
  };
  try {
    // Each on its own: a fan-out that could not connect does not keep presence churn from running.
    if (scenarios.has('fanout'))
      try {
        await runFanout(s, target, h, sampler, out, profile);
      } catch (e) {
        fail('fanout', e);
        // The failure is recorded above; this only frees the sockets for presence churn, and close() ends the workers anyway.
        await h.disconnectAll().catch(() => undefined);
      }
    if (target.presence && scenarios.has('presence')) {
      step(`[${s.label}] presence churn: ${profile.churn.churners} users at ${profile.churn.rate}/s, each online ${profile.churn.holdMs} ms`);
      h.label = `${s.label} presence`;
      try {
        const p: PresenceResult = await presenceChurn(h, target, { ...profile.churn, replicas: s.replicas, transports: ['websocket'] });
        out.presence = p;
        info(`presence online p99 ${p.online.p99} ms, offline p99 ${p.offline.p99} ms, missed ${p.missedOnline}/${p.missedOffline}; ${p.connected} of ${p.churners} churners connected`);
      } catch (e) {
        fail('presence', e);
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
async function runStorm(s: StackSpec, target: Target, out: TargetReport, profile: Profile): Promise<void> {
  const h = new Coordinator(profile.workers);
  h.label = `${s.label} storm`;
  h.progress(true);
  try {
    // Run last of all (see main()): a login burst can wedge the database stand-in.
    step(`[${s.label}] connect storm: ${profile.storm.sockets} sockets at ${profile.storm.rate}/s into ${profile.storm.rooms} rooms`);
    const storm = await connectStorm(h, target, { ...profile.storm, transports: ['websocket'], tag: s.label });
    out.storm = storm.result;
    info(`connected ${storm.result.ok}, failed ${storm.result.failed}; connect+join p99 ${storm.result.latency.connectJoin?.p99} ms`);
    requireConnected(storm.result);
    await h.disconnectAll();
  } finally {
    await h.close();
  }
}

/** The smoke gates (the profile inside make test); the targets are reported, they do not fail a standard run. */
function gates(r: Report, { only, scenarios, skip }: RunOptions): void {
  const smoke = r.profile === 'smoke';
  for (const v of r.variants ?? []) if (v.error) r.failures.push(`variant ${v.label}: ${v.error}`);
  for (const t of Object.values(r.targets)) {
    // A scenario that could not be carried out (no socket connected within its deadline, ...): its reason.
    for (const [name, why] of Object.entries(t.failed ?? {})) r.failures.push(`${t.label} ${name}: ${why}`);
    if (t.soak?.leaked) r.failures.push(`${t.label} soak: memory growth over the leak rule (${Object.entries(t.soak.replicas).filter(([, x]) => x.leak).map(([k, x]) => `${k}: ${x.why}`).join('; ')})`);
    if (smoke && t.chat && (t.chat.counts.completed ?? 0) < t.chat.users) r.failures.push(`${t.label} chat mix: ${t.chat.counts.completed ?? 0} of ${t.chat.users} users completed (${Object.entries(t.chat.errors).map(([k, v]) => `${k}: ${v}`).join(', ')})`);
    if (t.chaos?.errors.length) r.failures.push(`${t.label} chaos: ${t.chaos.errors.join('; ')}`);
    for (const p of t.paths ?? []) if (p.k6.exitCode !== 0) r.failures.push(`${t.label} k6 via ${p.path}: exit ${p.k6.exitCode}${p.k6.error ? ` (${p.k6.error.slice(0, 160)})` : ''}`);
    if (t.capacity?.errors.length) r.failures.push(`${t.label} capacity: ${t.capacity.errors.join('; ')}`);
    if (smoke && scenarios.has('storm') && (!t.storm || t.storm.failed > 0)) r.failures.push(`${t.label}: connect storm had ${t.storm?.failed ?? 'all'} failed clients`);
    if (smoke && scenarios.has('fanout') && (!t.population || t.population.failed > 0)) r.failures.push(`${t.label}: fan-out population had ${t.population?.failed ?? 'all'} failed clients`);
    for (const f of t.fanout) if (smoke && f.deliveryRatio < 1) r.failures.push(`${t.label} ${f.phase}: delivery ratio ${f.deliveryRatio.toFixed(4)} < 1`);
    if (scenarios.has('k6') && (!t.k6 || t.k6.exitCode !== 0)) r.failures.push(`${t.label}: k6 ${t.k6 ? `exited ${t.k6.exitCode}` : 'did not run'}${t.k6?.error ? ` (${t.k6.error})` : ''}`);
    if (scenarios.has('artillery') && (!t.artillery || t.artillery.exitCode !== 0))
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
