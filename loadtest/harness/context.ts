// What every scenario driver gets: the cluster, how to reach it, the profile,
// and where to print.
import type { StackSpec } from '../lib/stacks';
import type { Profile } from '../profiles';
import type { Target, Transport } from './scenarios';

export interface ScenarioCtx {
  spec: StackSpec;
  target: Target;
  profile: Profile;
  /** Switchboard has history:sync, typing and presence; the stock server none of them */
  switchboard: boolean;
  transports: Transport[];
  step(m: string): void;
  info(m: string): void;
}
