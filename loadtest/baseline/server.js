// The load test's stock baseline: a bare Socket.IO 4 server with the classic
// @socket.io/redis-adapter and nothing else (no auth check, no persistence, no
// presence, no rate limits). It speaks the few events the load generators use,
// with Switchboard's names and ack shapes, so every generator runs unchanged
// against both: POST /api/login (answers a dummy token), room:join,
// room:leave, typing (relayed to the room), message:send (broadcast
// message:new to the room, then ack), /health with
// X-Served-By for nginx's stickiness checks, and /metrics with the process
// figures the harness samples, served like Switchboard's: only on an internal
// listener (METRICS_PORT, default 9464) that nginx does not proxy; the main
// port answers 404 there.
'use strict';
const http = require('node:http');
const os = require('node:os');
const { PerformanceObserver, constants, monitorEventLoopDelay } = require('node:perf_hooks');
const v8 = require('node:v8');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

const PORT = Number(process.env.PORT || 3000);
const METRICS_PORT = Number(process.env.METRICS_PORT || 9464);
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const INSTANCE = process.env.INSTANCE_NAME || os.hostname();

const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
// Heap in use right after the latest full GC (the live set), as Switchboard reports it: the soak's leak rule reads it.
let heapAfterMajorGc;
let majorGcs = 0;
new PerformanceObserver((list) => {
  const major = list.getEntries().filter((e) => e.detail && e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR).length;
  if (major === 0) return;
  majorGcs += major;
  heapAfterMajorGc = v8.getHeapStatistics().used_heap_size;
}).observe({ entryTypes: ['gc'] });

const server = http.createServer((req, res) => {
  res.setHeader('X-Served-By', INSTANCE);
  const url = req.url || '/';
  if (url.startsWith('/health')) {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify({ status: 'ok', instance: INSTANCE }));
  }
  if (url.startsWith('/api/login') && req.method === 'POST') {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true, token: 'stock' }));
    });
    return;
  }
  if (url.startsWith('/socket.io')) return; // engine.io answers these
  res.statusCode = 404;
  res.end();
});

// The internal metrics listener: the harness reads each replica here, at its own address.
const metricsServer = http.createServer((req, res) => {
  if (!(req.url || '').startsWith('/metrics')) {
    res.statusCode = 404;
    return res.end();
  }
  const cpu = process.cpuUsage();
  res.setHeader('content-type', 'text/plain; version=0.0.4');
  res.end(
    `process_resident_memory_bytes ${process.memoryUsage.rss()}\n` +
      `nodejs_heap_size_used_bytes ${process.memoryUsage().heapUsed}\n` +
      (heapAfterMajorGc === undefined ? '' : `nodejs_heap_used_after_major_gc_bytes ${heapAfterMajorGc}\n`) +
      `nodejs_gc_duration_seconds_count{kind="major"} ${majorGcs}\n` +
      `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}\n` +
      `nodejs_eventloop_lag_seconds ${lag.mean / 1e9 || 0}\n` +
      `nodejs_eventloop_lag_p99_seconds ${lag.percentile(99) / 1e9 || 0}\n`,
  );
  lag.reset();
});

const io = new Server(server, { cors: { origin: true } });
let seq = 0;

io.on('connection', (socket) => {
  const userId = String((socket.handshake.auth && socket.handshake.auth.userId) || socket.id);
  socket.on('room:join', (p, ack) => {
    socket.join(p.room);
    if (typeof ack === 'function') ack({ ok: true, room: p.room });
  });
  // room:leave and the typing relay are plain Socket.IO too (the chat mix uses them).
  socket.on('room:leave', (p, ack) => {
    socket.leave(p.room);
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('typing', (p) => {
    if (socket.rooms.has(p.room)) socket.to(p.room).emit('typing', { room: p.room, userId, typing: p.typing === true });
  });
  socket.on('message:send', (p, ack) => {
    const message = { id: `${INSTANCE}-${++seq}`, room: p.room, userId, text: p.text, ts: Date.now(), clientMsgId: p.clientMsgId, instance: INSTANCE };
    io.to(p.room).emit('message:new', message);
    if (typeof ack === 'function') ack({ ok: true, duplicate: false, message });
  });
});

async function main() {
  const pub = createClient({ url: REDIS_URL });
  const sub = pub.duplicate();
  // node-redis exits the process on an error without a listener.
  pub.on('error', (e) => console.error('redis pub:', e.message));
  sub.on('error', (e) => console.error('redis sub:', e.message));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  metricsServer.listen(METRICS_PORT);
  server.listen(PORT, () => console.log(`stock baseline ${INSTANCE} on :${PORT} (metrics on :${METRICS_PORT})`));
  const stop = () => {
    metricsServer.close();
    io.close();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
