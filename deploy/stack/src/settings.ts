// The stack's knobs, all from the environment so make, CI and tests share them.
// SB_PROJECT (or COMPOSE_PROJECT_NAME) lets a test run its own project on its
// own port without touching a person's stack.
export interface StackSettings {
  project: string;
  bind: string;
  httpPort: number;
}

export function settings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  return {
    project: env.SB_PROJECT || env.COMPOSE_PROJECT_NAME || 'switchboard',
    bind: env.SB_BIND || '127.0.0.1',
    httpPort: Number(env.SB_HTTP_PORT || 8080),
  };
}

/** The URL people and tests use: nginx's published port (0.0.0.0 is reached through loopback). */
export function baseUrl(s: StackSettings = settings()): string {
  const host = s.bind === '0.0.0.0' || s.bind === '' ? '127.0.0.1' : s.bind;
  return `http://${host}:${s.httpPort}`;
}
