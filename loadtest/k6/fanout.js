// k6: connect storm + fan-out over Engine.IO v4 / Socket.IO v5 frames (k6 has
// no Socket.IO client). Run by `make loadtest` (loadtest/k6/run.ts), or alone:
//   k6 run -e URL=http://127.0.0.1:8080 -e SOCKETS=200 -e ROOMS=10 -e MSG_PER_SEC=20 loadtest/k6/fanout.js
// Frames: `0{...}` open, `40{auth}` connect, `42[...]` event, `42<id>[...]`
// event with ack id, `43<id>[...]` ack, ping `2` answered with `3`.
import http from 'k6/http';
import exec from 'k6/execution';
import { WebSocket } from 'k6/experimental/websockets';
import { setTimeout, setInterval, clearInterval } from 'k6/timers';
import { Counter, Trend } from 'k6/metrics';

const URL = __ENV.URL || 'http://127.0.0.1:8080';
const WS = URL.replace(/^http/, 'ws');
const SOCKETS = Number(__ENV.SOCKETS || 100);
const ROOMS = Number(__ENV.ROOMS || 10);
const CONNECT_RATE = Number(__ENV.CONNECT_RATE || 50);
const MSG_PER_SEC = Number(__ENV.MSG_PER_SEC || 10);
const DURATION_S = Number(__ENV.DURATION_S || 10);
const RUN = __ENV.RUN || String(Date.now());
const P99_LIMIT = Number(__ENV.P99_LIMIT_MS || 1000);

const connectS = Math.ceil(SOCKETS / CONNECT_RATE);
// Everything is scheduled from the test's start: connects during connectS,
// then sends for DURATION_S, then 3 s for the last deliveries.
const SEND_AFTER_MS = (connectS + 2) * 1000;
const STAY_MS = SEND_AFTER_MS + DURATION_S * 1000 + 3000;

const delivery = new Trend('lt_delivery_ms', true);
const connectJoin = new Trend('lt_connect_join_ms', true);
const ackT = new Trend('lt_ack_ms', true);
const sent = new Counter('lt_sent');
const acked = new Counter('lt_acked');
const received = new Counter('lt_received');
const errors = new Counter('lt_errors');
const connected = new Counter('lt_connected');

export const options = {
  scenarios: {
    members: {
      executor: 'constant-arrival-rate',
      rate: CONNECT_RATE,
      timeUnit: '1s',
      duration: `${connectS}s`,
      preAllocatedVUs: SOCKETS,
      maxVUs: SOCKETS,
      gracefulStop: `${Math.ceil(STAY_MS / 1000) + 30}s`,
    },
  },
  thresholds: {
    lt_delivery_ms: [`p(99)<${P99_LIMIT}`],
    lt_errors: ['count<1'],
    lt_received: ['count>0'],
    // constant-arrival-rate drops an iteration it cannot start on time (a loaded
    // generator): those show as dropped_iterations, not as server failures.
    lt_connected: [`count>=${Math.floor(SOCKETS * 0.9)}`],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'p(99.9)', 'max', 'count'],
};

export function setup() {
  return { t0: Date.now() };
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  if (i >= SOCKETS) return;
  const room = `k6-${RUN}-${i % ROOMS}`;
  const producer = i < ROOMS;
  const userId = `k6-${RUN}-u${i}`;
  const cid = `k6-${RUN}-${i}`;
  const login = http.post(`${URL}/api/login?cid=${cid}`, JSON.stringify({ userId }), { headers: { 'content-type': 'application/json' } });
  if (login.status !== 200) {
    errors.add(1, { stage: 'login' });
    return;
  }
  const token = login.json('token');
  const started = Date.now();
  const ws = new WebSocket(`${WS}/socket.io/?EIO=4&transport=websocket&cid=${cid}`);
  let ackId = 1;
  const pending = {};
  let timer = null;
  let seq = 0;

  const emit = (event, payload, onAck) => {
    const id = ackId++;
    pending[id] = onAck;
    ws.send(`42${id}${JSON.stringify([event, payload])}`);
  };

  ws.onmessage = (e) => {
    const m = e.data;
    if (m === '2') return ws.send('3');
    if (m[0] === '0') return ws.send(`40${JSON.stringify({ token, userId })}`);
    if (m.startsWith('40')) {
      emit('room:join', { room }, (a) => {
        if (!a || !a.ok) {
          errors.add(1, { stage: 'join' });
          return ws.close();
        }
        connectJoin.add(Date.now() - started);
        connected.add(1);
        if (producer) {
          const interval = (ROOMS * 1000) / MSG_PER_SEC;
          const sendStart = data.t0 + SEND_AFTER_MS - Date.now();
          setTimeout(() => {
            timer = setInterval(() => {
              const s = seq++;
              const ts = Date.now();
              sent.add(1);
              emit('message:send', { room, text: `k6|${i}|${s}|${ts}`, clientMsgId: `k6-${RUN}-${i}-${s}` }, (r) => {
                if (r && r.ok) {
                  acked.add(1);
                  ackT.add(Date.now() - ts);
                } else errors.add(1, { stage: 'send' });
              });
            }, interval);
            setTimeout(() => clearInterval(timer), DURATION_S * 1000);
          }, Math.max(0, sendStart));
        }
      });
      return;
    }
    if (m.startsWith('44')) {
      errors.add(1, { stage: 'connect' });
      return ws.close();
    }
    if (m.startsWith('43')) {
      const b = m.indexOf('[');
      const id = Number(m.slice(2, b));
      const cb = pending[id];
      delete pending[id];
      if (cb) cb(JSON.parse(m.slice(b))[0]);
      return;
    }
    if (m.startsWith('42')) {
      const b = m.indexOf('[');
      const [event, payload] = JSON.parse(m.slice(b));
      if (event === 'message:new' && typeof payload.text === 'string' && payload.text.startsWith('k6|')) {
        const ts = Number(payload.text.split('|')[3]);
        delivery.add(Date.now() - ts);
        received.add(1);
      }
    }
  };
  ws.onerror = () => errors.add(1, { stage: 'websocket' });
  setTimeout(() => ws.close(), Math.max(1000, data.t0 + STAY_MS - Date.now()));
}
