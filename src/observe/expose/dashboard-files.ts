/**
 * The live dashboard's files, served over plain HTTP on the WebSocket port: the
 * page at GET / (the default platform) and GET /platforms/NAME/ (that platform),
 * its script and style from src/dashboard/, and uPlot (the chart) from
 * node_modules: nothing from a CDN, nothing from the internet. The page connects
 * back over WebSocket to the path it was served from and subscribes to events.
 *
 * The files are static and say nothing about any platform, so they are served
 * without the token (like /healthz); the page itself and the WebSocket it opens
 * still need it when the server has one (`?token=` on the page's URL is passed on).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  contentType: string;
  body: Buffer;
}

/**
 * Beside this module: src/dashboard/ when the TypeScript runs, dist/src/dashboard/
 * when the build runs (`npm run build` copies the files there; an installed package
 * has only that). A dist/ built by tsc alone has none: the checkout's src/ serves.
 */
const PAGE_DIR =
  [new URL('../../dashboard/', import.meta.url), new URL('../../../../src/dashboard/', import.meta.url)].map((url) => fileURLToPath(url)).find((dir) => existsSync(join(dir, 'index.html'))) ??
  fileURLToPath(new URL('../../dashboard/', import.meta.url));
const UPLOT_DIST = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

/** URL path -> file and type. Prefix /dashboard/ keeps them clear of the platform paths. */
const ASSETS: ReadonlyMap<string, [string, string]> = new Map([
  ['/dashboard/dashboard.js', [join(PAGE_DIR, 'dashboard.js'), JS]],
  ['/dashboard/dashboard.css', [join(PAGE_DIR, 'dashboard.css'), CSS]],
  ['/dashboard/trace-view.js', [join(PAGE_DIR, 'trace-view.js'), JS]],
  ['/dashboard/trace.html', [join(PAGE_DIR, 'trace.html'), HTML]],
  ['/dashboard/uPlot.iife.min.js', [join(UPLOT_DIST, 'uPlot.iife.min.js'), JS]],
  ['/dashboard/uPlot.min.css', [join(UPLOT_DIST, 'uPlot.min.css'), CSS]],
]);
const PAGE: [string, string] = [join(PAGE_DIR, 'index.html'), HTML];

const cache = new Map<string, Buffer>();

function load([file, contentType]: [string, string]): StaticFile {
  let body = cache.get(file);
  if (body === undefined) {
    body = readFileSync(file);
    cache.set(file, body);
  }
  return { contentType, body };
}

/** A static asset of the dashboard (served without the token), or undefined. */
export function dashboardAsset(pathname: string): StaticFile | undefined {
  const asset = ASSETS.get(pathname);
  return asset === undefined ? undefined : load(asset);
}

/**
 * The dashboard page for `/` or `/platforms/NAME/`, or undefined for any other path.
 * `platformName` is the server's rule for which paths name a platform ('' for '/').
 */
export function dashboardPage(pathname: string, platformName: (path: string) => string | undefined): StaticFile | undefined {
  if (pathname === '/') return load(PAGE);
  if (!pathname.endsWith('/')) return undefined;
  const name = platformName(pathname.slice(0, -1));
  return name === undefined || name === '' ? undefined : load(PAGE);
}
