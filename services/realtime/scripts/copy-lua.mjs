// tsc compiles only TypeScript: copy every src/<capability>/lua/*.lua beside
// the compiled code, where src/infra/lua-scripts.ts reads them at startup.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

const [from, to] = ['src', 'dist'];
const scripts = readdirSync(from, { recursive: true }).filter((file) => file.endsWith('.lua'));
if (scripts.length === 0) throw new Error(`no .lua files under ${from}/`);
for (const file of scripts) {
  mkdirSync(path.join(to, path.dirname(file)), { recursive: true });
  copyFileSync(path.join(from, file), path.join(to, file));
}
console.log(`copied ${scripts.length} Lua scripts to ${to}/`);
