// Fixtures shared by the specs: users in their own browser contexts (the demo
// page through nginx), and a guard that checks after every spec that no replica
// has an unhandled rejection and none restarted unless the spec said it would.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { test as base, expect, type Browser, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import { parseTag, type Tag } from '@switchboard/loss-checker';
import { baseUrl, cidsByReplica, cli, project, runningReplicas, unhandledRejections, waitFor, type Health } from './stack';

export { expect };

/** A measurement worth seeing in the run's output (and in the HTML/JSON reports as an annotation). */
export function note(type: string, description: string): void {
  base.info().annotations.push({ type, description });
  process.stderr.write(`    [${base.info().title}] ${type}: ${description}\n`);
}

export interface Stats { connects: number; disconnects: string[]; connectErrors: string[]; resends: number }

export interface OpenOptions {
  /** Force HTTP long-polling (?transport=polling). */
  polling?: boolean;
  /** The browser's User-Agent (what the Devices panel shows). */
  userAgent?: string;
}

export class ChatUser {
  readonly consoleErrors: string[] = [];
  /** The send before this one (see send). */
  private sending: Promise<void> = Promise.resolve();
  constructor(readonly userId: string, readonly cid: string, readonly context: BrowserContext, readonly page: Page) {
    page.on('console', (m) => { if (m.type() === 'error') this.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => this.consoleErrors.push(`pageerror: ${e.message}`));
  }

  static async open(browser: Browser, userId: string, cid: string, opts: OpenOptions = {}): Promise<ChatUser> {
    const context = await browser.newContext({ baseURL: baseUrl(), ...(opts.userAgent ? { userAgent: opts.userAgent } : {}) });
    const page = await context.newPage();
    const u = new ChatUser(userId, cid, context, page);
    await page.goto(`/?cid=${encodeURIComponent(cid)}${opts.polling ? '&transport=polling' : ''}`);
    await page.getByTestId('login-user').fill(userId);
    await page.getByTestId('login-submit').click();
    await u.waitConnected();
    return u;
  }

  connectionState() { return this.page.getByTestId('connection-state'); }
  async waitConnected(timeout = 30_000): Promise<void> {
    await expect(this.connectionState()).toHaveAttribute('data-state', 'connected', { timeout });
  }

  /** The replica the page shows (X-Served-By of /health?cid=), once it knows it. */
  async replica(): Promise<string> {
    const r = this.page.getByTestId('replica');
    await expect(r).toHaveText(/^realtime-\d+$/);
    return (await r.textContent())!.trim();
  }

  async joinRoom(room: string): Promise<void> {
    await this.page.getByTestId('room-input').fill(room);
    await this.page.getByTestId('join-room').click();
    await expect(this.page.locator(`[data-testid="room-tab"][data-room="${room}"]`)).toHaveAttribute('aria-current', 'true');
    // The join ack carries the members, us included.
    await expect(this.page.getByTestId('room-members')).toContainText(this.userId);
  }

  /**
   * Types and sends one message. Sends on one page take turns: a spec's
   * traffic loop and a probe sent beside it would otherwise interleave their
   * fill and Enter on the one input box, and one text would replace the other.
   */
  send(text: string): Promise<void> {
    const turn = this.sending.then(async () => {
      const input = this.page.getByTestId('message-input');
      await input.fill(text);
      await input.press('Enter');
    });
    // The next send only waits for its turn; this one's failure reaches its own caller (turn).
    this.sending = turn.catch(() => undefined);
    return turn;
  }

  /** Texts of the confirmed messages of a room, in the order the page shows them. */
  async texts(room: string): Promise<string[]> {
    return this.page.evaluate((r) => [...document.querySelectorAll(`[data-testid="messages"][data-room="${r}"] [data-testid="message"] [data-testid="message-text"]`)]
      .map((e) => e.textContent ?? ''), room);
  }

  /** Loss-checker tags of the confirmed messages of a room, in display order. */
  async tags(room: string, producerPrefix?: string): Promise<Tag[]> {
    return (await this.texts(room)).map(parseTag).filter((t): t is Tag => !!t && (!producerPrefix || t.producerId.startsWith(producerPrefix)));
  }

  async pendingCount(room: string): Promise<number> {
    return this.page.locator(`[data-testid="messages"][data-room="${room}"] [data-testid="pending-message"]`).count();
  }

  async stats(): Promise<Stats> {
    return this.page.evaluate(() => {
      const s = (window as unknown as { switchboard: { stats: Stats } }).switchboard.stats;
      return { connects: s.connects, disconnects: [...s.disconnects], connectErrors: [...s.connectErrors], resends: s.resends };
    });
  }

  onlineUser(userId: string) { return this.page.locator(`[data-testid="online-user"][data-user-id="${userId}"]`); }

  // Best effort: a spec that failed mid-way may have lost its browser already.
  async close(): Promise<void> { await this.context.close().catch(() => undefined); }
}

export interface Guard {
  /** The spec kills or removes this replica (or all of them, with '*'): a new nodeId there is expected. */
  allowRestart(replica: string): void;
  /** nodeIds at the start of the spec. */
  before: Map<string, Health>;
}

type Fixtures = {
  guard: Guard;
  openUser: (userId: string, cid: string, opts?: OpenOptions) => Promise<ChatUser>;
  /** A run-unique suffix for user ids, rooms and client ids. */
  uid: string;
};

/**
 * Every running replica with a client id that reaches it, its /health, and its
 * unhandled-rejection count from /metrics through that same client id.
 * Retried until consistent: after failed connections to a replica (max_fails)
 * nginx takes it out of its hash for fail_timeout, which moves client ids for a
 * while, so a probe can briefly disagree with the next one.
 */
async function snapshot(withMetrics: boolean): Promise<Map<string, Health & { cid: string; rejections: number }>> {
  const names = await runningReplicas();
  return waitFor('every replica to answer through nginx, consistently', async () => {
    const found = await cidsByReplica(names, `guard-${Date.now()}`);
    if (found.size !== names.length) return null;
    const out = new Map<string, Health & { cid: string; rejections: number }>();
    for (const [name, { cid, health }] of found) {
      let rejections = 0;
      if (withMetrics) {
        const m = await unhandledRejections(cid);
        if (m.servedBy !== name) return null;
        rejections = m.value;
      }
      out.set(name, { ...health, cid, rejections });
    }
    return out;
  }, 45_000, 1000);
}

/**
 * The project's containers' recent logs, attached to a failed spec. Never
 * throws: the logs explain a failure being reported and must not replace it.
 */
export async function attachLogs(testInfo: TestInfo): Promise<void> {
  try {
    const ps = await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project()}`, '--format', '{{.Names}}']);
    for (const name of ps.split('\n').filter(Boolean)) {
      const file = testInfo.outputPath(`log-${name}-${Date.now()}.txt`);
      fs.writeFileSync(file, await run('docker', ['logs', '--tail', '500', '--timestamps', name]));
      await testInfo.attach(`log-${name}.txt`, { path: file, contentType: 'text/plain' });
    }
    const status = await cli(['status', '--json'], { quiet: true });
    await testInfo.attach('stack-status.json', { body: status.stdout || status.output, contentType: 'application/json' });
  } catch (err) {
    console.warn(`could not attach the stack's logs: ${String(err)}`);
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(out));
    child.on('error', (e) => resolve(String(e)));
  });
}

export const test = base.extend<Fixtures>({
  uid: async ({}, use, testInfo) => {
    await use(`${testInfo.workerIndex}${Date.now().toString(36)}`);
  },
  guard: [async ({}, use, testInfo) => {
    const allowed = new Set<string>();
    const withLogs = async <T>(fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        await attachLogs(testInfo);
        throw err;
      }
    };
    const before = await withLogs(async () => {
      const b = await snapshot(false);
      expect(Object.fromEntries([...b].map(([n, h]) => [n, h.status])), 'every replica is ok before the spec')
        .toEqual(Object.fromEntries([...b].map(([n]) => [n, 'ok'])));
      return b;
    });
    await use({ allowRestart: (r) => allowed.add(r), before });
    if (testInfo.status !== testInfo.expectedStatus) await attachLogs(testInfo);
    await withLogs(async () => {
      const after = await snapshot(true);
      const problems: string[] = [];
      for (const [name, h] of after) {
        if (h.rejections !== 0) problems.push(`${name}: sb_unhandled_rejections_total = ${h.rejections}`);
        const was = before.get(name);
        if (was && was.nodeId !== h.nodeId && !allowed.has(name) && !allowed.has('*')) {
          problems.push(`${name} restarted during the spec (nodeId ${was.nodeId} -> ${h.nodeId}, uptime ${h.uptimeSec} s)`);
        }
      }
      expect(problems, 'after the spec: no unhandled rejection, no unexpected restart').toEqual([]);
    });
  }, { auto: true }],
  openUser: async ({ browser }, use) => {
    const users: ChatUser[] = [];
    await use(async (userId, cid, opts) => {
      const u = await ChatUser.open(browser, userId, cid, opts);
      users.push(u);
      return u;
    });
    for (const u of users) await u.close();
  },
});
