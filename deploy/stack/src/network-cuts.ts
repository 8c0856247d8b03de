// A container cut from its networks (`make disconnect`) and put back as it was
// (`make reconnect`): the same networks, the same address where the network
// lets one be chosen, the same DNS aliases. What was cut is remembered per
// project in .stack/state/<project>.cuts.json, because reconnecting needs the
// address and aliases Docker forgets on disconnect.
import fs from 'node:fs';
import path from 'node:path';
import { exec, mustExec } from './exec';
import { readIfExists } from './errno';
import { StackError } from './log';
import { STATE_DIR } from './paths';
import { settings } from './settings';

export interface Attachment {
  network: string;
  ip: string;
  aliases: string[];
}

type Cuts = Record<string, Attachment[]>;

function cutsFile(project = settings().project): string {
  return path.join(STATE_DIR, `${project}.cuts.json`);
}

function readCuts(project?: string): Cuts {
  const file = cutsFile(project);
  const text = readIfExists(file);
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as Cuts;
  } catch {
    throw new StackError(`${file} is not JSON (a write cut short?): remove it and reconnect by hand with docker network connect.`);
  }
}

function writeCuts(cuts: Cuts, project?: string): void {
  const file = cutsFile(project);
  if (!Object.keys(cuts).length) return void fs.rmSync(file, { force: true });
  fs.mkdirSync(STATE_DIR, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(cuts, null, 2)}\n`);
}

/** `make down` forgets the cuts of a project that is gone. */
export function forgetCuts(project?: string): void {
  fs.rmSync(cutsFile(project), { force: true });
}

/** The networks a container is attached to now, with its address and aliases on each. */
export async function attachments(container: string): Promise<Attachment[]> {
  const r = await mustExec('docker', ['inspect', '--format', '{{json .NetworkSettings.Networks}}', container], `docker inspect ${container} failed.`);
  const nets = JSON.parse(r.stdout.trim() || '{}') as Record<string, { IPAddress?: string; Aliases?: string[] | null }>;
  return Object.entries(nets).map(([network, n]) => ({ network, ip: n.IPAddress ?? '', aliases: n.Aliases ?? [] }));
}

/**
 * Which of the container's networks `name` means: the network itself, or
 * compose's `<project>_<name>`; every one (but the host's) when no name is given.
 */
export function pickNetworks(attached: Attachment[], name: string | undefined, project = settings().project): Attachment[] {
  if (!name) return attached.filter((a) => a.network !== 'host' && a.network !== 'none');
  const found = attached.filter((a) => a.network === name || a.network === `${project}_${name}`);
  if (!found.length) {
    const known = attached.map((a) => a.network.replace(`${project}_`, '')).join(', ') || 'none';
    throw new StackError(`The container is not on a network "${name}" (it is on: ${known}).`);
  }
  return found;
}

/** Cuts the container from the networks and remembers how it was attached. */
export async function disconnectFrom(container: string, cut: Attachment[]): Promise<void> {
  if (!cut.length) throw new StackError(`${container} has no network to cut (host network mode?): a container on the host's network cannot be disconnected.`);
  const cuts = readCuts();
  for (const a of cut) {
    await mustExec('docker', ['network', 'disconnect', a.network, container], `docker network disconnect ${a.network} ${container} failed.`);
    cuts[container] = [...(cuts[container] ?? []).filter((x) => x.network !== a.network), a];
    writeCuts(cuts);
  }
}

/**
 * Puts back what disconnectFrom cut, on the same address where the network
 * has a configured subnet (Docker refuses a chosen address elsewhere; then the
 * network picks one). Returns each network with the address it got.
 */
export async function reconnectAll(container: string): Promise<{ network: string; ip: string; sameAddress: boolean }[]> {
  const cuts = readCuts();
  const cut = cuts[container];
  if (!cut?.length) throw new StackError(`Nothing of ${container} was disconnected by make disconnect (nothing to reconnect).`);
  const out: { network: string; ip: string; sameAddress: boolean }[] = [];
  for (const a of cut) {
    // Docker gives every endpoint the container's short id as an alias by itself.
    const aliases = a.aliases.filter((alias) => !/^[0-9a-f]{12}$/.test(alias)).flatMap((alias) => ['--alias', alias]);
    let r = a.ip ? await exec('docker', ['network', 'connect', '--ip', a.ip, ...aliases, a.network, container]) : undefined;
    if (!r || (r.code !== 0 && /user (specified|configured)/i.test(r.stderr))) r = await exec('docker', ['network', 'connect', ...aliases, a.network, container]);
    if (r.code !== 0 && !/already exists/i.test(r.stderr)) throw new StackError(`docker network connect ${a.network} ${container} failed: ${r.stderr.trim().split('\n').pop()}`);
    const now = (await attachments(container)).find((x) => x.network === a.network);
    out.push({ network: a.network, ip: now?.ip ?? '', sameAddress: now?.ip === a.ip });
    cuts[container] = cuts[container].filter((x) => x.network !== a.network);
    if (!cuts[container].length) delete cuts[container];
    writeCuts(cuts);
  }
  return out;
}
