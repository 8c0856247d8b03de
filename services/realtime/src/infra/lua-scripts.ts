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
  /**
   * Registers the script on a client and returns its runner there. Call it
   * when the capability is built, before any traffic: an ioredis pipeline
   * (auto-pipelining makes one of every burst of commands) only knows the
   * scripts registered before it was created.
   */
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
 * `on(client)` registers it with ioredis' defineCommand, which runs it with
 * EVALSHA, and EVAL when Redis does not know the script yet
 * (new connection, restarted or failed-over Redis, SCRIPT FLUSH). On a Redis
 * Cluster the call goes to the primary of KEYS[1]'s slot, so every key of one
 * call must share that slot (one hash tag; test/unit/key-slots.test.ts).
 *
 * `keys` must be the fixed count whenever there is one: ioredis' Cluster
 * auto-pipelining groups a script call by the slot of its first argument,
 * which is KEYS[1] only when defineCommand knows the count (otherwise it is
 * the count itself, and calls for different slots end up in one pipeline).
 */
export function luaScript<Keys extends readonly string[], Argv extends readonly LuaArg[], Reply>(
  capability: string,
  name: string,
  keys: KeyCount<Keys>,
  opts: { prelude?: string | readonly string[] } = {},
): LuaScript<Keys, Argv, Reply> {
  const preludes = typeof opts.prelude === 'string' ? [opts.prelude] : (opts.prelude ?? []);
  const lua = [...preludes.map((p) => readScript(capability, p)), readScript(capability, name)].join('\n');
  const command = `sb:${capability}:${name}`;
  const numberOfKeys = typeof keys === 'number' ? keys : undefined;
  return {
    lua,
    on(client) {
      client.defineCommand(command, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
      // A variadic call's first argument is the key count, so auto-pipelining would group it by
      // the wrong slot: send it on its own (ioredis reads this list at each call).
      if (numberOfKeys === undefined) {
        const ignored = (client.options.autoPipeliningIgnoredCommands ??= []);
        if (!ignored.includes(command)) ignored.push(command);
      }
      // defineCommand adds the method at runtime; its reply is the script's contract.
      const evalsha = (client as unknown as Record<string, (...args: LuaArg[]) => Promise<Reply>>)[command].bind(client);
      const run = (keyNames: Keys, argv: Argv) => (numberOfKeys === undefined ? evalsha(keyNames.length, ...keyNames, ...argv) : evalsha(...keyNames, ...argv));
      // ioredis answers NOSCRIPT by resending once as EVAL, but only on a connection it has not
      // sent the script on before. During a Cluster reshard an EVAL can be redirected (MOVED)
      // before it runs, so that connection counts as loaded while its node lacks the script, and
      // the resend fails too. A plain EVAL needs no script cache, wherever it is redirected.
      return (keyNames, argv) =>
        run(keyNames, argv).catch((err: unknown) => {
          if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
          return client.eval(lua, keyNames.length, ...keyNames, ...argv) as Promise<Reply>;
        });
    },
  };
}
