// The faults of the chaos matrix (profiles.ts FAULTS), each done through the
// stack CLI's own verbs (lib/stacks.ts stackVerb: what `make kill|start|pause|
// resume|disconnect|reconnect|reload` run) during its fan-out phase: it begins
// a quarter into the phase and is repaired `downMs` later. Each says what
// "time to recover" means for it, measured by the cross-replica probe
// (harness/probe.ts) at the receiver that the fault concerns: the one on the
// hurt replica, or the reference one for a fault of the whole cluster.
import { nowMs, sleep } from '../lib/clock';
import { redisPrimary } from '../lib/redis-primary';
import { stackVerb, type StackSpec } from '../lib/stacks';
import type { Fault } from '../profiles';
import type { CrossReplicaProbe, ProbeReceiver } from './probe';

/** What a phase records of its fault (merged into harness/chaos.ts ChaosPhase). */
export interface FaultTimes {
  event: string;
  /** ms into the phase's schedule */
  killAtMs?: number;
  restoreAtMs?: number;
  /** how long the repair command took (the stack CLI's `start` waits until the container is healthy) */
  restoreTookMs?: number;
  /** see each fault's `recovery` */
  recoverMs?: number;
  /** what recoverMs measures */
  recovery?: string;
}

export interface FaultEnv {
  spec: StackSpec;
  /** the replica a replica fault hurts (realtime-N): neither the probe's sender nor its reference receiver */
  victim: string;
  probe: CrossReplicaProbe;
  /** the probe's receiver on the victim, and the one for faults of the whole cluster */
  victimReceiver: ProbeReceiver;
  reference: ProbeReceiver;
  phaseMs: number;
  downMs: number;
  /** repairs still owed if the run stops half-way (chaos.ts runs them in its finally) */
  owed: Map<string, () => Promise<void>>;
  info(m: string): void;
}

export interface FaultDef {
  name: Fault;
  /** why it does not apply to this target (undefined: it does) */
  notFor?(target: 'switchboard' | 'stock'): string | undefined;
  /** the probe receiver whose arrivals time the recovery and the phase's longest silence */
  receiver(e: FaultEnv): ProbeReceiver;
  /** during the phase (t0: its first scheduled send) */
  hurt(e: FaultEnv, t0: number, p: FaultTimes): Promise<void>;
  /** after the phase, before the next one (a killed replica comes back) */
  after?(e: FaultEnv, p: FaultTimes): Promise<void>;
}

const until = (t: number) => sleep(t - nowMs());
const since = (t0: number) => Math.round(nowMs() - t0);

/** Waits (at most `ms`) until `ready` says yes. */
async function waitFor(ready: () => boolean, ms: number): Promise<void> {
  const end = nowMs() + ms;
  while (!ready() && nowMs() < end) await sleep(100);
}

/** Waits until a quarter into the phase, when every fault begins, and notes the moment. */
async function quarterIn(e: FaultEnv, t0: number, p: FaultTimes): Promise<number> {
  await until(t0 + e.phaseMs / 4);
  p.killAtMs = since(t0);
  return nowMs();
}

/**
 * The common shape: break a quarter into the phase, repair `downMs` later,
 * then the time to recover is the first cross-replica delivery at the
 * fault's receiver after the repair command (waited for up to 10 s).
 */
async function breakThenRepair(e: FaultEnv, t0: number, p: FaultTimes, r: ProbeReceiver, key: string, brk: () => Promise<void>, repair: () => Promise<void>): Promise<void> {
  const broken = await quarterIn(e, t0, p);
  e.owed.set(key, repair);
  await brk();
  await until(broken + e.downMs);
  const restore = nowMs();
  p.restoreAtMs = since(t0);
  await repair();
  e.owed.delete(key);
  p.restoreTookMs = since(restore);
  await waitFor(() => e.probe.firstAfter(restore, r) !== undefined, 10_000);
  p.recoverMs = e.probe.firstAfter(restore, r);
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

const nginxReload: FaultDef = {
  name: 'nginx-reload',
  receiver: (e) => e.reference,
  async hurt(e, t0, p) {
    const at = await quarterIn(e, t0, p);
    await stackVerb(e.spec, 'reload');
    p.restoreTookMs = since(at);
    p.event = 'nginx reloaded (graceful)';
    p.recovery = 'first cross-replica delivery after the reload command';
    await waitFor(() => e.probe.firstAfter(at, e.reference) !== undefined, 10_000);
    p.recoverMs = e.probe.firstAfter(at, e.reference);
  },
};

const freeze: FaultDef = {
  name: 'freeze',
  receiver: (e) => e.victimReceiver,
  async hurt(e, t0, p) {
    p.event = `${e.victim} frozen (docker pause) for ${seconds(e.downMs)}`;
    p.recovery = `first cross-replica delivery to a client on ${e.victim} after the resume command`;
    await breakThenRepair(e, t0, p, this.receiver(e), `resume ${e.victim}`, () => stackVerb(e.spec, 'pause', e.victim), () => stackVerb(e.spec, 'resume', e.victim));
  },
};

const redisCut: FaultDef = {
  name: 'redis-cut',
  receiver: (e) => e.victimReceiver,
  async hurt(e, t0, p) {
    p.event = `${e.victim} cut from Redis (docker network disconnect) for ${seconds(e.downMs)}`;
    p.recovery = `first cross-replica delivery to a client on ${e.victim} after the reconnect command`;
    await breakThenRepair(e, t0, p, this.receiver(e), `reconnect ${e.victim}`, () => stackVerb(e.spec, 'disconnect', e.victim, 'redis'), () => stackVerb(e.spec, 'reconnect', e.victim));
  },
};

const mongo: FaultDef = {
  name: 'mongo',
  notFor: (target) => (target === 'stock' ? 'the stock server has no database' : undefined),
  receiver: (e) => e.reference,
  async hurt(e, t0, p) {
    p.event = `MongoDB killed for ${seconds(e.downMs)}`;
    p.recovery = 'first cross-replica delivery after the start command (sends are stored first)';
    await breakThenRepair(e, t0, p, this.receiver(e), 'start mongo', () => stackVerb(e.spec, 'kill', 'mongo'), () => stackVerb(e.spec, 'start', 'mongo'));
  },
};

/** Silence at the probe's receiver that counts as an outage (it sends every 100 ms). */
const OUTAGE_GAP_MS = 1000;
/** How long a Redis failover may take before the killed primary is started again anyway. */
const FAILOVER_WAIT_MS = 30_000;

const redis: FaultDef = {
  name: 'redis',
  receiver: (e) => e.reference,
  async hurt(e, t0, p) {
    const mode = e.spec.redis ?? 'single';
    const r = this.receiver(e);
    if (mode === 'single') {
      p.event = `Redis killed for ${seconds(e.downMs)}`;
      p.recovery = 'first cross-replica delivery after the start command';
      return breakThenRepair(e, t0, p, r, 'start redis', () => stackVerb(e.spec, 'kill', 'redis'), () => stackVerb(e.spec, 'start', 'redis'));
    }
    // A primary of a Cluster (the one serving the probe's room) or of Sentinel: another node takes over; it comes back as a replica.
    const node = await redisPrimary(e.spec.project, mode, e.probe.room);
    p.recovery = 'from the kill to the first cross-replica delivery after the failover';
    const kill = await quarterIn(e, t0, p);
    e.owed.set(`start ${node}`, () => stackVerb(e.spec, 'start', node));
    await stackVerb(e.spec, 'kill', node);
    // The failover, as the topology tells it: another primary for the probe room's slot.
    let successor: string | undefined;
    while (nowMs() - kill < FAILOVER_WAIT_MS) {
      successor = await redisPrimary(e.spec.project, mode, e.probe.room).catch(() => undefined);
      if (successor && successor !== node) break;
      await sleep(250);
    }
    const tookOver = successor && successor !== node ? `${successor} took over ${seconds(nowMs() - kill)} after the kill (seen by polling)` : `no other primary within ${seconds(FAILOVER_WAIT_MS)}`;
    p.event = `Redis primary ${node} killed (${mode}): ${tookOver}; ${node} started again as a replica`;
    // Then the end of the probe's silence (0: it saw none, its room was not hurt).
    let recovered: number | undefined;
    while (nowMs() - kill < FAILOVER_WAIT_MS + 10_000 && !recovered) {
      recovered = e.probe.afterGap(kill, OUTAGE_GAP_MS, nowMs(), r);
      if (!recovered) await sleep(200);
    }
    p.recoverMs = e.probe.afterGap(kill, OUTAGE_GAP_MS, nowMs(), r);
    // Not before downMs, nor before the failover: a node back sooner would be a restart, not a failover.
    await until(kill + e.downMs);
    const restore = nowMs();
    p.restoreAtMs = since(t0);
    await stackVerb(e.spec, 'start', node);
    e.owed.delete(`start ${node}`);
    p.restoreTookMs = since(restore);
  },
};

const replica: FaultDef = {
  name: 'replica',
  receiver: (e) => e.victimReceiver,
  async hurt(e, t0, p) {
    await quarterIn(e, t0, p);
    p.event = `${e.victim} killed`;
    p.recovery = 'until every client it dropped was connected to another replica and had rejoined';
    e.owed.set(`start ${e.victim}`, () => stackVerb(e.spec, 'start', e.victim));
    await stackVerb(e.spec, 'kill', e.victim).catch((err: Error) => {
      // Already down: it crashed earlier. The phase runs with it down all the same.
      p.event = `${e.victim} already down, not killed (${err.message.split(';')[0]})`;
      e.info(p.event);
    });
  },
  // Back to full strength for whatever runs next.
  async after(e, p) {
    const restore = nowMs();
    await stackVerb(e.spec, 'start', e.victim);
    e.owed.delete(`start ${e.victim}`);
    p.restoreTookMs = since(restore);
  },
};

export const FAULT_DEFS: Record<Fault, FaultDef> = { 'nginx-reload': nginxReload, freeze, 'redis-cut': redisCut, mongo, redis, replica };
