// CPU time of plain processes (the stock baseline run on loopback,
// lib/local-stock.ts) in the shape the CPU accounting reads containers in:
// utime + stime of each named process and of its children (nginx's workers),
// from /proc/<pid>/stat.
import fs from 'node:fs';
import { groupOf, type Group } from './cgroup';

const TICK_US = 1e6 / 100; // USER_HZ

function stat(pid: number): { ppid: number; cpuUs: number; rssBytes: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // after the name: state(0) ppid(1) ... utime(11) stime(12) ... rss(21, pages)
    return { ppid: Number(f[1]), cpuUs: (Number(f[11]) + Number(f[12])) * TICK_US, rssBytes: Number(f[21]) * 4096 };
  } catch {
    return undefined; // the process is gone
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) if (/^\d+$/.test(d) && stat(Number(d))?.ppid === pid) out.push(Number(d));
  return out;
}

export class ProcReader {
  private readonly members: Map<string, number[]>;

  /** name -> pid; the group of each follows its name (stock-1 is a replica, nginx, redis). */
  constructor(named: Record<string, number>) {
    this.members = new Map(Object.entries(named).map(([name, pid]) => [name, [pid, ...childrenOf(pid)]]));
  }

  get list(): { name: string }[] {
    return [...this.members.keys()].map((name) => ({ name }));
  }

  read(): Record<string, { cpuUs?: number; memBytes?: number; group: Group }> {
    const out: Record<string, { cpuUs?: number; memBytes?: number; group: Group }> = {};
    for (const [name, pids] of this.members) {
      const stats = pids.map(stat).filter((s) => s !== undefined);
      out[name] = { cpuUs: stats.length ? stats.reduce((a, s) => a + s.cpuUs, 0) : undefined, memBytes: stats.reduce((a, s) => a + s.rssBytes, 0), group: groupOf(name.replace(/^stock(-\d+)$/, 'realtime$1')) };
    }
    return out;
  }
}
