import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { luaScript } from '../../src/infra/lua-scripts';
import type { RedisClient } from '../../src/infra/redis-topology';

const SRC = path.join(__dirname, '..', '..', 'src');
const filesEndingWith = (ext: string) => (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith(ext));

/** Just what luaScript uses of a client: defineCommand, and the method it adds. */
function fakeClient() {
  const defined: Array<{ name: string; lua: string; numberOfKeys?: number }> = [];
  const calls: unknown[][] = [];
  const options: { autoPipeliningIgnoredCommands?: string[] } = {};
  const client = {
    options,
    defineCommand(name: string, def: { lua: string; numberOfKeys?: number }) {
      defined.push({ name, ...def });
      (client as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls.push(args);
        return Promise.resolve(['ok', '']);
      };
    },
  };
  return { client: client as unknown as RedisClient, defined, calls, options };
}

describe('Lua scripts', () => {
  it('live in .lua files: no TypeScript file holds one', () => {
    const holders = filesEndingWith('.ts').filter((f) => readFileSync(path.join(SRC, f), 'utf8').includes('redis.call('));
    expect(holders).toEqual([]);
  });

  it.each(filesEndingWith('.lua'))('%s opens with its contract', (file) => {
    const header = readFileSync(path.join(SRC, file), 'utf8').split('\n').filter((line, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('--')));
    expect(header.length).toBeGreaterThan(2);
    // A prelude (reply.lua, outbox.lua) is not a script: it documents its helpers instead.
    if (!header.join('\n').includes('(not a script of its own)')) {
      expect(header.join('\n')).toMatch(/-- KEYS\[1\]/);
      expect(header.join('\n')).toMatch(/-- Replies/);
    }
  });

  it('fails when its file is missing, naming the file', () => {
    expect(() => luaScript('dispatch', 'no-such-script', 'variadic')).toThrow(/dispatch[/\\]lua[/\\]no-such-script\.lua cannot be read/);
  });

  it('puts the prelude before the script', () => {
    const accept = luaScript<[string, string], [], unknown>('dispatch', 'accept', 2, { prelude: 'reply' });
    expect(accept.lua.indexOf('local function reply(')).toBeGreaterThanOrEqual(0);
    expect(accept.lua.indexOf('local function reply(')).toBeLessThan(accept.lua.indexOf("return reply('assigned'"));
  });

  it('registers on the client it is bound to, with a fixed key count, and sends the keys first', async () => {
    // Registered before any call: a pipeline only knows the scripts registered before it was created.
    // KEYS[1] first: on a cluster, ioredis' auto-pipelining groups a call by its first argument's slot.
    const script = luaScript<[a: string, b: string], [n: number, s: string], [string, string]>('dispatch', 'accept', 2, { prelude: 'reply' });
    const { client, defined, calls, options } = fakeClient();
    const run = script.on(client);
    expect(options.autoPipeliningIgnoredCommands).toBeUndefined();
    expect(defined).toEqual([{ name: 'sb:dispatch:accept', lua: script.lua, numberOfKeys: 2 }]);
    await run(['k1', 'k2'], [1, 'x']);
    await run(['k3', 'k4'], [2, 'y']);
    expect(calls).toEqual([
      ['k1', 'k2', 1, 'x'],
      ['k3', 'k4', 2, 'y'],
    ]);
    expect(defined).toHaveLength(1);
  });

  it('sends the key count of a call when the script takes any number of keys', async () => {
    const script = luaScript<[a: string, ...rest: string[]], [n: number], unknown>('dispatch', 'offer', 'variadic', { prelude: 'reply' });
    const { client, defined, calls, options } = fakeClient();
    await script.on(client)(['k1', 'k2', 'k3'], [1]);
    expect(defined).toEqual([{ name: 'sb:dispatch:offer', lua: script.lua }]);
    expect(calls).toEqual([[3, 'k1', 'k2', 'k3', 1]]);
    // Its first argument is the count, not a key: auto-pipelining would group it by the wrong slot.
    expect(options.autoPipeliningIgnoredCommands).toEqual(['sb:dispatch:offer']);
  });
});
