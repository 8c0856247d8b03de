// Chaos under load: fan-out traffic runs in three phases while the cluster is
// hurt through the stack CLI's own verbs (lib/stacks.ts stackVerb):
//   chaos-steady   nothing happens (the reference)
//   chaos-redis    Redis killed a quarter into the phase, started again `redisDownS` later
//   chaos-replica  one replica killed a quarter into the phase (one the probe does not use);
//                  started again after the phase
// Per phase: loss as received live, then again after the clients that lost
// their socket reconnected and every client ran history:sync (Switchboard;
// the stock server has no history: n/a), duplicates, and the time to recover:
// the first cross-replica delivery of the probe (harness/probe.ts) after the
// restore; for the replica, also how long the dropped clients took to be back.
import { projectContainers } from '../lib/cgroup';
import { servedByMatches } from '../lib/replica-metrics';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { nowMs, sleep } from '../lib/clock';
import type { LatencySummary } from '../lib/hist';
import { stackVerb } from '../lib/stacks';
import type { ScenarioCtx } from './context';
import { Coordinator } from './coordinator';
import type { LossSummary } from './loss';
import { CrossReplicaProbe } from './probe';
import type { ResyncResult } from './resync';
import { cidPerReplica, connectStorm, fanoutProducers, requireConnected } from './scenarios';

export interface ChaosPhase {
  phase: string;
  event: string;
  /** ms into the phase's schedule */
  killAtMs?: number;
  restoreAtMs?: number;
  /** how long the stack CLI's `start` took until the container was healthy */
  restoreTookMs?: number;
  live: LossSummary;
  /** after reconnect + history:sync; undefined where the target has no history */
  afterSync?: LossSummary;
  resync?: ResyncResult;
  /** first cross-replica probe delivery after the restore command */
  recoverMs?: number;
  probeMaxGapMs: number;
  delivery?: LatencySummary;
  sendErrors: Record<string, number>;
}

export interface ChaosResult {
  sockets: number;
  connected: number;
  /** sockets that did not connect and join (within the deadline, lib/deadline.ts), and why */
  connectFailed?: number;
  connectErrors?: Record<string, number>;
  shortfall?: string;
  rooms: number;
  msgPerSec: number;
  phaseS: number;
  probe: { from: string; to: string };
  killedReplica?: string;
  phases: ChaosPhase[];
  /** per replica container: restarts during the run (Docker's RestartCount) */
  restarts: Record<string, number>;
  errors: string[];
}

const run = promisify(execFile);

/**
 * Each replica's restart count, and its last log lines next to the report (what a crash said).
 * Evidence only: a docker call that fails leaves a count or a log out rather than failing the run.
 */
async function replicaEvidence(project: string, label: string, dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const names = (await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=realtime', '--format', '{{.Names}}']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  for (const n of names) {
    const r = await run('docker', ['inspect', '--format', '{{.RestartCount}}', n]).catch(() => ({ stdout: '' }));
    out[n.slice(project.length + 1)] = Number(r.stdout.trim() || 0);
    const logs = await run('docker', ['logs', '--tail', '40', n], { maxBuffer: 1 << 20 }).catch((e: { stdout?: string; stderr?: string }) => e);
    fs.writeFileSync(path.join(dir, `chaos-${label}-${n.slice(project.length + 1)}.log`), `${logs.stdout ?? ''}${logs.stderr ?? ''}`);
  }
  return out;
}

export async function runChaos(ctx: ScenarioCtx, workers: number): Promise<ChaosResult> {
  const o = ctx.profile.chaos!;
  const { spec, target } = ctx;
  ctx.step(`[${spec.label}] chaos under load: ${o.sockets} sockets, ${o.rooms} rooms, ${o.msgPerSec} msg/s; phases of ${o.phaseS} s: steady, Redis killed for ${o.redisDownS} s, one replica killed`);
  const h = new Coordinator(workers);
  h.label = `${spec.label} chaos`;
  h.progress(true);
  let probe: CrossReplicaProbe | undefined;
  const out: ChaosResult = { sockets: o.sockets, connected: 0, rooms: o.rooms, msgPerSec: o.msgPerSec, phaseS: o.phaseS, probe: { from: '?', to: '?' }, phases: [], restarts: {}, errors: [] };
  let replicaDown: string | undefined;
  let redisDown = false;
  try {
    const cids = [...(await cidPerReplica(target.url, `lt-chaos-${process.pid}`, spec.replicas))];
    probe = await CrossReplicaProbe.start(target.url, cids);
    out.probe = { from: probe.from, to: probe.to };
    // X-Served-By is a replica's name or its container's short id (stock, host network mode): the container's name either way.
    const refs = await projectContainers(spec.project);
    const nameOf = (servedBy: string) => refs.find((c) => servedByMatches(servedBy, c))?.name ?? servedBy;
    const spare = cids.map(([r]) => nameOf(r)).find((r) => r !== nameOf(probe!.from) && r !== nameOf(probe!.to));
    out.killedReplica = spare && /^realtime-\d+$/.test(spare) ? spare : `realtime-${spec.replicas}`;
    const pop = await connectStorm(h, target, { sockets: o.sockets, rate: o.rate, rooms: o.rooms, transports: ctx.transports, tag: `${spec.label}-chaos` });
    out.connected = pop.result.ok;
    out.connectFailed = pop.result.failed;
    out.connectErrors = pop.result.connect;
    out.shortfall = pop.result.shortfall;
    requireConnected(pop.result);
    if (pop.result.shortfall) ctx.info(`shortfall: ${pop.result.shortfall}; going on with the sockets it has`);

    const phase = async (name: string, event: string, hurt?: (t0: number, p: ChaosPhase) => Promise<void>): Promise<ChaosPhase> => {
      h.label = `${spec.label} ${name}`;
      const producers = fanoutProducers(pop.pop, { phase: name, msgPerSec: o.msgPerSec, durationS: o.phaseS });
      const t0 = Math.min(...producers.map((p) => p.start));
      const p: ChaosPhase = { phase: name, event, live: undefined as unknown as LossSummary, probeMaxGapMs: 0, sendErrors: {} };
      const [acked] = await Promise.all([h.sendOnly(name, producers, { ackTimeoutMs: 5000, settleMs: 3000 }), hurt?.(t0, p)]);
      p.probeMaxGapMs = probe!.maxGap(t0, t0 + o.phaseS * 1000);
      p.live = await h.loss(name, acked);
      p.resync = await h.resync(name, target.url, pop.pop.clients, { transports: ctx.transports, history: ctx.switchboard });
      if (ctx.switchboard) p.afterSync = await h.loss(name, acked);
      const c = await h.collect(name);
      p.delivery = c.latency.delivery;
      p.sendErrors = c.sendErrors;
      const ratio = (l?: LossSummary) => (l?.expected ? (l.delivered / l.expected).toFixed(4) : '-');
      ctx.info(
        `${name}: live lost ${p.live.lost} of ${p.live.expected} (ratio ${ratio(p.live)}), dup ${p.live.duplicated}; after history:sync ${p.afterSync ? `lost ${p.afterSync.lost} (recovered ${p.resync.recovered}; sync failures ${p.resync.syncErrors}${p.resync.syncErrors ? ` ${JSON.stringify(p.resync.syncErrorCodes)}` : ''})` : 'n/a'}; reconnected ${p.resync.reconnected} (${p.resync.reconnectFailed} failed) in ${p.resync.reconnectMs} ms; recover ${p.recoverMs ?? '-'} ms; probe max gap ${p.probeMaxGapMs} ms`,
      );
      return p;
    };
    const at = async (t: number) => sleep(t - nowMs());

    out.phases.push(await phase('chaos-steady', 'none'));
    out.phases.push(
      await phase('chaos-redis', `Redis killed for ${o.redisDownS} s`, async (t0, p) => {
        await at(t0 + (o.phaseS * 1000) / 4);
        p.killAtMs = Math.round(nowMs() - t0);
        redisDown = true;
        await stackVerb(spec, 'kill', 'redis');
        await at(t0 + p.killAtMs + o.redisDownS * 1000);
        const restore = nowMs();
        p.restoreAtMs = Math.round(restore - t0);
        await stackVerb(spec, 'start', 'redis');
        redisDown = false;
        p.restoreTookMs = Math.round(nowMs() - restore);
        // the first cross-replica delivery after the restore (wait for it a while)
        for (let i = 0; i < 100 && probe!.firstAfter(restore) === undefined; i++) await sleep(100);
        p.recoverMs = probe!.firstAfter(restore);
      }),
    );
    out.phases.push(
      await phase('chaos-replica', `${out.killedReplica} killed`, async (t0, p) => {
        await at(t0 + (o.phaseS * 1000) / 4);
        p.killAtMs = Math.round(nowMs() - t0);
        replicaDown = out.killedReplica;
        await stackVerb(spec, 'kill', replicaDown!).catch((e: Error) => {
          // Already down: it crashed earlier (stock's replicas can die with Redis,
          // having no error listener). The phase runs with it down all the same.
          p.event = `${out.killedReplica} already down, not killed (${e.message.split(';')[0]})`;
          ctx.info(p.event);
        });
      }),
    );
    // Back to full strength for whatever runs next.
    const restore = nowMs();
    await stackVerb(spec, 'start', replicaDown!);
    replicaDown = undefined;
    const last = out.phases[out.phases.length - 1];
    last.restoreTookMs = Math.round(nowMs() - restore);
    last.recoverMs = last.resync?.reconnectMs;
  } catch (e) {
    out.errors.push((e as Error).message);
    ctx.info(`chaos failed: ${(e as Error).message}`);
  } finally {
    if (redisDown) await stackVerb(spec, 'start', 'redis').catch((e: Error) => out.errors.push(`restoring redis: ${e.message}`));
    if (replicaDown) await stackVerb(spec, 'start', replicaDown).catch((e: Error) => out.errors.push(`restoring ${replicaDown}: ${e.message}`));
    probe?.stop();
    // Evidence and cleanup only: the chaos figures above stand without them, and close() ends the workers anyway.
    out.restarts = await replicaEvidence(spec.project, spec.label, path.dirname(spec.log)).catch(() => ({}));
    await h.disconnectAll().catch(() => undefined);
    await h.close();
  }
  return out;
}
