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

/**
 * Every command the primaries receive from a client (MONITOR on each; the
 * commands a Lua script runs are left out) until stop(), each named by the
 * connection that sent it.
 */
export async function watchCommands(cluster: Cluster): Promise<{ stop(): Promise<SeenCommand[]> }> {
  const ports = await primaryPorts(cluster);
  const seen: Array<{ port: number; source: string; args: string[] }> = [];
  const clients: Redis[] = [];
  await Promise.all(
    ports.map(async (port) => {
      const client = new Redis({ port, host: '127.0.0.1' });
      const monitor = await client.monitor();
      clients.push(client, monitor);
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua') seen.push({ port, source, args });
      });
    }),
  );
  return {
    async stop() {
      for (const c of clients) c.disconnect();
      const names = new Map<string, string>();
      await onEach(ports, async (admin) => {
        for (const line of String(await admin.call('CLIENT', 'LIST')).split('\n')) {
          const fields = Object.fromEntries(line.trim().split(' ').map((kv) => kv.split('=')));
          if (fields.addr) names.set(`${admin.options.port}/${fields.addr}`, fields.name || fields.addr);
        }
      });
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
