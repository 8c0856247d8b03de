// Chaos under load, the fault matrix: fan-out traffic runs in phases on a
// stack of its own (run.ts), a reference phase and then one phase per fault of
// the profile (harness/faults.ts: nginx reloaded, a replica frozen, a replica
// cut from Redis, MongoDB killed, Redis or its primary killed, a replica
// killed), each through the stack CLI's own verbs. Per phase:
// - loss as received live, then again after the clients that lost their
//   socket reconnected and every client ran history:sync from the newest
//   message it had before the phase (the reliable-delivery recipe of
//   docs/protocol.md; the stock server has no history: n/a). An acknowledged
//   message still missing then is lost, and fails the run (run.ts gates);
//   sends that were never acknowledged (UNAVAILABLE, timeouts) are reported,
//   not counted as lost;
// - duplicates as a client would show them after de-duplicating by message id
//   (harness/shown.ts; must be 0), apart from the raw ones: the same message
//   delivered twice live, and history:sync repeating what a client had;
// - the time to recover (each fault says from what), and the probe's longest
//   silence at the receiver the fault concerns;
// - server errors: INTERNAL acks, nginx's 5xx answers and error lines, and
//   each replica's error-level log lines (harness/server-errors.ts).
import { projectContainers } from '../lib/cgroup';
import { servedByMatches } from '../lib/replica-metrics';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { nowMs } from '../lib/clock';
import type { LatencySummary } from '../lib/hist';
import type { Fault } from '../profiles';
import type { ScenarioCtx } from './context';
import { Coordinator } from './coordinator';
import { FAULT_DEFS, type FaultDef, type FaultEnv, type FaultTimes } from './faults';
import type { LossSummary } from './loss';
import { CrossReplicaProbe } from './probe';
import type { ResyncResult } from './resync';
import { cidPerReplica, connectStorm, fanoutProducers, requireConnected } from './scenarios';
import { phaseServerErrors, type ServerErrors } from './server-errors';
import type { ShownCounts } from './shown';

export interface ChaosPhase extends FaultTimes {
  phase: string;
  /** undefined: the reference phase */
  fault?: Fault;
  /** acknowledged sends */
  acked?: number;
  live: LossSummary;
  /** after reconnect + history:sync; undefined where the target has no history */
  afterSync?: LossSummary;
  resync?: ResyncResult;
  /** duplicates as shown after de-duplicating by id, and history's overlap */
  shown?: ShownCounts;
  probeMaxGapMs: number;
  /**
   * The replica the probe's receiver was on at the end of the phase, when not the one it started on (its replica
   * was killed and nginx sent it elsewhere): on the sender's own replica it hears no cross-replica delivery.
   */
  probeReceiverOn?: string;
  delivery?: LatencySummary;
  /** sends not acknowledged ok, by why (ack UNAVAILABLE, ack timeout, not connected, ...) */
  sendErrors: Record<string, number>;
  serverErrors?: ServerErrors;
}

export interface ChaosResult {
  /** the compose project the matrix ran on (a fresh one of its own) */
  project?: string;
  /** its Redis topology */
  redis?: string;
  sockets: number;
  connected: number;
  /** sockets that did not connect and join (within the deadline, lib/deadline.ts), and why */
  connectFailed?: number;
  connectErrors?: Record<string, number>;
  shortfall?: string;
  rooms: number;
  msgPerSec: number;
  phaseS: number;
  downS?: number;
  probe: { from: string; to: string; receivers?: string[] };
  /** the replica the replica faults hurt */
  victim?: string;
  phases: ChaosPhase[];
  /** faults of the profile left out for this target, and why */
  notRun?: Record<string, string>;
  /** per replica container: restarts during the run (Docker's RestartCount) */
  restarts: Record<string, number>;
  errors: string[];
}

const run = promisify(execFile);

/**
 * Each replica's restart count, and its log since the scenario began next to the report (what a fault or a crash made it say).
 * Evidence only: a docker call that fails leaves a count or a log out rather than failing the run.
 */
async function replicaEvidence(project: string, label: string, dir: string, sinceMs: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const names = (await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--filter', 'label=com.docker.compose.service=realtime', '--format', '{{.Names}}']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
  for (const n of names) {
    const r = await run('docker', ['inspect', '--format', '{{.RestartCount}}', n]).catch(() => ({ stdout: '' }));
    out[n.slice(project.length + 1)] = Number(r.stdout.trim() || 0);
    const logs = await run('docker', ['logs', '--since', (sinceMs / 1000).toFixed(3), n], { maxBuffer: 256 << 20 }).catch((e: { stdout?: string; stderr?: string }) => e);
    fs.writeFileSync(path.join(dir, `chaos-${label}-${n.slice(project.length + 1)}.log`), `${logs.stdout ?? ''}${logs.stderr ?? ''}`);
  }
  return out;
}

const ratio = (l?: LossSummary) => (l?.expected ? (l.delivered / l.expected).toFixed(4) : '-');
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

export async function runChaos(ctx: ScenarioCtx, workers: number): Promise<ChaosResult> {
  const o = ctx.profile.chaos!;
  const { spec, target } = ctx;
  const kind = ctx.switchboard ? 'switchboard' : 'stock';
  const notRun: Record<string, string> = {};
  const defs: FaultDef[] = [];
  for (const f of o.faults) {
    const why = FAULT_DEFS[f].notFor?.(kind);
    if (why) notRun[f] = why;
    else defs.push(FAULT_DEFS[f]);
  }
  const plan = [...(o.steady === false ? [] : ['steady']), ...defs.map((d) => d.name)];
  ctx.step(`[${spec.label}] chaos under load on ${spec.project} (Redis ${spec.redis ?? 'single'}): ${o.sockets} sockets, ${o.rooms} rooms, ${o.msgPerSec} msg/s; phases of ${o.phaseS} s: ${plan.join(', ')}`);
  const h = new Coordinator(workers);
  h.label = `${spec.label} chaos`;
  h.progress(true);
  let probe: CrossReplicaProbe | undefined;
  const out: ChaosResult = { project: spec.project, redis: spec.redis ?? 'single', sockets: o.sockets, connected: 0, rooms: o.rooms, msgPerSec: o.msgPerSec, phaseS: o.phaseS, downS: o.downS, probe: { from: '?', to: '?' }, phases: [], ...(Object.keys(notRun).length ? { notRun } : {}), restarts: {}, errors: [] };
  const owed = new Map<string, () => Promise<void>>();
  const started = nowMs();
  try {
    const cids = [...(await cidPerReplica(target.url, `lt-chaos-${process.pid}`, spec.replicas))];
    if (cids.length < 3) throw new Error(`chaos needs three replicas answering through nginx (a sender, a reference and one to hurt); found ${cids.length}`);
    probe = await CrossReplicaProbe.start(target.url, cids);
    out.probe = { from: probe.from, to: probe.to, receivers: probe.receivers.map((r) => r.replica) };
    // X-Served-By is a replica's name or its container's short id (stock): the container's name either way.
    const refs = await projectContainers(spec.project);
    const nameOf = (servedBy: string) => refs.find((c) => servedByMatches(servedBy, c))?.name ?? servedBy;
    const victimServedBy = cids[2][0];
    const victim = nameOf(victimServedBy);
    if (!/^realtime-\d+$/.test(victim)) throw new Error(`no container of ${spec.project} answers to X-Served-By ${victimServedBy}`);
    out.victim = victim;
    const env: FaultEnv = { spec, victim, probe, victimReceiver: probe.receiverOn(victimServedBy), reference: probe.receivers[0], phaseMs: o.phaseS * 1000, downMs: o.downS * 1000, owed, info: ctx.info };

    const pop = await connectStorm(h, target, { sockets: o.sockets, rate: o.rate, rooms: o.rooms, transports: ctx.transports, tag: `${spec.label}-chaos` });
    out.connected = pop.result.ok;
    out.connectFailed = pop.result.failed;
    out.connectErrors = pop.result.connect;
    out.shortfall = pop.result.shortfall;
    requireConnected(pop.result);
    if (pop.result.shortfall) ctx.info(`shortfall: ${pop.result.shortfall}; going on with the sockets it has`);

    const phase = async (def?: FaultDef): Promise<ChaosPhase> => {
      const name = `chaos-${def?.name ?? 'steady'}`;
      h.label = `${spec.label} ${name}`;
      const began = nowMs();
      const producers = fanoutProducers(pop.pop, { phase: name, msgPerSec: o.msgPerSec, durationS: o.phaseS });
      const t0 = Math.min(...producers.map((p) => p.start));
      const p: ChaosPhase = { phase: name, ...(def ? { fault: def.name } : {}), event: 'none', live: undefined as unknown as LossSummary, probeMaxGapMs: 0, sendErrors: {} };
      const receiver = def ? def.receiver(env) : env.reference;
      let hurtEnd = 0;
      const [acked] = await Promise.all([h.sendOnly(name, producers, { ackTimeoutMs: 5000, settleMs: 3000, track: true }), def?.hurt(env, t0, p).then(() => (hurtEnd = nowMs()))]);
      p.acked = Object.values(acked).reduce((a, seqs) => a + seqs.length, 0);
      // Over the schedule, or up to the repair when it ran past it (a failover).
      p.probeMaxGapMs = probe!.maxGap(t0, Math.max(t0 + o.phaseS * 1000, hurtEnd), receiver);
      if (receiver.on && receiver.on !== receiver.replica) p.probeReceiverOn = receiver.on;
      p.live = await h.loss(name, acked);
      // The recipe's client tries a failed reconnect or sync again a moment later.
      p.resync = await h.resync(name, target.url, pop.pop.clients, { transports: ctx.transports, history: ctx.switchboard, attempts: 3, retryMs: 1000 });
      if (ctx.switchboard) p.afterSync = await h.loss(name, acked);
      p.shown = await h.shown(name);
      const c = await h.collect(name);
      p.delivery = c.latency.delivery;
      p.sendErrors = c.sendErrors;
      if (def?.name === 'replica') p.recoverMs = p.resync.reconnectMs;
      await def?.after?.(env, p);
      p.serverErrors = await phaseServerErrors(spec.project, began, nowMs(), (c.sendErrors['ack INTERNAL'] ?? 0) + (p.resync.internalAcks ?? 0));
      const se = p.serverErrors;
      ctx.info(
        `${name}: ${p.event}; live lost ${p.live.lost} of ${p.live.expected} (ratio ${ratio(p.live)}); after history:sync ${p.afterSync ? `lost ${p.afterSync.lost} (recovered ${p.resync.recovered}; sync failures ${p.resync.syncErrors}${p.resync.syncErrors ? ` ${JSON.stringify(p.resync.syncErrorCodes)}` : ''})` : 'n/a'}; ` +
          `shown twice ${p.shown.shownTwice}, raw dup live ${p.live.duplicated} + history ${p.shown.historyOverlap}; reconnected ${p.resync.reconnected} (${p.resync.reconnectFailed} failed) in ${p.resync.reconnectMs} ms; recover ${p.recoverMs ?? '-'} ms; probe max gap ${p.probeMaxGapMs} ms; ` +
          `not acked ${total(p.sendErrors)}${total(p.sendErrors) ? ` ${JSON.stringify(p.sendErrors)}` : ''}; INTERNAL ${se.internalAcks}, 5xx ${JSON.stringify(se.http5xx)}, nginx errors ${se.nginxErrorLines}, replica error lines ${total(se.replicaErrorLines)}`,
      );
      return p;
    };

    if (o.steady !== false) out.phases.push(await phase());
    for (const def of defs) out.phases.push(await phase(def));
  } catch (e) {
    out.errors.push((e as Error).message);
    ctx.info(`chaos failed: ${(e as Error).message}`);
  } finally {
    // Whatever a phase that stopped half-way left broken, repaired for the evidence below (the stack is removed next anyway).
    for (const [what, repair] of owed) await repair().catch((e: Error) => out.errors.push(`${what}: ${e.message}`));
    probe?.stop();
    // Evidence and cleanup only: the chaos figures above stand without them, and close() ends the workers anyway.
    out.restarts = await replicaEvidence(spec.project, spec.label, path.dirname(spec.log), started).catch(() => ({}));
    await h.disconnectAll().catch(() => undefined);
    await h.close();
  }
  return out;
}
