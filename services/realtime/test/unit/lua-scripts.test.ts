import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { luaScript } from '../../src/infra/lua-scripts';

const SRC = path.join(__dirname, '..', '..', 'src');
const filesEndingWith = (ext: string) => (readdirSync(SRC, { recursive: true }) as string[]).filter((f) => f.endsWith(ext));

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
});
