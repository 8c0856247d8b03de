// What a conversation list costs a user in many rooms (docs/benchmarks.md,
// "Conversation lists"). One replica on a local redis-server and FerretDB (the
// integration tests' servers), a user in BENCH_ROOMS public rooms, a writer
// who sends one message to every tenth of them. Prints the timings as JSON.
//   cd services/realtime && npm run build && npx tsx scripts/bench-conversations.ts
import type { Socket } from 'socket.io-client';
import { connect, emitAck, login, startCluster } from '../test/support/cluster';

const ROOMS = Number(process.env.BENCH_ROOMS ?? 2000);
const REPEATS = 10;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const value = await fn();
  return [performance.now() - started, value];
}

async function main(): Promise<void> {
  const cluster = await startCluster({ replicas: 1, env: { RATE_LIMIT_JOINS: '1000000/60s', RATE_LIMIT_MESSAGES: '1000000/10s', RATE_LIMIT_HISTORY: '1000000/60s', RATE_LIMIT_EVENTS: '1000000/1s', ROOMS_PER_SOCKET_MAX: String(ROOMS), LOG_LEVEL: 'warn' } });
  const sockets: Socket[] = [];
  try {
    const url = cluster.replicas[0].url;
    const open = async (userId: string) => {
      const s = await connect(url, (await login(url, userId)).token);
      sockets.push(s);
      return s;
    };
    const many = await open('bench-many');
    const few = await open('bench-few');
    const writer = await open('bench-writer');
    const rooms = Array.from({ length: ROOMS }, (_, i) => `bench-${i}`);
    for (let i = 0; i < rooms.length; i += 50) {
      await Promise.all(rooms.slice(i, i + 50).map((room) => emitAck(many, 'room:join', { room })));
    }
    for (const room of rooms.slice(0, 10)) await emitAck(few, 'room:join', { room });
    for (const room of rooms.filter((_, i) => i % 10 === 0)) {
      await emitAck(writer, 'room:join', { room });
      await emitAck(writer, 'message:send', { room, text: `hello ${room}`, clientMsgId: room });
    }
    const page = (s: Socket, cursor?: string) => emitAck(s, 'conversations:list', cursor ? { limit: 100, cursor } : { limit: 50 });
    // Cold: no room without a message has a state in Redis yet, and the user's cache is new.
    const [cold, first] = await timed(() => page(many));
    if (!first.ok) throw new Error(JSON.stringify(first));
    const warm: number[] = [];
    for (let i = 0; i < REPEATS; i++) warm.push((await timed(() => page(many)))[0]);
    const few10: number[] = [];
    for (let i = 0; i < REPEATS; i++) few10.push((await timed(() => page(few)))[0]);
    const [walk, listed] = await timed(async () => {
      let seen = 0;
      let cursor: string | undefined;
      let r = await page(many);
      for (;;) {
        seen += r.conversations.length;
        cursor = r.nextCursor ?? undefined;
        if (!cursor) return seen;
        r = await page(many, cursor);
      }
    });
    console.log(
      JSON.stringify({
        rooms: ROOMS,
        firstPageColdMs: Math.round(cold),
        firstPageWarmMedianMs: Math.round(median(warm)),
        tenRoomsMedianMs: Math.round(median(few10)),
        walkAllPagesMs: Math.round(walk),
        listed,
      }),
    );
  } finally {
    for (const s of sockets) s.close();
    await cluster.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
