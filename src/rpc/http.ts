/**
 * Plain HTTP on the WebSocket port (protocol/README.md §1.5): GET /healthz,
 * GET /metrics, GET /openrpc.json, DELETE /platforms/NAME, and the pages the app
 * serves (the dashboard at GET / and /platforms/NAME/). The token guards all but
 * /healthz and the public static files, so a load balancer or test harness can poll
 * readiness without it; the Host/Origin check (auth.ts) guards all but /healthz.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasToken, parseTarget, refusedSource, type RequestTarget } from './auth.js';
import type { ServerHooks } from './method-table.js';
import type { RpcMetrics } from '../observe/expose/metrics.js';
import type { ServerOptions } from './options.js';
import { platformNameFromPath } from './platforms.js';
import { toWire } from './to-wire.js';

export interface HttpDeps {
  opts: ServerOptions;
  hooks: ServerHooks;
  metrics: RpcMetrics;
}

/**
 * Never rejects and never throws: whatever a handler throws is answered 500 (or the
 * connection cut, when the head is already out) and logged as one line
 * (`onInternalError`), and the server goes on.
 */
export async function handleHttp(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): Promise<void> {
  const target = parseTarget(req.url);
  try {
    await route(req, res, deps, target);
  } catch (err) {
    answerInternalError(res, deps.opts, `${req.method ?? '?'} ${target.pathname}`, err);
  }
}

async function route(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, target: RequestTarget): Promise<void> {
  const { pathname } = target;
  // Readiness for load balancers and harnesses: no token, no Host/Origin check (§1.6).
  if (pathname === '/healthz') return answer(req, res, deps, pathname, HEALTHZ);
  // DELETE / is the platform API (409), never the dashboard page.
  const page = req.method === 'DELETE' ? undefined : deps.hooks.page?.(pathname);
  if (page === undefined || !page.public) {
    if (!hasToken(req, target, deps.opts.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return sendJson(res, 401, { error: 'a token is required: send "Authorization: Bearer TOKEN" or add ?token=TOKEN' });
    }
  }
  const refused = refusedSource(req, deps.opts);
  if (refused !== undefined) return sendJson(res, 403, { error: refused });
  if (page !== undefined) return sendPage(req, res, page);
  const fixed = ROUTES.get(pathname);
  if (fixed !== undefined) return answer(req, res, deps, pathname, fixed);
  const name = platformNameFromPath(pathname);
  if (name === undefined) return sendJson(res, 404, { error: `no such path: ${pathname}` });
  if (req.method === 'DELETE') return deletePlatform(res, deps, name);
  // A WebSocket endpoint: GET and HEAD without an upgrade are told to upgrade (426);
  // any other method is not one the path answers (405), whatever the headers say.
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.setHeader('Upgrade', 'websocket');
    return sendJson(res, 426, { error: `${pathname} is a WebSocket endpoint: connect with ws://` });
  }
  res.setHeader('Allow', name === '' ? 'GET, HEAD' : 'GET, HEAD, DELETE');
  return sendJson(res, 405, { error: `${pathname} answers a WebSocket upgrade (GET)${name === '' ? '' : ' and DELETE'} only, not ${req.method ?? '?'}` });
}

async function answer(req: IncomingMessage, res: ServerResponse, deps: HttpDeps, pathname: string, handler: Route): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendJson(res, 405, { error: `${pathname} answers GET only` });
  }
  await handler(res, deps);
}

/** A handler's failure: 500 (or a cut connection once the head is out) and one log line; the server goes on. */
export function answerInternalError(res: ServerResponse, opts: Pick<ServerOptions, 'onInternalError'>, where: string, err: unknown): void {
  try {
    opts.onInternalError(where, err);
  } catch {
    // a throwing logger must not end the server either
  }
  if (res.headersSent) res.destroy();
  else sendJson(res, 500, { error: 'internal error; the server logged it' });
}

/**
 * DELETE /platforms/NAME (as emu.deletePlatform): 200 {ok, name} when deleted, 404
 * when there is no such platform, 409 for the default platform '/', 405 when the
 * server has no platforms to delete.
 */
async function deletePlatform(res: ServerResponse, deps: HttpDeps, name: string): Promise<void> {
  const remove = deps.hooks.deletePlatform;
  if (remove === undefined) {
    res.setHeader('Allow', 'GET, HEAD');
    return sendJson(res, 405, { error: 'this server does not delete platforms' });
  }
  if (name === '') return sendJson(res, 409, { error: 'the default platform "/" cannot be deleted; emu.reset rebuilds it' });
  if (await remove(name)) return sendJson(res, 200, { ok: true, name });
  return sendJson(res, 404, { error: `no platform ${JSON.stringify(name)}; emu.platforms lists them` });
}

type Route = (res: ServerResponse, deps: HttpDeps) => Promise<void> | void;

const HEALTHZ: Route = (res, { hooks }) => {
  let healthy: boolean;
  try {
    healthy = hooks.healthy();
  } catch {
    healthy = false;
  }
  let extra: Record<string, unknown> = {};
  try {
    extra = hooks.health?.() ?? {};
  } catch {
    healthy = false;
  }
  sendJson(res, healthy ? 200 : 503, { status: healthy ? 'ok' : 'unavailable', ...extra });
};

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  [
    '/metrics',
    async (res, { hooks, metrics }) => {
      let text = await metrics.text();
      if (hooks.metricsText !== undefined) {
        const extra = await hooks.metricsText();
        if (extra !== '') text += (text.endsWith('\n') ? '' : '\n') + extra + (extra.endsWith('\n') ? '' : '\n');
      }
      send(res, 200, metrics.contentType, text);
    },
  ],
  [
    '/openrpc.json',
    (res, { hooks }) => {
      sendJson(res, 200, hooks.openrpcDocument());
    },
  ],
]);

function sendPage(req: IncomingMessage, res: ServerResponse, page: { contentType: string; body: Buffer }): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendJson(res, 405, { error: 'pages answer GET only' });
  }
  res.writeHead(200, {
    'Content-Type': page.contentType,
    'Content-Length': page.body.length,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': contentSecurityPolicy(req.headers.host),
  });
  res.end(req.method === 'HEAD' ? undefined : page.body);
}

/**
 * The pages talk only to this server: scripts, styles and connections from its own
 * origin, the WebSocket only to the Host the page came from (already checked).
 */
function contentSecurityPolicy(host: string | undefined): string {
  const ws = host !== undefined && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? ` ws://${host} wss://${host}` : '';
  return `default-src 'self'; connect-src 'self'${ws}; img-src 'self' data: blob:; style-src 'self'`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(toWire(body)));
}

function send(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
