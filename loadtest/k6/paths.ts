// Where the load comes from: the same k6 script and load against one cluster
// three ways, to see what each hop costs:
//   published   on the host, through nginx's published port (Docker's userland proxy, docker-proxy)
//   bridge      on the host, to nginx's address on the project's bridge network (the default path)
//   in-network  in a container on the project's network: the compose `loadtest`
//               profile (compose/k6.yml) with a locally built k6 image (k6/Dockerfile)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureEngine } from '../../deploy/stack/src/engine';
import { dockerBuild, resolveImages } from '../../deploy/stack/src/images';
import type { StackSpec } from '../lib/stacks';
import type { ToolLoad } from '../profiles';
import { k6Binary, runK6, type ToolResult } from './run';

export const K6_IMAGE = process.env.K6_IMAGE || 'switchboard/k6:local';

export interface PathResult {
  path: 'published' | 'bridge' | 'in-network';
  url: string;
  k6: ToolResult;
}

let built: Promise<void> | undefined;

/** The k6 image: the host's k6 binary on the stack's Node base image (no registry here). */
export function buildK6Image(): Promise<void> {
  return (built ??= (async () => {
    await ensureEngine(); // also points compose at the plugin in .tools/
    const images = await resolveImages();
    const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'k6-image-'));
    try {
      fs.copyFileSync(k6Binary(), path.join(ctx, 'k6'));
      fs.chmodSync(path.join(ctx, 'k6'), 0o755);
      await dockerBuild({ tag: K6_IMAGE, context: ctx, dockerfile: path.join(__dirname, 'Dockerfile'), buildArgs: { BASE_IMAGE: images.NODE_IMAGE }, what: `the k6 image ${K6_IMAGE}` });
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
    }
  })());
}

export async function runPaths(spec: StackSpec, bridgeUrl: string, load: ToolLoad, outDir: string, info: (m: string) => void): Promise<PathResult[]> {
  const out: PathResult[] = [];
  const published = `http://127.0.0.1:${spec.port}`;
  for (const [p, url] of [['published', published], ['bridge', bridgeUrl]] as const) {
    const k6 = await runK6(url, load, path.join(outDir, `k6-path-${p}-${spec.label}`));
    out.push({ path: p, url, k6 });
    info(`${p} (${url}): exit ${k6.exitCode}, delivery p50 ${k6.delivery?.p50 ?? '-'} p99 ${k6.delivery?.p99 ?? '-'} ms, connect+join p99 ${k6.connect?.p99 ?? '-'} ms, errors ${k6.errors}`);
  }
  let k6: ToolResult;
  try {
    await buildK6Image();
    k6 = await runK6(bridgeUrl, load, path.join(outDir, `k6-path-in-network-${spec.label}`), { network: `${spec.project}_default`, image: K6_IMAGE, project: `${spec.project}k6` });
  } catch (e) {
    k6 = { tool: 'k6', exitCode: 1, errors: 1, error: (e as Error).message.split('\n')[0] };
  }
  out.push({ path: 'in-network', url: bridgeUrl, k6 });
  info(`in-network (container on ${spec.project}_default): exit ${k6.exitCode}, delivery p50 ${k6.delivery?.p50 ?? '-'} p99 ${k6.delivery?.p99 ?? '-'} ms, connect+join p99 ${k6.connect?.p99 ?? '-'} ms, errors ${k6.errors}${k6.error ? ` (${k6.error})` : ''}`);
  return out;
}
