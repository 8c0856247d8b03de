import { ensureEngine } from '../engine';
import { compose } from '../compose';

/** Follows every service's logs until Ctrl-C. */
export async function logs(): Promise<number> {
  await ensureEngine();
  const r = await compose(['logs', '--follow', '--tail', '200'], { inherit: true });
  return r.code === 130 ? 0 : r.code;
}
