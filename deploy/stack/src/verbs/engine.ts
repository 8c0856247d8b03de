import { ensureEngine } from '../engine';
import { step } from '../log';

export async function engine(): Promise<void> {
  step('Checking the Docker engine and Compose v2');
  await ensureEngine({ verbose: true });
}
