import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RedisClient } from './redis-topology';

/** A KEYS or ARGV value as a script receives it (Redis turns every argument into a string). */
export type LuaArg = string | number;

/** Runs a script on the client it was registered on, with typed KEYS and ARGV and a typed reply. */
export type LuaRunner<Keys extends readonly string[], Argv extends readonly LuaArg[], Reply> = (keys: Keys, argv: Argv) => Promise<Reply>;

/**
 * A Lua script of one capability. Each `.lua` file opens with its contract;
 * the type parameters restate it.
 */
export interface LuaScript<Keys extends readonly string[], Argv extends readonly LuaArg[], Reply> {
  /** The text sent to Redis. */
  readonly lua: string;
  /** Its runner on a client: EVALSHA, and EVAL when the node does not have the script cached. */
  on(client: RedisClient): LuaRunner<Keys, Argv, Reply>;
}

/** The runner type of a script, for a field that holds it. */
export type RunnerOf<S> = S extends LuaScript<infer Keys, infer Argv, infer Reply> ? LuaRunner<Keys, Argv, Reply> : never;

/**
 * The folder holding the capability folders: `src/` under ts-jest and tsx,
 * `dist/` once built (the build copies every `<capability>/lua/*.lua` beside
 * the compiled code: scripts/copy-lua.mjs).
 */
/**
 * How many KEYS a script takes: the length of its KEYS tuple, or 'variadic'
 * when the tuple ends in a rest element (the call then sends the count).
 */
export type KeyCount<Keys extends readonly string[]> = number extends Keys['length'] ? 'variadic' : Keys['length'];

const CODE_ROOT = path.resolve(__dirname, '..');

const files = new Map<string, string>();

function readScript(capability: string, name: string): string {
  const file = path.join(CODE_ROOT, capability, 'lua', `${name}.lua`);
  let text = files.get(file);
  if (text === undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`Lua script ${file} cannot be read (a build that skipped scripts/copy-lua.mjs?)`, { cause: err });
    }
    files.set(file, text);
  }
  return text;
}

/**
 * Loads `<capability>/lua/<name>.lua` now, so a missing file stops the service
 * when the module is imported (at startup) rather than on its first call.
 * `prelude` names a file of the same folder (or several, in order) put before
 * the script (helpers that several scripts share; Redis scripts cannot include
 * one another).
 *
 * `on(client)` gives its runner there: EVALSHA, and EVAL when that node
 * answers NOSCRIPT (its first call there, a restarted or failed-over Redis,
 * SCRIPT FLUSH, a node that gained the slot in a reshard). EVAL needs no
 * cache and caches the script, wherever a redirect takes it. On a Redis
 * Cluster the call goes to the primary of KEYS[1]'s slot (ioredis finds the
 * keys of EVALSHA by its key count, auto-pipelining included), so every key of
 * one call must share that slot (one hash tag; test/unit/key-slots.test.ts).
 *
 * Not ioredis' defineCommand: every pipeline (auto-pipelining makes one per
 * burst of commands) copies each defined script's methods onto itself, which
 * made the connect path allocate several times what its commands need.
 * `keys` is the fixed key count, checked at each call, or 'variadic'.
 */
export function luaScript<Keys extends readonly string[], Argv extends readonly LuaArg[], Reply>(
  capability: string,
  name: string,
  keys: KeyCount<Keys>,
  opts: { prelude?: string | readonly string[] } = {},
): LuaScript<Keys, Argv, Reply> {
  const preludes = typeof opts.prelude === 'string' ? [opts.prelude] : (opts.prelude ?? []);
  const lua = [...preludes.map((p) => readScript(capability, p)), readScript(capability, name)].join('\n');
  const sha = createHash('sha1').update(lua).digest('hex');
  const file = `${capability}/lua/${name}.lua`;
  return {
    lua,
    on(client) {
      return (keyNames, argv) => {
        if (typeof keys === 'number' && keyNames.length !== keys) return Promise.reject(new Error(`${file} takes ${keys} keys, given ${keyNames.length}`));
        return (client.evalsha(sha, keyNames.length, ...keyNames, ...argv) as Promise<Reply>).catch((err: unknown) => {
          if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
          return client.eval(lua, keyNames.length, ...keyNames, ...argv) as Promise<Reply>;
        });
      };
    },
  };
}
