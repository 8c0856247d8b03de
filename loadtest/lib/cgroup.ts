// CPU time and memory of containers straight from their cgroups: a read of a
// few small files per container, where `docker stats` asks the daemon (which
// costs CPU of its own, on the machine being measured). The container's
// cgroup is found from its main process (/proc/<pid>/cgroup) and the mounts
// (/proc/self/mountinfo), so it works with cgroup v1 or v2 and either cgroup
// driver (cgroupfs: /docker/<id>; systemd: /system.slice/docker-<id>.scope).
//   v2: cpu.stat usage_usec, memory.current
//   v1: cpuacct/cpuacct.usage (ns), memory/memory.usage_in_bytes
// The whole machine's busy time comes from /proc/stat.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ContainerRef {
  id: string;
  /** compose's name for it: realtime-1, redis-1, nginx-1 ... */
  name: string;
  service: string;
  pid: number;
  /** this container shares the host's network (network_mode: host) */
  hostNetwork: boolean;
  /** its address on its first network ('' in host network mode) */
  ip: string;
  env: Record<string, string>;
}

export interface CgroupDirs {
  cpu?: { dir: string; v2: boolean };
  memory?: { dir: string; v2: boolean };
}

/** cgroup mount points: v2's unified one, and v1's per controller. */
export function cgroupMounts(mountinfo = safeRead('/proc/self/mountinfo')): { v2?: string; v1: Map<string, string> } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , options] = right.split(' ');
    if (fstype === 'cgroup2') v2 ??= mountPoint;
    else if (fstype === 'cgroup') for (const opt of (options ?? '').split(',')) if (['cpu', 'cpuacct', 'memory'].includes(opt)) v1.set(opt, mountPoint);
  }
  return { v2, v1 };
}

/** Where a process's CPU and memory are accounted, from its /proc/<pid>/cgroup lines. */
export function cgroupDirs(procCgroup: string, mounts = cgroupMounts()): CgroupDirs {
  const out: CgroupDirs = {};
  for (const line of procCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, controllers, rel] = m;
    const list = controllers.split(',');
    if (controllers === '' && mounts.v2 && !mounts.v1.has('cpuacct')) {
      const dir = path.join(mounts.v2, rel);
      out.cpu = { dir, v2: true };
      out.memory = { dir, v2: true };
    }
    if (list.includes('cpuacct') && mounts.v1.has('cpuacct')) out.cpu = { dir: path.join(mounts.v1.get('cpuacct')!, rel), v2: false };
    if (list.includes('memory') && mounts.v1.has('memory')) out.memory = { dir: path.join(mounts.v1.get('memory')!, rel), v2: false };
  }
  return out;
}

function safeRead(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return ''; // gone (a container that stopped): no reading
  }
}

/** CPU time used so far, µs; undefined when the cgroup is gone. */
export function readCpuUs(dirs: CgroupDirs): number | undefined {
  if (!dirs.cpu) return undefined;
  if (dirs.cpu.v2) {
    const m = /^usage_usec (\d+)/m.exec(safeRead(path.join(dirs.cpu.dir, 'cpu.stat')));
    return m ? Number(m[1]) : undefined;
  }
  const ns = safeRead(path.join(dirs.cpu.dir, 'cpuacct.usage')).trim();
  return ns ? Number(ns) / 1000 : undefined;
}

/** Memory charged to the cgroup now, bytes (v1: usage less page cache, close to v2's anonymous + kernel memory). */
export function readMemBytes(dirs: CgroupDirs): number | undefined {
  if (!dirs.memory) return undefined;
  if (dirs.memory.v2) {
    const v = safeRead(path.join(dirs.memory.dir, 'memory.current')).trim();
    return v ? Number(v) : undefined;
  }
  const usage = safeRead(path.join(dirs.memory.dir, 'memory.usage_in_bytes')).trim();
  if (!usage) return undefined;
  const cache = /^total_cache (\d+)/m.exec(safeRead(path.join(dirs.memory.dir, 'memory.stat')));
  return Number(usage) - (cache ? Number(cache[1]) : 0);
}

/** The whole machine: busy and total CPU time so far, µs summed over cores (/proc/stat). */
export function machineCpu(stat = safeRead('/proc/stat')): { busyUs: number; totalUs: number } {
  const f = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const ticks = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const us = 1e6 / 100; // USER_HZ is 100 on Linux
  return { busyUs: (ticks - idle) * us, totalUs: ticks * us };
}

/** `docker <args>`'s standard output ('' when docker is missing or fails). */
export function dockerOut(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('docker', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c));
    p.on('close', () => resolve(out));
    p.on('error', () => resolve('')); // no docker: no containers, which the caller reports
  });
}

/** Every running container of a compose project, with what the accounting needs. */
export async function projectContainers(project: string): Promise<ContainerRef[]> {
  const ids = (await dockerOut(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`])).split('\n').filter(Boolean);
  if (!ids.length) return [];
  const format = '{{json .}}';
  const lines = (await dockerOut(['inspect', '--format', format, ...ids])).split('\n').filter(Boolean);
  const out: ContainerRef[] = [];
  for (const line of lines) {
    try {
      const c = JSON.parse(line) as {
        Id: string;
        State: { Pid: number };
        Config: { Labels: Record<string, string>; Env: string[] };
        HostConfig: { NetworkMode: string };
        NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
      };
      const service = c.Config.Labels['com.docker.compose.service'] ?? '?';
      const number = c.Config.Labels['com.docker.compose.container-number'] ?? '1';
      const env = Object.fromEntries((c.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
      out.push({
        id: c.Id,
        name: /-\d+$/.test(service) ? service : `${service}-${number}`,
        service,
        pid: c.State.Pid,
        hostNetwork: c.HostConfig.NetworkMode === 'host',
        ip: Object.values(c.NetworkSettings.Networks ?? {})[0]?.IPAddress ?? '',
        env,
      });
    } catch {
      /* a container that went away between ps and inspect */
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

/** The part of the stack a container belongs to, for the CPU split. */
export type Group = 'replicas' | 'redis' | 'database' | 'nginx' | 'other';
export const SERVER_GROUPS: Group[] = ['replicas', 'redis', 'database', 'nginx'];

export function groupOf(service: string): Group {
  if (/^realtime(-\d+)?$/.test(service)) return 'replicas';
  if (/^redis|^sentinel/.test(service)) return 'redis';
  if (/^(mongo|ferretdb|postgres)/.test(service)) return 'database';
  if (/^nginx/.test(service)) return 'nginx';
  return 'other';
}

/** Reads a project's containers' cgroups; the cgroup of each is found once per container. */
export class CgroupReader {
  private readonly dirs = new Map<string, CgroupDirs>();
  private readonly mounts = cgroupMounts();

  constructor(private containers: ContainerRef[]) {}

  static async of(project: string): Promise<CgroupReader> {
    return new CgroupReader(await projectContainers(project));
  }

  get list(): ContainerRef[] {
    return this.containers;
  }

  private dirsOf(c: ContainerRef): CgroupDirs {
    let d = this.dirs.get(c.id);
    if (!d) this.dirs.set(c.id, (d = cgroupDirs(safeRead(`/proc/${c.pid}/cgroup`), this.mounts)));
    return d;
  }

  /** Per container name: CPU µs so far and memory bytes now (undefined where its cgroup could not be read). */
  read(): Record<string, { cpuUs?: number; memBytes?: number; group: Group }> {
    const out: Record<string, { cpuUs?: number; memBytes?: number; group: Group }> = {};
    for (const c of this.containers) {
      const d = this.dirsOf(c);
      out[c.name] = { cpuUs: readCpuUs(d), memBytes: readMemBytes(d), group: groupOf(c.service) };
    }
    return out;
  }
}
