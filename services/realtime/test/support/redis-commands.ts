import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import type { Cluster } from './cluster';
import { sleep } from './processes';

/** What tests count Redis commands with: every primary of the run's topology. */
async function primaryPorts(cluster: Cluster): Promise<number[]> {
  const ports: number[] = [];
  for (const node of cluster.redis.dataNodes()) if ((await node.role()) === 'master') ports.push(node.port);
  return ports;
}

async function onEach<T>(ports: number[], fn: (client: Redis) => Promise<T>): Promise<T[]> {
  return Promise.all(
    ports.map(async (port) => {
      const client = new Redis({ port, host: '127.0.0.1' });
      try {
        return await fn(client);
      } finally {
        client.disconnect();
      }
    }),
  );
}

export interface SeenCommand {
  /** The connection's name (CLIENT SETNAME: sb-command, sb-pub...), or its address when it has none. */
  client: string;
  name: string;
  args: string[];
}

interface MonitorLine {
  source: string;
  args: string[];
}

/** One argument of a MONITOR line, as Redis quotes it (sdscatrepr): \" \\ \n \r \t \a \b and \xHH. */
function unquote(text: string): string {
  const named: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' };
  return text.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (named[e] ?? e)));
}

/** `<time> [<db> <source>] "arg" "arg"...`; the source is `lua` for a script's own commands. */
export function parseMonitorLine(line: string): MonitorLine | undefined {
  const head = /^\d+\.\d+ \[\d+ ([^\]]+)\] /.exec(line);
  if (!head) return undefined;
  const args = [...line.slice(head[0].length).matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => unquote(m[1]));
  return { source: head[1], args };
}

/**
 * A MONITOR connection of our own. ioredis's monitor() loses the race between
 * MONITOR's +OK and the first fed line when both arrive in one packet (it
 * switches mode a microtask later and then reports "Command queue state
 * error"), which a busy Cluster run hits; every MONITOR reply is one simple
 * string line, so reading them here is exact.
 */
async function openMonitor(port: number, onLine: (line: MonitorLine) => void): Promise<Socket> {
  const socket = createConnection({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let buffered = '';
  let ready!: () => void;
  let failed!: (err: Error) => void;
  const monitoring = new Promise<void>((resolve, reject) => ((ready = resolve), (failed = reject)));
  socket.on('error', failed);
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line === '+OK') ready();
      else if (line.startsWith('-')) failed(new Error(`MONITOR on port ${port}: ${line.slice(1)}`));
      else {
        const parsed = parseMonitorLine(line.slice(1));
        if (parsed) onLine(parsed);
      }
    }
  });
  socket.write('MONITOR\r\n');
  await monitoring;
  return socket;
}

/**
 * Every command the primaries receive from a client (the commands a Lua
 * script runs are left out) until stop(), each named by the connection that
 * sent it.
 */
export async function watchCommands(cluster: Cluster): Promise<{ stop(): Promise<SeenCommand[]> }> {
  const ports = await primaryPorts(cluster);
  const seen: Array<{ port: number; source: string; args: string[] }> = [];
  const fence = `sb-test-fence-${process.pid}-${Date.now()}`;
  const fenced = new Set<number>();
  let fenceSeen = () => {};
  const monitors = await Promise.all(
    ports.map((port) =>
      openMonitor(port, ({ source, args }) => {
        if (args[0]?.toLowerCase() === 'echo' && args[1] === fence) {
          fenced.add(port);
          fenceSeen();
        } else if (source !== 'lua') seen.push({ port, source, args });
      }),
    ),
  );
  return {
    async stop() {
      const names = new Map<string, string>();
      try {
        // A fence on each primary: every line fed before it has been read once it comes back.
        const allFenced = new Promise<void>((resolve) => {
          fenceSeen = () => fenced.size === ports.length && resolve();
        });
        await onEach(ports, async (admin) => {
          await admin.echo(fence);
          for (const line of String(await admin.call('CLIENT', 'LIST')).split('\n')) {
            const fields = Object.fromEntries(line.trim().split(' ').map((kv) => kv.split('=')));
            if (fields.addr) names.set(`${admin.options.port}/${fields.addr}`, fields.name || fields.addr);
          }
        });
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`MONITOR lost its connection: the fence came back from ${fenced.size} of ${ports.length} primaries`)), 10_000);
        });
        await Promise.race([allFenced, late]).finally(() => clearTimeout(timer));
      } finally {
        for (const m of monitors) m.destroy();
      }
      return seen.map((c) => ({ client: names.get(`${c.port}/${c.source}`) ?? c.source, name: c.args[0].toLowerCase(), args: c.args.slice(1) }));
    },
  };
}

/** Commands per second all primaries ran over `ms` (INFO commandstats; a script's own commands included). */
export async function commandsPerSecond(cluster: Cluster, ms: number): Promise<number> {
  const ports = await primaryPorts(cluster);
  const total = async () =>
    (
      await onEach(ports, async (client) => {
        let calls = 0;
        for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info') calls += Number(m[2]);
        return calls;
      })
    ).reduce((a, b) => a + b, 0);
  const before = await total();
  await sleep(ms);
  return ((await total()) - before) / (ms / 1000);
}
