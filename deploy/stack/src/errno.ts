// Node's system errors name their cause in `code` (ENOENT, ESRCH, ...). A
// catch that expects one of them checks the code and rethrows anything else,
// so a surprise (a permission problem, a full disk) is never taken for it.
import fs from 'node:fs';

export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && codes.includes(code);
}

/** The file's text, or undefined when there is no such file. */
export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}
