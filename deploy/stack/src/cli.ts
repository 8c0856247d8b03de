// The stack CLI the Makefile wraps: `node --import tsx deploy/stack/src/cli.ts <verb> [options]`.
import { parseArgs } from 'node:util';
import { StackError } from './log';
import { verbs, usage } from './verbs';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      replicas: { type: 'string' },
      target: { type: 'string' },
      network: { type: 'string' },
      redis: { type: 'string' },
      'admin-ui': { type: 'string' },
      json: { type: 'boolean', default: false },
      volumes: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [verb] = positionals;
  if (values.help || !verb) {
    console.log(usage());
    return verb || values.help ? 0 : 1;
  }
  const run = verbs[verb];
  if (!run) throw new StackError(`Unknown verb "${verb}".\n${usage()}`);
  return (await run(values)) ?? 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof StackError) {
      if (err.details) console.error(err.details.replace(/^/gm, '    | '));
      console.error(`ERROR: ${err.message}`);
    } else {
      console.error(err);
    }
    process.exit(1);
  },
);
