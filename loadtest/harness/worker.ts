// A load-generating worker process: holds a share of the sockets (one process
// cannot hold more than 20,000 descriptors), runs the fixed send schedule it is
// given, records latencies in HDR histograms and receipts for loss counting.
import type { Socket } from 'socket.io-client';
import { nowMs, sleep } from '../lib/clock';
import { encode, newHist, recordMs, type Histogram } from '../lib/hist';
import { tag } from '@switchboard/loss-checker';
import { createLossChecker, type LossChecker } from './loss';
import { runChat } from './chat';
import { PRESENCE_SUBSCRIBE_MAX_IDS } from '@switchboard/protocol';
import { login } from '@switchboard/test-kit';
import { ack, openSocket } from './client';
import { openLite, type LiteSocket } from './lite-client';
import { GeneratorGauge } from '../lib/generator-gauge';
import { resync } from './resync';
import { ShownMessages } from './shown';
import { clientBudgetMs } from './client-spec';
import type { Counters } from './counters';
import type { Cmd, ConnectCmd, ConnectResult, PhaseCollect, SendCmd } from './protocol';

interface Client {
  key: string;
  userId: string;
  socket?: Socket;
  /** a receive-only listener on the small ws client (harness/lite-client.ts) instead of socket.io-client */
  lite?: LiteSocket;
}

const clients = new Map<string, Client>();
/** this process's own CPU time and event-loop delay per phase (lib/generator-gauge.ts) */
const gauge = new GeneratorGauge();
const counters: Counters = { connected: 0, connecting: 0, sends: 0, acks: 0, deliveries: 0, errors: 0 };

interface Phase {
  hists: Map<string, Histogram>;
  series: Map<number, { deliveries: number; hist: Histogram }>;
  loss: LossChecker;
  acked: Map<string, number[]>;
  pendingAcks: Set<Promise<void>>;
  presence: PhaseCollect['presence'];
  sendErrors: Record<string, number>;
  /** message ids as clients would see them (chaos phases only: it costs a map entry per delivery) */
  track?: ShownMessages;
}
const phases = new Map<string, Phase>();
let currentPhase = 'idle';
/** per receiver and room, the id of the newest message received in a tracked phase: where its next history:sync starts */
const lastSeen = new Map<string, string>();

function phase(name: string): Phase {
  let p = phases.get(name);
  if (!p) phases.set(name, (p = { hists: new Map(), series: new Map(), loss: createLossChecker(), acked: new Map(), pendingAcks: new Set(), presence: [], sendErrors: {} }));
  return p;
}

function hist(p: Phase, name: string): Histogram {
  let h = p.hists.get(name);
  if (!h) p.hists.set(name, (h = newHist()));
  return h;
}

function countError(bag: Record<string, number>, what: string) {
  counters.errors++;
  bag[what] = (bag[what] ?? 0) + 1;
}

// message:new text: `lt|<producer>|<seq>|<scheduled send time, epoch ms>|[lc:<producer>:<seq>] padding`
// (the bracketed tag is tools/loss-checker's format; the fields before it are read here, faster)
function onMessage(receiver: string, msg: { text?: string; id?: string; room?: string }) {
  const text = msg?.text;
  if (typeof text !== 'string' || !text.startsWith('lt|')) return;
  const [, producer, seqS, tsS] = text.split('|', 4);
  const latency = nowMs() - Number(tsS);
  const ph = phase(producer.slice(0, producer.lastIndexOf('.')));
  if (ph.track && typeof msg.id === 'string') {
    ph.track.shown(receiver, producer, Number(seqS), msg.id);
    if (typeof msg.room === 'string') lastSeen.set(`${receiver}\u0000${msg.room}`, msg.id);
  }
  counters.deliveries++;
  recordMs(hist(ph, 'delivery'), latency);
  const sec = Math.floor(Number(tsS) / 1000);
  let s = ph.series.get(sec);
  if (!s) ph.series.set(sec, (s = { deliveries: 0, hist: newHist(2) }));
  s.deliveries++;
  recordMs(s.hist, latency);
  ph.loss.received(receiver, producer, Number(seqS));
}

/** One client's place in a connect phase: settled once it is counted (ok or failed), by itself or by a deadline. */
interface Slot {
  settled: boolean;
}

async function connectOne(cmd: ConnectCmd, spec: ConnectCmd['clients'][number], ph: Phase, result: ConnectResult, slot: Slot): Promise<void> {
  if (slot.settled) return; // the phase's deadline passed before its turn
  counters.connecting++;
  const t0 = nowMs();
  let stage = 'login';
  const client: Client = { key: spec.key, userId: spec.userId };
  // A client cut off by a deadline is already counted as failed: whatever it gets later is dropped.
  const late = () => {
    if (slot.settled) throw new Error('cut off by the deadline');
  };
  try {
    const token = (await login(cmd.url, spec.userId, { cid: spec.cid, timeoutMs: cmd.timeoutMs })).token;
    late();
    const t1 = nowMs();
    recordMs(hist(ph, 'login'), t1 - t0);
    stage = 'connect';
    if (spec.lite) return await connectLite(cmd, spec, ph, result, slot, client, token, t1, late);
    const socket = await openSocket(cmd.url, { token, userId: spec.userId, cid: spec.cid, transports: cmd.transports, timeoutMs: cmd.timeoutMs }, (s) => {
      client.socket = s;
      s.on('message:new', (m) => onMessage(spec.key, m));
      if (spec.observePresence) {
        s.on('presence:update', (u: { userId: string; online: boolean }) => {
          phase(currentPhase).presence.push({ observer: spec.key, userId: u.userId, online: u.online, at: nowMs() });
        });
      }
    });
    late();
    const t2 = nowMs();
    result.connectedAt[spec.key] = t2;
    recordMs(hist(ph, 'connect'), t2 - t1);
    // presence:update only reaches subscribers; the server takes at most this many ids per subscribe.
    stage = 'subscribe';
    const watched = spec.observePresence?.userIds ?? [];
    for (let i = 0; i < watched.length; i += PRESENCE_SUBSCRIBE_MAX_IDS) {
      const a = await ack(socket, cmd.timeoutMs, 'presence:subscribe', { userIds: watched.slice(i, i + PRESENCE_SUBSCRIBE_MAX_IDS) });
      late();
      if (!a?.ok) throw new Error(`presence:subscribe ${a?.error?.code ?? 'failed'}`);
    }
    stage = 'join';
    await joinRooms(spec, ph, { t1, t2 }, late, (room) => ack(socket, cmd.timeoutMs, 'room:join', { room }));
    holdConnected(spec, client, result, slot, (fn) => socket.on('disconnect', fn));
    if (cmd.holdMs > 0) {
      await sleep(cmd.holdMs);
      result.disconnectedAt[spec.key] = nowMs();
      clients.delete(spec.key);
      counters.connected--;
      socket.disconnect();
    }
  } catch (e) {
    client.socket?.disconnect();
    client.lite?.disconnect();
    // Already settled: the phase deadline counted this client as failed.
    if (!slot.settled) {
      slot.settled = true;
      delete result.connectedAt[spec.key];
      result.failed++;
      countError(result.errors, `${stage}: ${(e as Error).message}`.slice(0, 80));
    }
  } finally {
    counters.connecting--;
  }
}

type JoinAck = { ok?: boolean; error?: { code?: string } } | undefined;

/** Joins the client's rooms in turn; the first join is timed (join, connect + join, and from the schedule). */
async function joinRooms(spec: ConnectCmd['clients'][number], ph: Phase, at: { t1: number; t2: number }, late: () => void, join: (room: string) => Promise<JoinAck>): Promise<void> {
  for (const [i, room] of spec.rooms.entries()) {
    const a = await join(room);
    late();
    if (!a?.ok) throw new Error(`join ${a?.error?.code ?? 'failed'}`);
    if (i === 0) {
      const t3 = nowMs();
      recordMs(hist(ph, 'join'), t3 - at.t2);
      recordMs(hist(ph, 'connectJoin'), t3 - at.t1);
      recordMs(hist(ph, 'loginConnectJoin'), t3 - spec.at);
    }
  }
}

/** A client connected and joined: counted, held, and a later disconnect it did not ask for counted as an error. */
function holdConnected(spec: ConnectCmd['clients'][number], client: Client, result: ConnectResult, slot: Slot, onDisconnect: (fn: (reason: string) => void) => void): void {
  slot.settled = true;
  clients.set(spec.key, client);
  counters.connected++;
  result.ok++;
  onDisconnect((reason) => {
    if (clients.get(spec.key) === client && reason !== 'io client disconnect') {
      counters.connected--;
      countError(result.errors, `disconnect: ${reason}`);
    }
  });
}

/** connectOne for a receive-only listener (ClientSpec.lite): the small ws client, timed the same way. */
async function connectLite(cmd: ConnectCmd, spec: ConnectCmd['clients'][number], ph: Phase, result: ConnectResult, slot: Slot, client: Client, token: string, t1: number, late: () => void): Promise<void> {
  const socket = await openLite(cmd.url, { cid: spec.cid, auth: { token, userId: spec.userId }, timeoutMs: cmd.timeoutMs }, (s) => {
    client.lite = s;
    s.on('message:new', (m) => onMessage(spec.key, m as { text?: string }));
  });
  late();
  const t2 = nowMs();
  result.connectedAt[spec.key] = t2;
  recordMs(hist(ph, 'connect'), t2 - t1);
  await joinRooms(spec, ph, { t1, t2 }, late, (room) => socket.emitWithAck('room:join', { room }, cmd.timeoutMs) as Promise<JoinAck>);
  holdConnected(spec, client, result, slot, (fn) => socket.on('disconnect', (reason) => fn(reason as string)));
}

async function connect(cmd: ConnectCmd): Promise<ConnectResult> {
  currentPhase = cmd.phase;
  const ph = phase(cmd.phase);
  const result: ConnectResult = { ok: 0, failed: 0, errors: {}, connectedAt: {}, disconnectedAt: {} };
  // A client that neither finishes nor fails within its budget from its start
  // (login, connect, each ack: one timeout apiece) counts as failed (a stuck
  // proxy), and so does every client still unsettled when the phase's deadline
  // (cmd.deadlineAt, from the coordinator) comes, whether it started or not.
  const deadlineAt = cmd.deadlineAt ?? Infinity;
  const deadlineS = Math.round((cmd.deadlineMs ?? 0) / 1000);
  await Promise.all(
    cmd.clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          const slot: Slot = { settled: false };
          let own: NodeJS.Timeout | undefined;
          const cut = (why: string) => {
            if (slot.settled) return; // counted; only its hold (presence churn) is left
            slot.settled = true;
            result.failed++;
            delete result.connectedAt[c.key];
            countError(result.errors, why);
            resolve();
          };
          const phaseTimer = Number.isFinite(deadlineAt) ? setTimeout(() => cut(`deadline: not connected and joined within ${deadlineS} s`), Math.max(0, deadlineAt - nowMs())) : undefined;
          void sleep(c.at - nowMs())
            .then(() => {
              if (!slot.settled) own = setTimeout(() => cut('stuck: no answer within its timeouts'), clientBudgetMs(c, cmd.timeoutMs));
              return connectOne(cmd, c, ph, result, slot);
            })
            .finally(() => {
              clearTimeout(phaseTimer);
              clearTimeout(own);
              resolve();
            });
        }),
    ),
  );
  return result;
}

async function send(cmd: SendCmd): Promise<void> {
  currentPhase = cmd.phase;
  const ph = phase(cmd.phase);
  const pad = 'x'.repeat(cmd.textPad);
  // One timer loop for all producers of this worker: each send carries its
  // scheduled time, so a late loop shows up as latency (no coordinated omission).
  const queue = cmd.producers.map((p) => ({ p, next: p.start, seq: 0 }));
  for (const q of queue) ph.acked.set(q.p.producer, []);
  const ackH = hist(ph, 'ack');
  // A generator made to lag on purpose (the smoke profile's check of the invalid-phase rule): its loop blocks now and then.
  const stall = cmd.stall
    ? setInterval(() => {
        const until = Date.now() + cmd.stall!.forMs;
        while (Date.now() < until);
      }, cmd.stall.everyMs)
    : undefined;
  while (queue.length) {
    const now = nowMs();
    let soonest = Infinity;
    for (let i = queue.length - 1; i >= 0; i--) {
      const q = queue[i];
      while (q.next <= now && q.next < q.p.end) {
        const scheduled = q.next;
        const seq = q.seq++;
        q.next += q.p.intervalMs;
        const socket = clients.get(q.p.client)?.socket;
        if (!socket?.connected) {
          countError(ph.sendErrors, 'not connected');
          continue;
        }
        counters.sends++;
        const pr = ack(socket, cmd.ackTimeoutMs, 'message:send', {
          room: q.p.room,
          text: `lt|${q.p.producer}|${seq}|${scheduled.toFixed(3)}|${tag(q.p.producer, seq)} ${pad}`,
          clientMsgId: `${q.p.producer}:${seq}`,
        }).then(
          (a) => {
            if (a?.ok) {
              counters.acks++;
              recordMs(ackH, nowMs() - scheduled);
              ph.acked.get(q.p.producer)!.push(seq);
            } else countError(ph.sendErrors, `ack ${a?.error?.code ?? 'not ok'}`);
          },
          () => countError(ph.sendErrors, 'ack timeout'),
        );
        ph.pendingAcks.add(pr);
        void pr.finally(() => ph.pendingAcks.delete(pr));
      }
      if (q.next >= q.p.end) queue.splice(i, 1);
      else soonest = Math.min(soonest, q.next);
    }
    if (queue.length) await sleep(Math.min(soonest - nowMs(), 50));
  }
  clearInterval(stall);
  await Promise.all([...ph.pendingAcks]);
}

async function handle(cmd: Cmd): Promise<unknown> {
  switch (cmd.type) {
    case 'connect':
      return connect(cmd);
    case 'send':
      return send(cmd);
    case 'members': {
      const ph = phase(cmd.phase);
      for (const m of cmd.members) if (clients.has(m.receiver)) ph.loss.member(m.receiver, m.producer);
      // Where each client's history:sync for this phase starts: the newest message it had before the phase (the recipe's "before the trouble").
      if (cmd.track) ph.track ??= new ShownMessages(new Map(lastSeen));
      return null;
    }
    case 'shown':
      return phase(cmd.phase).track?.counts() ?? { shownTwice: 0, historyOverlap: 0 };
    case 'acked':
      return Object.fromEntries(phase(cmd.phase).acked);
    case 'loss':
      return phase(cmd.phase).loss.summary(cmd.acked);
    case 'collect': {
      const ph = phase(cmd.phase);
      const out: PhaseCollect = {
        hist: Object.fromEntries([...ph.hists].map(([k, h]) => [k, encode(h)])),
        series: [...ph.series].map(([sec, s]) => ({ sec, deliveries: s.deliveries, hist: encode(s.hist) })),
        presence: ph.presence,
        sendErrors: ph.sendErrors,
      };
      return out;
    }
    case 'disconnect': {
      const keys = cmd.keys ?? [...clients.keys()];
      for (const k of keys) {
        const c = clients.get(k);
        if (!c) continue;
        clients.delete(k);
        counters.connected--;
        c.socket?.disconnect();
        c.lite?.disconnect();
      }
      return null;
    }
    case 'gen-mark':
      gauge.mark();
      return null;
    case 'gen-read':
      return gauge.read();
    case 'exit':
      setTimeout(() => process.exit(0), 10);
      return null;
    case 'chat':
      return runChat(cmd, counters);
    case 'resync':
      return resync(cmd, {
        get: (key) => clients.get(key),
        listen: (key, socket) => socket.on('message:new', (m) => onMessage(key, m)),
        loss: (name) => phase(name).loss,
        shown: (name) => phase(name).track,
      });
  }
}

process.on('message', (m: { id: number; cmd: Cmd }) => {
  handle(m.cmd).then(
    (result) => process.send!({ id: m.id, ok: true, result }),
    (e: Error) => process.send!({ id: m.id, ok: false, error: e.stack ?? String(e) }),
  );
});
setInterval(() => process.send!({ stats: counters }), 1000).unref();
process.on('disconnect', () => process.exit(0));
