// make loadtest: measures the Switchboard stack and a stock Socket.IO baseline
// under the same load. Each target gets a fresh compose project of its own,
// started right before it is measured and removed right after; the profile's
// headline scenarios run in `repeats` rounds, the targets in alternation
// (ABAB...), and the report gives their median and range. Every metered
// phase records the CPU each container, the generators and the machine spent
// (lib/accounting.ts). Writes loadtest/results/<timestamp>/ (report.json,
// report.md, charts) and removes every project again, also on failure or
// Ctrl-C.
//
//   PROFILE=smoke|standard|capacity (default standard)
//   LT_ONLY=switchboard|stock        one target only (development)
//   LT_SKIP=k6,artillery             leave tools out (development; smoke refuses it)
//   LT_PATH=bridge|published         how generators reach nginx (default bridge: its
//                                    address on the compose network, no docker-proxy)
//   LT_SCENARIOS=chat,soak,...       run these scenarios instead of the profile's list
//                                    (profiles.ts SCENARIOS; development and one-off runs)
//   LT_VARIANTS=sharded,polling      only these of the profile's variants
//   LT_REDIS=single|cluster|sentinel the chaos stacks' Redis topology (make loadtest REDIS=...)
//   LT_FAULTS=freeze,mongo           the chaos matrix's faults instead of the profile's (profiles.ts FAULTS)
//   LT_K6_NETWORK=1                  k6 from a container on each project's network
//                                    (compose loadtest profile) instead of the host
//   REDIS_ADAPTER=sharded|streams    the main Switchboard cluster's adapter (default classic)
//   LT_NETWORK=bridge|host           the main targets on their project's bridge network, or nginx and
//                                    the replicas on the host's (compose/host-network.yml); default the profile's
//   LT_CPUSET=stack:0,generators:1   the containers (docker update --cpuset-cpus) and the generators
//                                    (taskset) on separate cores, for steadier ratios
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
import { HOST_NETWORK_OVERLAY, hostNetworkEnv, liveStacks, LOAD_LIMITS, LOADTEST, NGINX_CONF_OVERLAY, nginxBridgeUrl, nginxConfLogging5xx, pinProject, prepareImages, ROOT, stackDown, stackUp, type StackSpec } from './lib/stacks';
import { PhaseMeter } from './lib/accounting';
import { settle, settledLine } from './lib/settle';
import { metric } from './lib/prom';
import { rateSearch } from './harness/search';
import { accountingProblems } from './report/summary';
import { chaosProblems } from './report/sections/chaos';
import { startLocalStock, type LocalStock } from './lib/local-stock';
import { ProcReader } from './lib/proc-cpu';
import { ReplicaMetrics } from './lib/replica-metrics';
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
import type { Report, RoundFigures, TargetReport } from './report/types';
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

/**
 * A /24 of our own per project (10.213-215.x.0/24 from the pid), Redis at .10 and MongoDB at .11 (compose/fixed-ips.*.yml);
 * with `redisNetwork` (compose/redis-network.yml) Redis on a /24 of its own instead (10.216-218.x.0/24).
 */
function fixedIps(k: number, files: string, extra = '', redisNetwork = false): Record<string, string> {
  const n = (process.pid * 2 + k) % 700;
  const net = `10.${213 + Math.floor(n / 250)}.${n % 250}`;
  const redisNet = `10.${216 + Math.floor(n / 250)}.${n % 250}`;
  return {
    LT_SUBNET: `${net}.0/24`,
    LT_REDIS_IP: `${redisNetwork ? redisNet : net}.10`,
    LT_MONGO_IP: `${net}.11`,
    ...(redisNetwork ? { LT_REDIS_SUBNET: `${redisNet}.0/24` } : {}),
    ...(files ? { SB_COMPOSE_FILES: files } : {}),
    ...(extra ? { LT_EXTRA_COMPOSE: extra } : {}),
  };
}

const SWITCHBOARD_FILES = 'docker-compose.yml:docker-compose.scale.yml:loadtest/compose/fixed-ips.switchboard.yml';

/** A compose project of its own for a variant (harness/variants.ts starts and removes it). */
async function variantSpec(v: Variant, k: number, profile: Profile, outDir: string, redisAdapter: string): Promise<StackSpec> {
  const replicas = v.replicas ?? profile.replicas;
  const project = `sbltv${k}${process.pid}`;
  const log = path.join(outDir, `stack-variant-${v.label}.log`);
  if ((v.target ?? 'switchboard') === 'stock') return { target: 'stock', label: v.label, project, port: await freePort(), replicas, env: fixedIps(k, '', 'loadtest/compose/fixed-ips.stock.yml'), log };
  // A Redis topology brings its own overlay and its own Redis addresses (no fixed-IP single Redis).
  const files = v.composeFiles?.length ? ['docker-compose.yml', 'docker-compose.scale.yml', ...v.composeFiles].join(':') : SWITCHBOARD_FILES;
  const env = { ...LOAD_LIMITS, REDIS_ADAPTER: redisAdapter, ...(v.composeFiles?.length ? { SB_COMPOSE_FILES: files } : fixedIps(k, files)), ...(v.env ?? {}) };
  return { target: 'switchboard', label: v.label, project, port: await freePort(), replicas, env, log, upArgs: v.redisMode ? ['--redis', v.redisMode] : undefined };
}

/**
 * The chaos matrix's stack for a target (harness/chaos.ts): a fresh project of its own on the bridge network
 * (a replica on the host's network cannot be cut from Redis), Redis on a network of its own
 * (compose/redis-network*.yml) in the topology of LT_REDIS (Switchboard; the stock baseline has one Redis), and nginx
 * logging its 5xx answers (compose/nginx-conf.yml).
 */
async function chaosSpec(kind: 'switchboard' | 'stock', k: number, profile: Profile, outDir: string, options: RunOptions): Promise<StackSpec> {
  const project = kind === 'switchboard' ? `sbltc${process.pid}` : `sbltcstock${process.pid}`;
  const log = path.join(outDir, `stack-chaos-${kind}.log`);
  const port = await freePort();
  const nginx = { LT_NGINX_CONF: nginxConfLogging5xx(project, outDir) };
  if (kind === 'stock') return { target: 'stock', label: 'stock', project, port, replicas: profile.replicas, env: { ...fixedIps(k, '', `loadtest/compose/fixed-ips.stock.yml:loadtest/compose/redis-network.yml:${NGINX_CONF_OVERLAY}`, true), ...nginx }, log, redis: 'single' };
  const env: Record<string, string> = { ...LOAD_LIMITS, REDIS_ADAPTER: options.chaosAdapter, ...nginx };
  if (options.redis === 'single') Object.assign(env, fixedIps(k, `${SWITCHBOARD_FILES}:loadtest/compose/redis-network.yml:${NGINX_CONF_OVERLAY}`, '', true));
  else {
    // A topology's own overlay reaches its nodes by name (no fixed addresses), on a Redis network with a subnet of its own.
    const { LT_REDIS_SUBNET } = fixedIps(k, '', '', true);
    env.LT_REDIS_SUBNET = LT_REDIS_SUBNET;
    env.SB_COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.scale.yml', `docker-compose.redis-${options.redis}.yml`, `loadtest/compose/redis-network.${options.redis}.yml`, NGINX_CONF_OVERLAY].join(':');
  }
  return { target: 'switchboard', label: 'switchboard', project, port, replicas: profile.replicas, env, log, redis: options.redis, upArgs: options.redis === 'single' ? undefined : ['--redis', options.redis] };
}

/** Scenarios that run on the rounds' stacks (chaos and variants bring stacks of their own). */
const ROUND_SCENARIOS: Scenario[] = ['fanout', 'search', 'presence', 'k6', 'artillery', 'storm', 'chat', 'soak', 'capacity', 'paths'];

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
  const kinds = (['switchboard', 'stock'] as const).filter((t) => !only || only === t);
  // Every round gives each target a fresh stack, started right before it is measured and removed right after,
  // so both are measured at the same age and neither runs (or drains a backlog) while the other is measured.
  const host = options.network === 'host';
  const specFor = async (kind: 'switchboard' | 'stock', round: number): Promise<StackSpec> => {
    const suffix = profile.repeats > 1 ? `r${round}` : '';
    const log = path.join(outDir, `stack-${kind}${suffix ? `-${suffix}` : ''}.log`);
    const s: StackSpec =
      kind === 'switchboard'
        ? { target: 'switchboard', label: 'switchboard', project: `sblt${pid}${suffix}`, port: await freePort(), replicas: profile.replicas, env: { ...LOAD_LIMITS, REDIS_ADAPTER: options.redisAdapter, ...fixedIps(2 * round, SWITCHBOARD_FILES + (host ? `:${HOST_NETWORK_OVERLAY}` : '')) }, log }
        : { target: 'stock', label: 'stock', project: `sbltstock${pid}${suffix}`, port: await freePort(), replicas: profile.replicas, env: fixedIps(2 * round + 1, '', `loadtest/compose/fixed-ips.stock.yml${host ? `:${HOST_NETWORK_OVERLAY}` : ''}`), log };
    if (host) Object.assign(s.env, await hostNetworkEnv(s, outDir));
    return s;
  };

  let stopping: Promise<void> | undefined;
  const teardown = () =>
    (stopping ??= (async () => {
      const live = [...liveStacks];
      if (!live.length) return;
      step('Removing the load-test projects still running (down --volumes)');
      const codes = await Promise.all(live.map((s) => stackDown(s)));
      live.forEach((s, i) => info(`${s.project}: down ${codes[i] === 0 ? 'ok' : `FAILED (exit ${codes[i]}, see ${s.log})`}`));
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      console.error(`\n!!  ${sig}: stopping`);
      void teardown().finally(() => process.exit(130));
    });

  const report: Report = { profile: profile.name, startedAt: started.toISOString(), machine: before, settings: profile, targets: {}, rounds: [], failures: [], outDir };
  report.path = pathMode;
  report.scenarios = [...scenarios];
  report.method = {
    network:
      options.stack === 'local'
        ? 'none: the stock baseline as plain processes on loopback behind a host nginx (LT_STACK=local)'
        : options.network === 'host'
          ? "host: nginx and the replicas on the host's network (compose/host-network.yml), Redis and the database on the project's network; variants on the bridge"
          : 'bridge (each project its own compose network)',
    cpuset: options.cpuset ? `LT_CPUSET: containers on cores ${options.cpuset.stack} (docker update --cpuset-cpus), generators on ${options.cpuset.generators} (taskset)` : undefined,
    redisPersistence: 'append-only file on both (the baseline\'s Redis is started like Switchboard\'s)',
  };
  // Pinned generators: this process and everything it starts (workers, k6, Artillery) inherit the affinity.
  if (options.cpuset) execSync(`taskset -a -p -c ${options.cpuset.generators} ${process.pid}`, { stdio: 'ignore' });
  // Only chaos or variants asked for: no round stacks to start.
  const rounds = ROUND_SCENARIOS.some((sc) => scenarios.has(sc)) ? profile.repeats : 0;
  const chaosKinds = scenarios.has('chaos') ? kinds.filter((kind) => !profile.chaos?.targets || profile.chaos.targets.includes(kind)) : [];
  try {
    if (options.stack === 'compose') {
      step('Preparing the images (pulled or built once for every project)');
      await prepareImages(await specFor('switchboard', 0));
    }
    for (let round = 1; round <= rounds; round++)
      for (const kind of kinds) {
        const s = await specFor(kind, round);
        step(`${profile.repeats > 1 ? `Round ${round} of ${profile.repeats}: ` : ''}${s.label} on a fresh stack (project ${s.project}, port ${s.port})`);
        const upAt = Date.now();
        if (options.stack === 'local') {
          // LT_STACK=local (LT_ONLY=stock): plain processes on loopback behind a host nginx, no Docker (the environment-tax measurements).
          const local = await startLocalStock({ replicas: s.replicas, nginx: true }).catch((e: Error) => {
            report.failures.push(`local stock: ${e.message}`);
            return undefined;
          });
          if (!local) continue;
          try {
            info(`stock as plain processes: nginx ${local.nginxUrl}, replicas ${local.urls.join(', ')}`);
            const tr = await runTarget({ ...s, project: 'local' }, local.nginxUrl!, round, options, outDir, local);
            if (round === 1) report.targets[s.label] = tr;
            report.rounds!.push(roundFigures(tr, round, Math.round((Date.now() - upAt) / 100) / 10));
          } finally {
            await local.stop();
          }
          continue;
        }
        try {
          await stackUp(s);
          if (options.cpuset) await pinProject(s, options.cpuset.stack);
          const upS = Math.round((Date.now() - upAt) / 100) / 10;
          const published = `http://127.0.0.1:${s.port}`;
          // On the host's network nginx listens on the project's port itself.
          const url = host || pathMode === 'published' ? published : await nginxBridgeUrl(s);
          info(`${s.label} is up in ${upS} s; generators use ${url} (${host ? "nginx on the host's network" : pathMode === 'published' ? "the published port, through Docker's userland proxy" : 'nginx on the compose bridge network, no userland proxy'}; published: ${published})`);
          const tr = await runTarget(s, url, round, options, outDir);
          if (round === 1) report.targets[s.label] = tr;
          report.rounds!.push(roundFigures(tr, round, upS));
        } catch (e) {
          report.failures.push(`${s.label}${profile.repeats > 1 ? ` round ${round}` : ''}: ${(e as Error).message}`);
          console.error(`!!  ${(e as Error).message}`);
        } finally {
          const code = await stackDown(s);
          info(`${s.project}: down ${code === 0 ? 'ok' : `FAILED (exit ${code}, see ${s.log})`}`);
        }
      }
    // The fault matrix, each target on a fresh stack of its own (harness/chaos.ts).
    for (const kind of chaosKinds) {
      const tr = (report.targets[kind] ??= { label: kind, project: '', url: '', replicas: profile.replicas, env: {}, fanout: [] });
      if (!profile.chaos) {
        (tr.failed ??= {}).chaos = `profile ${profile.name} has no settings for it`;
        continue;
      }
      if (options.stack === 'local') {
        (tr.failed ??= {}).chaos = 'the fault matrix hurts containers: it needs the compose stacks (not LT_STACK=local)';
        continue;
      }
      const s = await chaosSpec(kind, 50 + kinds.indexOf(kind), profile, outDir, options);
      step(`Chaos: ${s.label} on a fresh stack of its own (project ${s.project}, Redis ${s.redis}, bridge network)`);
      try {
        await stackUp(s);
        if (options.cpuset) await pinProject(s, options.cpuset.stack);
        const url = pathMode === 'published' ? `http://127.0.0.1:${s.port}` : await nginxBridgeUrl(s);
        const ctx: ScenarioCtx = { spec: s, target: { name: s.label, url, presence: kind === 'switchboard' }, profile, switchboard: kind === 'switchboard', transports: ['websocket'], step, info };
        tr.chaos = await runChaos(ctx, profile.workers);
        // A target measured by chaos alone is named after its chaos stack.
        tr.project ||= s.project;
        tr.url ||= url;
      } catch (e) {
        (tr.failed ??= {}).chaos = (e as Error).message;
        console.error(`!!  [${s.label}] chaos failed: ${(e as Error).message}`);
      } finally {
        const code = await stackDown(s);
        info(`${s.project}: down ${code === 0 ? 'ok' : `FAILED (exit ${code}, see ${s.log})`}`);
      }
    }
    if (scenarios.has('variants') && profile.variants && profile.variantLoad) {
      const list = profile.variants.filter((v) => !options.variants.length || options.variants.includes(v.label));
      let k = 100;
      report.variants = await runVariants(
        {
          profile,
          main: kinds.map((kind) => ({ label: kind, target: kind })),
          pathMode,
          step,
          info,
          specFor: async (v: Variant) => variantSpec(v, k++, profile, outDir, options.redisAdapter),
          afterUp: options.cpuset ? (spec) => pinProject(spec, options.cpuset!.stack) : undefined,
        },
        list,
      ).catch((e: Error) => {
        report.failures.push(`variants: ${e.message}`);
        return [];
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
  gates(report, options, [...(rounds ? kinds : []), ...chaosKinds]);
  await writeReport(report);
  step(`Report: ${path.relative(ROOT, path.join(outDir, 'report.md'))}`);
  if (report.failures.length) {
    for (const f of report.failures) console.error(`!!  ${f}`);
    return 1;
  }
  return 0;
}

/**
 * One target on its fresh stack: the headline scenarios first, in the same
 * order every round (fan-out phases, the rate search, chat mix); in the first
 * round also the scenarios measured once (presence, k6, Artillery, soak,
 * chaos, capacity, paths); the connect storm last (a login burst can leave the
 * database stand-in busy for a long time afterwards).
 */
async function runTarget(s: StackSpec, url: string, round: number, options: RunOptions, outDir: string, local?: LocalStock): Promise<TargetReport> {
  const { profile, scenarios } = options;
  const first = round === 1;
  const target: Target = { name: s.label, url, presence: s.target === 'switchboard' };
  const tr: TargetReport = { label: s.label, project: s.project, url, replicas: s.replicas, env: s.env, fanout: [] };
  const ctx: ScenarioCtx = { spec: s, target, profile, switchboard: s.target === 'switchboard', transports: ['websocket'], step, info };
  if (scenarios.has('fanout') || (first && scenarios.has('presence')))
    try {
      Object.assign(tr, await runHarness(s, target, options, first, local));
    } catch (e) {
      tr.errors = [...(tr.errors ?? []), `harness: ${(e as Error).message}`];
      (tr.failed ??= {}).harness = (e as Error).message;
      console.error(`!!  [${s.label}] harness failed: ${(e as Error).message}`);
    }
  for (const [name, why] of Object.entries(tr.failed ?? {})) console.error(`!!  [${s.label}] ${name} failed: ${why}`);
  // Each tool and scenario on its own: one failing does not keep the others from running.
  const guarded = async (tool: string, run: () => Promise<ToolResult>): Promise<ToolResult> => {
    try {
      return await run();
    } catch (e) {
      return { tool, exitCode: 1, errors: 1, error: (e as Error).message };
    }
  };
  const scenario = async <T>(name: Scenario, run: () => Promise<T>): Promise<T | undefined> => {
    if (!scenarios.has(name)) return undefined;
    if (!profile[name as 'chat' | 'soak' | 'chaos' | 'capacity']) {
      (tr.failed ??= {})[name] = `profile ${profile.name} has no settings for it`;
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
  // The chat mix and the storm start on a quiet stack: not inside the aftermath of the fan-out
  // population leaving at once. The wait is reported (it is what that wave cost).
  const settleBefore = async (what: 'chat' | 'storm') => {
    const settled = await settle();
    (tr.settled ??= {})[what] = settled;
    info(`${what === 'chat' ? 'chat mix' : 'connect storm'} ${settledLine(settled)}`);
  };
  if (scenarios.has('chat') && profile.chat) await settleBefore('chat');
  tr.chat = await scenario('chat', () => runChatMix(ctx, profile.workers));
  if (first) {
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
    tr.soak = await scenario('soak', () => runSoak(ctx, profile.workers));
    tr.capacity = await scenario('capacity', () => runCapacity(ctx, profile.workers));
    if (scenarios.has('paths')) {
      step(`[${s.label}] where the load comes from: k6 (${profile.k6.sockets} sockets, ${profile.k6.msgPerSec} msg/s) via the published port, the bridge address, and from inside the compose network`);
      const bridge = options.pathMode === 'bridge' ? url : await nginxBridgeUrl(s);
      tr.paths = await runPaths(s, bridge, profile.k6, outDir, info).catch((e: Error) => {
        (tr.failed ??= {}).paths = e.message;
        return undefined;
      });
    }
  }
  if (scenarios.has('storm')) {
    await settleBefore('storm');
    await runStorm(s, target, tr, profile).catch((e: Error) => {
      (tr.failed ??= {}).storm = e.message; // gates() makes it a failure of the run
    });
  }
  return tr;
}

function summaryLine(t: ToolResult): string {
  const d = t.delivery;
  return d ? `delivery p50 ${d.p50} ms p99 ${d.p99} ms (${d.count} deliveries), connect p99 ${t.connect?.p99 ?? '-'} ms, errors ${t.errors}` : `no figures (${t.error ?? 'see its log'})`;
}

/** The replicas' summed RSS now (MB), from their own /metrics; undefined when none answered. */
async function replicasRssMb(sampler: Sampler): Promise<number | undefined> {
  const texts = Object.values((await sampler.metrics?.scrape()) ?? {});
  const rss = texts.map((t) => metric(t, 'process_resident_memory_bytes')).filter((v): v is number => v !== undefined);
  return rss.length ? rss.reduce((a, b) => a + b, 0) / 1e6 : undefined;
}

/** The fan-out population (and the memory it costs), the warm-up, the fan-out phases, then the rate search over the same sockets. */
async function runFanout(s: StackSpec, target: Target, h: Coordinator, sampler: Sampler, meter: PhaseMeter, out: TargetReport, profile: Profile, scenarios: Set<Scenario>): Promise<void> {
  const pp = profile.population;
  step(`[${s.label}] fan-out population: ${pp.sockets} sockets at ${pp.rate}/s into ${pp.rooms} rooms${profile.liteListeners ? ' (listeners on the small ws client)' : ''}`);
  h.label = `${s.label} population`;
  // Memory per connection: a few sockets first, then gone again, so the replicas' first-use costs (code paths,
  // pools, caches) are in the RSS before the population, not charged to its connections.
  const warm = await connectStorm(h, target, { sockets: Math.max(20, Math.round(pp.sockets / 20)), rate: pp.rate, rooms: 1, transports: ['websocket'], tag: `${s.label}-memory-warmup`, liteListeners: profile.liteListeners });
  await h.disconnectAll();
  await new Promise((r) => setTimeout(r, 2000));
  const rssBefore = warm.result.ok ? await replicasRssMb(sampler) : undefined;
  const popRun = await connectStorm(h, target, { ...pp, transports: ['websocket'], tag: `${s.label}-population`, liteListeners: profile.liteListeners }, meter);
  out.population = popRun.result;
  info(`connected ${popRun.result.ok}, failed ${popRun.result.failed}; connect+join p99 ${popRun.result.latency.connectJoin?.p99} ms`);
  requireConnected(popRun.result, 'population');
  if (popRun.result.shortfall) info(`shortfall: ${popRun.result.shortfall}; going on with the sockets it has`);
  // Memory per connection: the replicas' RSS before the population and once it is connected (a moment to settle).
  await new Promise((r) => setTimeout(r, 3000));
  const rssAfter = await replicasRssMb(sampler);
  if (rssBefore !== undefined && rssAfter !== undefined && popRun.result.ok > 0)
    out.memory = { connections: popRun.result.ok, rssBeforeMb: Math.round(rssBefore * 10) / 10, rssAfterMb: Math.round(rssAfter * 10) / 10, kbPerConnection: Math.round(((rssAfter - rssBefore) * 1000 * 100) / popRun.result.ok) / 100 };
  const pop = popRun.pop;
  for (const f of [profile.warmup, ...profile.fanout]) {
    step(`[${s.label}] ${f.phase}: ${pp.rooms} rooms, ${f.msgPerSec} msg/s for ${f.durationS} s${f.stall ? ` (generators made to lag: ${f.stall.forMs} ms blocked every ${f.stall.everyMs} ms)` : ''}`);
    h.label = `${s.label} ${f.phase}`;
    sampler.phase = f.phase;
    const r: FanoutResult = await fanout(h, pop, f, f === profile.warmup ? undefined : meter);
    if (f !== profile.warmup) out.fanout.push(r);
    const a = r.account;
    info(
      `delivery ratio ${r.deliveryRatio.toFixed(4)} (lost ${r.loss.lost}, dup ${r.loss.duplicated}, reordered ${r.loss.reordered}); p50 ${r.latency.delivery?.p50} p99 ${r.latency.delivery?.p99} max ${r.latency.delivery?.max} ms; ${r.deliveriesPerSec} deliveries/s` +
        (a ? `; server CPU ${a.delivered ? (a.serverUs / a.delivered).toFixed(1) : '-'} µs/delivery, machine ${a.machineBusyPct} % busy, generator lag p99 ${a.generators.lagP99Ms} ms${a.invalid ? ` INVALID (${a.invalid})` : ''}` : ''),
    );
  }
  if (profile.search && scenarios.has('search')) {
    step(`[${s.label}] rate search over the ${pop.clients.length} sockets: ${profile.search.rates.join(', ')} msg/s, ${profile.search.durationS} s each (p99 < ${profile.search.p99LimitMs} ms, nothing lost)`);
    out.search = await rateSearch(h, pop, { spec: profile.search, populationFailed: popRun.result.failed, label: s.label, info, meter });
    info(`best rate ${out.search.best ?? 'none'} msg/s${out.search.firstFail !== undefined ? `, first failing ${out.search.firstFail}` : ''}`);
  }
  await h.disconnectAll();
}

async function runHarness(s: StackSpec, target: Target, { profile, scenarios }: RunOptions, first: boolean, local?: LocalStock): Promise<Partial<TargetReport>> {
  const out: Partial<TargetReport> & { fanout: FanoutResult[] } = { fanout: [] };
  const sampler = new Sampler(s.label, target.url, s.project, s.replicas);
  const sources = local && { cgroups: new ProcReader(local.pids), metrics: new ReplicaMetrics(local.metricsUrls.map((u, i) => ({ replica: `stock-${i + 1}`, internal: u })), target.url, []) };
  await sampler.start(sources).catch((e: Error) => console.error(`!!  [${s.label}] sampler: ${e.message}`));
  const meter = new PhaseMeter(sampler, profile.generatorLagP99LimitMs);
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
        await runFanout(s, target, h, sampler, meter, out as TargetReport, profile, scenarios);
      } catch (e) {
        fail('fanout', e);
        // The failure is recorded above; this only frees the sockets for presence churn, and close() ends the workers anyway.
        await h.disconnectAll().catch(() => undefined);
      }
    if (first && target.presence && scenarios.has('presence')) {
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
    out.metricsVia = Object.fromEntries((sampler.metrics?.endpoints ?? []).map((e) => [e.replica, e.using ?? 'none']));
    out.timeline = h.timeline;
  }
  return out;
}

/** What a round keeps of a target's run: the figures the repeats summary takes medians of. */
function roundFigures(tr: TargetReport, round: number, upS: number): RoundFigures {
  return {
    round,
    label: tr.label,
    project: tr.project,
    upS,
    fanout: tr.fanout.map((f) => ({ phase: f.phase, msgPerSec: f.msgPerSec, deliveryRatio: f.deliveryRatio, loss: f.loss, delivery: f.latency.delivery, ack: f.latency.ack, deliveriesPerSec: f.deliveriesPerSec, account: f.account, invalid: f.invalid })),
    population: tr.population && { ok: tr.population.ok, failed: tr.population.failed, connectJoin: tr.population.latency.connectJoin, account: tr.population.account },
    memory: tr.memory,
    search: tr.search,
    chat: tr.chat && { users: tr.chat.users, completed: tr.chat.counts.completed ?? 0, errors: Object.values(tr.chat.errors).reduce((a, b) => a + b, 0), latency: tr.chat.latency, notApplicable: tr.chat.notApplicable, account: tr.chat.account },
    settled: tr.settled && Object.fromEntries(Object.entries(tr.settled).map(([k, v]) => [k, { waitedS: v.waitedS, quiet: v.quiet }])),
    storm: tr.storm && { sockets: tr.storm.sockets, ratePerSec: tr.storm.ratePerSec, ok: tr.storm.ok, failed: tr.storm.failed, connectJoin: tr.storm.latency.connectJoin, loginConnectJoin: tr.storm.latency.loginConnectJoin },
  };
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

/**
 * The smoke gates (the profile inside make test); the targets are reported, they do not fail a standard run.
 * In every profile: a scenario that could not be carried out, a soak leak, and a chaos phase that lost an
 * acknowledged message or showed one twice (report/sections/chaos.ts chaosProblems). `expected`: the targets that should have run.
 */
function gates(r: Report, { scenarios, skip }: RunOptions, expected: string[]): void {
  const smoke = r.profile === 'smoke';
  for (const v of r.variants ?? []) if (v.error) r.failures.push(`variant ${v.label}: ${v.error}`);
  for (const t of Object.values(r.targets)) {
    // A scenario that could not be carried out (no socket connected within its deadline, ...): its reason.
    for (const [name, why] of Object.entries(t.failed ?? {})) r.failures.push(`${t.label} ${name}: ${why}`);
    if (t.soak?.leaked) r.failures.push(`${t.label} soak: memory growth over the leak rule (${Object.entries(t.soak.replicas).filter(([, x]) => x.leak).map(([k, x]) => `${k}: ${x.why}`).join('; ')})`);
    if (smoke && t.chat && (t.chat.counts.completed ?? 0) < t.chat.users) r.failures.push(`${t.label} chat mix: ${t.chat.counts.completed ?? 0} of ${t.chat.users} users completed (${Object.entries(t.chat.errors).map(([k, v]) => `${k}: ${v}`).join(', ')})`);
    if (t.chaos?.errors.length) r.failures.push(`${t.label} chaos: ${t.chaos.errors.join('; ')}`);
    for (const problem of chaosProblems(t)) r.failures.push(problem);
    for (const p of t.paths ?? []) if (p.k6.exitCode !== 0) r.failures.push(`${t.label} k6 via ${p.path}: exit ${p.k6.exitCode}${p.k6.error ? ` (${p.k6.error.slice(0, 160)})` : ''}`);
    if (t.capacity?.errors.length) r.failures.push(`${t.label} capacity: ${t.capacity.errors.join('; ')}`);
    if (smoke && scenarios.has('storm') && (!t.storm || t.storm.failed > 0)) r.failures.push(`${t.label}: connect storm had ${t.storm?.failed ?? 'all'} failed clients`);
    if (smoke && scenarios.has('fanout') && (!t.population || t.population.failed > 0)) r.failures.push(`${t.label}: fan-out population had ${t.population?.failed ?? 'all'} failed clients`);
  }
  for (const round of r.rounds ?? []) {
    for (const f of round.fanout) if (smoke && f.deliveryRatio < 1) r.failures.push(`${round.label} round ${round.round} ${f.phase}: delivery ratio ${f.deliveryRatio.toFixed(4)} < 1`);
    if (smoke && round.storm && round.storm.failed > 0) r.failures.push(`${round.label} round ${round.round}: connect storm had ${round.storm.failed} failed clients`);
  }
  for (const t of Object.values(r.targets)) {
    if (scenarios.has('k6') && (!t.k6 || t.k6.exitCode !== 0)) r.failures.push(`${t.label}: k6 ${t.k6 ? `exited ${t.k6.exitCode}` : 'did not run'}${t.k6?.error ? ` (${t.k6.error})` : ''}`);
    if (scenarios.has('artillery') && (!t.artillery || t.artillery.exitCode !== 0))
      r.failures.push(`${t.label}: artillery ${t.artillery ? `exited ${t.artillery.exitCode}` : 'did not run'}${t.artillery?.error ? ` (${t.artillery.error})` : ''}`);
  }
  // The CPU accounting and the invalid-phase rule, end to end (every container group and the generators have a
  // figure per phase, CPU per delivery is a positive number, the phase made to lag is invalid and left out).
  if (smoke && scenarios.has('fanout')) for (const problem of accountingProblems(r)) r.failures.push(`accounting: ${problem}`);
  if (smoke && skip.size) r.failures.push(`smoke must run every tool; LT_SKIP=${[...skip].join(',')} was set`);
  const missing = [...new Set(expected)].filter((kind) => !r.targets[kind]);
  if (missing.length) r.failures.push(`not every target ran (missing: ${missing.join(', ')})`);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
