/**
 * Builds Redis key names under the configured prefix. Keys that one script or
 * MULTI touches together share a hash tag ({...}) so the same code runs on a
 * Redis Cluster; each capability folder names its own keys with this.
 */
export class Keyspace {
  constructor(readonly prefix: string) {}

  /** key('room', 'lobby', 'members') -> "sb:{room:lobby}:members" */
  tagged(kind: string, id: string, ...rest: string[]): string {
    return [`${this.prefix}{${kind}:${id}}`, ...rest].join(':');
  }

  /** plain('nodes') -> "sb:nodes" */
  plain(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }
}
