// Variants in one run: the same short fan-out load (`variantLoad`) on the main
// clusters and on each variant of profiles.ts: another adapter, another
// replica count, long-polling instead of WebSocket, another Redis topology.
// Every entry, the main configurations included, gets a fresh compose project
// of its own, started and removed here. Each
// Switchboard variant is compared with the stock measurement of the same
// transport and replica count when there is one, else with the main stock one.
import fs from 'node:fs';
import { nginxBridgeUrl, stackDown, stackUp, type StackSpec } from '../lib/stacks';
import type { Profile, Variant } from '../profiles';
import { Coordinator } from './coordinator';
import { connectStorm, fanout, requireConnected, type Transport } from './scenarios';

export interface VariantResult {
  label: string;
  target: 'switchboard' | 'stock';
  replicas: number;
  transport: Transport;
  env: Record<string, string>;
  /** the Redis topology (single unless the variant names one) */
  redis: string;
  sockets: number;
  connected: number;
  msgPerSec: number;
  deliveryRatio?: number;
  lost?: number;
  p50?: number;
  p99?: number;
  max?: number;
  deliveriesPerSec?: number;
  connectJoinP99?: number;
  /** the stock measurement it is compared with */
  comparedWith?: string;
  p99VsStock?: number;
  /** set when not every socket connected (the variant was measured with the others) */
  shortfall?: string;
  error?: string;
}

export interface VariantEnv {
  profile: Profile;
  /** the main configurations, measured with the same load on fresh stacks of their own */
  main: { label: string; target: 'switchboard' | 'stock' }[];
  /** a new StackSpec for a variant (its own project, port, log) */
  specFor(v: Variant): Promise<StackSpec>;
  pathMode: 'bridge' | 'published';
  /** after a variant's stack is up (CPU pinning) */
  afterUp?(spec: StackSpec): Promise<void>;
  step(m: string): void;
  info(m: string): void;
}

async function measure(e: VariantEnv, label: string, target: 'switchboard' | 'stock', url: string, replicas: number, transport: Transport, env: Record<string, string>, redis = 'single'): Promise<VariantResult> {
  const l = e.profile.variantLoad!;
  const out: VariantResult = { label, target, replicas, transport, env, redis, sockets: l.sockets, connected: 0, msgPerSec: l.msgPerSec };
  const h = new Coordinator(e.profile.workers);
  h.label = `variant ${label}`;
  h.progress(true);
  try {
    const pop = await connectStorm(h, { name: label, url, presence: target === 'switchboard' }, { sockets: l.sockets, rate: l.rate, rooms: l.rooms, transports: [transport], tag: `variant-${label}`, liteListeners: e.profile.liteListeners });
    out.connected = pop.result.ok;
    out.shortfall = pop.result.shortfall;
    out.connectJoinP99 = pop.result.latency.connectJoin?.p99;
    requireConnected(pop.result);
    const r = await fanout(h, pop.pop, { phase: `variant-${label}`, msgPerSec: l.msgPerSec, durationS: l.durationS });
    Object.assign(out, { deliveryRatio: r.deliveryRatio, lost: r.loss.lost, p50: r.latency.delivery?.p50, p99: r.latency.delivery?.p99, max: r.latency.delivery?.max, deliveriesPerSec: r.deliveriesPerSec });
    e.info(`${label}: ${out.connected}/${l.sockets} connected, ratio ${r.deliveryRatio.toFixed(4)}, delivery p50 ${out.p50} p99 ${out.p99} ms, ${out.deliveriesPerSec} deliveries/s, connect+join p99 ${out.connectJoinP99} ms`);
    await h.disconnectAll();
  } catch (err) {
    out.error = (err as Error).message;
    e.info(`${label}: failed: ${out.error}`);
  } finally {
    await h.close();
  }
  return out;
}

export async function runVariants(e: VariantEnv, variants: Variant[]): Promise<VariantResult[]> {
  const l = e.profile.variantLoad!;
  e.step(`Variants: ${l.sockets} sockets in ${l.rooms} rooms, ${l.msgPerSec} msg/s for ${l.durationS} s on each of: the main clusters, ${variants.map((v) => v.label).join(', ')}`);
  const results: VariantResult[] = [];
  // Every entry on a fresh stack of its own, the main configurations included: none is measured on a stack another load has used.
  for (const v of [...e.main.map((m): Variant => ({ label: m.label, target: m.target })), ...variants]) {
    const target = v.target ?? 'switchboard';
    const transport = v.transport ?? 'websocket';
    const spec = await e.specFor(v);
    e.step(`Variant ${v.label}: project ${spec.project}, ${spec.replicas} replicas, ${transport}${v.env ? `, ${Object.entries(v.env).map(([k, x]) => `${k}=${x}`).join(' ')}` : ''}`);
    try {
      await stackUp(spec);
      await e.afterUp?.(spec);
      const url = e.pathMode === 'published' ? `http://127.0.0.1:${spec.port}` : await nginxBridgeUrl(spec);
      results.push(await measure(e, v.label, target, url, spec.replicas, transport, target === 'switchboard' ? { ...(spec.env.REDIS_ADAPTER ? { REDIS_ADAPTER: spec.env.REDIS_ADAPTER } : {}), ...(v.env ?? {}) } : {}, v.redisMode));
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      e.info(`${v.label}: could not start: ${msg}`);
      results.push({ label: v.label, target, replicas: spec.replicas, transport, env: v.env ?? {}, redis: v.redisMode ?? 'single', sockets: l.sockets, connected: 0, msgPerSec: l.msgPerSec, error: msg });
    } finally {
      const code = await stackDown(spec);
      if (code !== 0) e.info(`${spec.project}: down FAILED (exit ${code}, see ${spec.log})`);
      else if (fs.existsSync(spec.log)) e.info(`${spec.project}: removed`);
    }
  }
  // Each Switchboard figure against the stock one of the same transport and replica count, else the main stock run.
  const stockMain = results.find((r) => r.target === 'stock' && r.transport === 'websocket' && r.replicas === e.profile.replicas);
  for (const r of results) {
    if (r.target !== 'switchboard') continue;
    const same = results.find((s) => s.target === 'stock' && s.transport === r.transport && s.replicas === r.replicas && !s.error);
    const base = same ?? stockMain;
    if (base?.p99 && r.p99 !== undefined) {
      r.comparedWith = base.label;
      r.p99VsStock = Math.round((r.p99 / base.p99) * 100) / 100;
    }
  }
  return results;
}
