export interface LoginOptions {
  /** Display name sent with the login. */
  name?: string;
  /** Client id in the query string: nginx hashes it onto one replica. */
  cid?: string;
  timeoutMs?: number;
}

export interface Session {
  token: string;
  sessionId: string;
}

/**
 * POST /api/login (docs/protocol.md): the session token for `userId`. Fails
 * with "login HTTP <status>" on any other answer than 200, so callers that
 * count errors by message get one bucket per status.
 */
export async function login(baseUrl: string, userId: string, opts: LoginOptions = {}): Promise<Session> {
  const query = opts.cid === undefined ? '' : `?cid=${encodeURIComponent(opts.cid)}`;
  const res = await fetch(`${baseUrl}/api/login${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(opts.name ? { userId, name: opts.name } : { userId }),
    signal: opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs),
  });
  if (res.status !== 200) throw new Error(`login HTTP ${res.status}`);
  const body = (await res.json()) as { ok?: boolean; token?: string; sessionId?: string };
  if (body.ok === false || !body.token) throw new Error(`login failed: ${JSON.stringify(body)}`);
  return { token: body.token, sessionId: body.sessionId ?? '' };
}
