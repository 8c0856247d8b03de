import fs from 'node:fs';
import path from 'node:path';

const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

/** Where the files come from: the admin UI's bundle and the fonts it would fetch from CDNs, all from npm packages. */
export const UI_DIST = path.join(packageDir('@socket.io/admin-ui'), 'ui', 'dist');
export const MDI_DIR = packageDir('@mdi/font');
export const ROBOTO_DIR = packageDir('@fontsource/roboto');

/** The weights the bundle asks Google Fonts for. */
const ROBOTO_WEIGHTS = [100, 300, 400, 500, 700, 900];

/**
 * The bundle's index.html, with its two stylesheets from outside hosts (Roboto
 * from Google Fonts, the Material Design icons from a CDN at `@latest`) served
 * from our own packages instead, so the UI works offline and makes no request
 * to another host. Throws at start when the page no longer has them, rather
 * than serving a page that would still reach out.
 */
export function localIndexHtml(): string {
  let html = fs.readFileSync(path.join(UI_DIST, 'index.html'), 'utf8');
  const swap = (pattern: RegExp, replacement: string) => {
    if (!pattern.test(html)) throw new Error(`the admin UI's index.html changed (no ${pattern.source}): check src/admin/ui-files.ts`);
    html = html.replace(pattern, replacement);
  };
  swap(/<link [^>]*href="https:\/\/fonts\.googleapis\.com\/[^"]*"[^>]*>/, ROBOTO_WEIGHTS.map((w) => `<link rel="stylesheet" href="vendor/roboto/${w}.css">`).join(''));
  swap(/<link [^>]*href="https:\/\/cdn\.jsdelivr\.net\/npm\/@mdi\/font[^"]*"[^>]*>/, '<link rel="stylesheet" href="vendor/mdi/css/materialdesignicons.min.css">');
  const outside = /(?:href|src)="(?:https?:)?\/\//.exec(html);
  if (outside) throw new Error(`the admin UI's index.html still loads from another host (${outside[0]}): check src/admin/ui-files.ts`);
  return html;
}
