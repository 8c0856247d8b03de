// What each PROFILE runs. The fan-out case of `standard` is the one measured
// in ENVIRONMENT.md on a stock cluster (5,000 sockets, 100 rooms, 300 msg/s).
export interface FanoutSpec {
  phase: string;
  msgPerSec: number;
  durationS: number;
}

export interface ToolLoad {
  sockets: number;
  rooms: number;
  connectRate: number;
  msgPerSec: number;
  durationS: number;
}

export interface Profile {
  name: string;
  workers: number;
  replicas: number;
  /** the connect-storm measurement (these clients leave again afterwards) */
  storm: { sockets: number; rate: number; rooms: number };
  /** the fan-out population: connected at a rate every target absorbs, held for the fan-out phases */
  population: { sockets: number; rate: number; rooms: number };
  warmup: FanoutSpec;
  fanout: FanoutSpec[];
  /** the fan-out phase whose figures are the headline */
  headline: string;
  churn: { churners: number; rate: number; holdMs: number };
  k6: ToolLoad;
  artillery: ToolLoad;
  /** capacity: socket steps to hold, and the fan-out rate search */
  capacity?: { sockets: number[]; rate: number; searchRates: number[]; searchDurationS: number; p99LimitMs: number };
}

export const PROFILES: Record<string, Profile> = {
  smoke: {
    name: 'smoke',
    workers: 2,
    replicas: 3,
    storm: { sockets: 100, rate: 100, rooms: 10 },
    population: { sockets: 200, rate: 100, rooms: 10 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 2 },
    fanout: [{ phase: 'fanout', msgPerSec: 50, durationS: 6 }],
    headline: 'fanout',
    churn: { churners: 20, rate: 20, holdMs: 1000 },
    k6: { sockets: 40, rooms: 4, connectRate: 40, msgPerSec: 8, durationS: 5 },
    artillery: { sockets: 20, rooms: 4, connectRate: 20, msgPerSec: 8, durationS: 5 },
  },
  standard: {
    name: 'standard',
    workers: 3,
    replicas: 3,
    storm: { sockets: 2500, rate: 500, rooms: 100 },
    population: { sockets: 5000, rate: 100, rooms: 100 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 5 },
    fanout: [
      { phase: 'fanout-50', msgPerSec: 50, durationS: 20 },
      { phase: 'fanout-300', msgPerSec: 300, durationS: 20 },
    ],
    headline: 'fanout-300',
    churn: { churners: 200, rate: 20, holdMs: 3000 },
    k6: { sockets: 500, rooms: 50, connectRate: 100, msgPerSec: 100, durationS: 20 },
    artillery: { sockets: 200, rooms: 20, connectRate: 50, msgPerSec: 40, durationS: 20 },
  },
  capacity: {
    name: 'capacity',
    workers: 4,
    replicas: 3,
    storm: { sockets: 2500, rate: 500, rooms: 100 },
    population: { sockets: 5000, rate: 100, rooms: 100 },
    warmup: { phase: 'warmup', msgPerSec: 20, durationS: 5 },
    fanout: [{ phase: 'fanout-300', msgPerSec: 300, durationS: 20 }],
    headline: 'fanout-300',
    churn: { churners: 100, rate: 20, holdMs: 2000 },
    k6: { sockets: 500, rooms: 50, connectRate: 100, msgPerSec: 100, durationS: 20 },
    artillery: { sockets: 200, rooms: 20, connectRate: 50, msgPerSec: 40, durationS: 20 },
    capacity: { sockets: [10000, 15000], rate: 500, searchRates: [300, 600, 1000, 1500, 2000, 3000], searchDurationS: 15, p99LimitMs: 50 },
  },
};
