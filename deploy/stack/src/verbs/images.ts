import { ensureEngine } from '../engine';
import { exec } from '../exec';
import { buildServiceImage, REALTIME_IMAGE, resolveImages, warnIfMixed, type ImageSet } from '../images';
import { step } from '../log';

export async function checkEngine(): Promise<void> {
  step('Checking the Docker engine and Compose v2');
  await ensureEngine({ verbose: true });
}

/**
 * Engine, then every image the stack runs: the four base ones and the service.
 * `rebuildService: false` (scale) keeps the service image the running replicas
 * use, so new replicas run the same code as the old ones.
 */
export async function prepareImages({ rebuildService = true, engineChecked = false } = {}): Promise<ImageSet> {
  if (!engineChecked) await checkEngine();
  step('Choosing images (official where present or pullable, otherwise local ones built from Debian)');
  const images = await resolveImages();
  warnIfMixed(images);
  const present = (await exec('docker', ['image', 'inspect', REALTIME_IMAGE])).code === 0;
  if (rebuildService || !present) await buildServiceImage(images.NODE_IMAGE);
  return images;
}

export async function images(): Promise<void> {
  await prepareImages();
}
