import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; every line names the replica so mixed compose logs stay readable. */
export function createLogger(level: string, instance: string): Logger {
  return pino({ level, base: { instance }, timestamp: pino.stdTimeFunctions.isoTime });
}
