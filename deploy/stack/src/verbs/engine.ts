import { ensureCompose, ensureEngine } from '../engine';
import { step } from '../log';

export async function engine(): Promise<void> {
  step('Checking the Docker engine and Compose v2');
  await ensureEngine({ verbose: true });
}

/** Compose v2 alone, built when missing: for places with a docker client but no engine (the fresh-install check). */
export async function composePlugin(): Promise<void> {
  step('Checking Compose v2 (no engine needed)');
  await ensureCompose(true);
}
