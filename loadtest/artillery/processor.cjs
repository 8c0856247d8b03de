// Artillery processor: times a connect (handshake + auth) on the VU's socket,
// records end-to-end delivery latency of message:new from the send timestamp
// in the text as the custom histogram `lt.delivery_ms`, and lets the room's
// producer send on a fixed schedule with acks (`lt.ack_ms`).
'use strict';

const ROOMS = Number(process.env.LT_ROOMS || 4);
const MSG_PER_SEC = Number(process.env.LT_MSG_PER_SEC || 8);
const DURATION_S = Number(process.env.LT_DURATION_S || 8);
const CONNECT_S = Number(process.env.LT_CONNECT_S || 2);
// Sends start when every VU should have connected: LT_SEND_AT (epoch ms) when
// given, else measured from when this worker loaded the processor (just before
// its first arrival).
const SEND_AT = Number(process.env.LT_SEND_AT || Date.now() + (CONNECT_S + 2) * 1000);
const END_AT = SEND_AT + DURATION_S * 1000 + 3000;

function socketOf(context) {
  return context.sockets && context.sockets[''];
}

function timeConnect(context, events, done) {
  const socket = socketOf(context);
  if (!socket) return done(new Error('no socket'));
  // The engine's own connect_error listener from its first connect would call
  // its (finished) step callback again on a later error: drop it.
  socket.off('connect_error');
  socket.disconnect();
  let finished = false;
  // A connect the server never answers (auth middleware waiting on a wedged
  // database) fails the VU after 20 s instead of holding it for good.
  const timer = setTimeout(() => finish(new Error('connect timeout after 20000 ms')), 20_000);
  const finish = (e) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(e);
  };
  const t0 = performance.now();
  socket.once('connect', () => {
    events.emit('histogram', 'lt.connect_ms', performance.now() - t0);
    finish();
  });
  socket.once('connect_error', (e) => finish(e));
  socket.connect();
}

function fanout(context, events, done) {
  const socket = socketOf(context);
  const me = context.vars.userId;
  socket.on('message:new', (m) => {
    if (!m || typeof m.text !== 'string' || !m.text.startsWith('art|')) return;
    const ts = Number(m.text.split('|')[3]);
    events.emit('histogram', 'lt.delivery_ms', Date.now() - ts);
    events.emit('counter', 'lt.received', 1);
  });
  const timers = [];
  if (String(context.vars.producer) === '1') {
    const interval = (ROOMS * 1000) / MSG_PER_SEC;
    let seq = 0;
    const tick = () => {
      if (Date.now() >= SEND_AT + DURATION_S * 1000) return;
      const s = seq++;
      const ts = Date.now();
      events.emit('counter', 'lt.sent', 1);
      socket.timeout(10000).emit('message:send', { room: context.vars.room, text: `art|${me}|${s}|${ts}`, clientMsgId: `${me}-${s}` }, (err, ack) => {
        if (!err && ack && ack.ok) {
          events.emit('counter', 'lt.acked', 1);
          events.emit('histogram', 'lt.ack_ms', Date.now() - ts);
        } else events.emit('counter', 'lt.send_errors', 1);
      });
      timers.push(setTimeout(tick, ts + interval - Date.now()));
    };
    timers.push(setTimeout(tick, Math.max(0, SEND_AT - Date.now() + Math.random() * interval)));
  }
  setTimeout(() => {
    timers.forEach(clearTimeout);
    done();
  }, Math.max(0, END_AT - Date.now()));
}

module.exports = { timeConnect, fanout };
