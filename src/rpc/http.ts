/**
 * Plain HTTP on the WebSocket port (protocol/README.md §1.5): GET /healthz,
 * GET /metrics, GET /openrpc.json, DELETE /platforms/NAME, and the pages the app
 * serves (the dashboard at GET / and /platforms/NAME/). The token guards all but
 * /healthz and the public static files, so a load balancer or test harness can poll
 * readiness without it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasToken, parseTarget } from './auth.js';
import type { ServerHooks } from './method-table.js';
import type { RpcMetrics } from './metrics.js';
import type { ServerOptions } from './options.js';
import { platformNameFromPath } from './platforms.js';
import { toWire } from './to-wire.js';

export interface HttpDeps {
  opts: ServerOptions;
  hooks: ServerHooks;
  metrics: RpcMetrics;
}

export async function handleHttp(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): Promise<void> {
  const target = parseTarget(req.url);
  const { pathname } = target;
  // DELETE / is the platform API (409), never the dashboard page.
  const page = req.method === 'DELETE' ? undefined : deps.hooks.page?.(pathname);
  if (page !== undefined && page.public) return sendPage(req, res, page);
  if (pathname !== '/healthz' && !hasToken(req, target, deps.opts.token)) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return sendJson(res, 401, { error: 'a token is required: send "Authorization: Bearer TOKEN" or add ?token=TOKEN' });
  }
  if (page !== undefined) return sendPage(req, res, page);
  const route = ROUTES.get(pathname);
  if (route === undefined) {
    const name = platformNameFromPath(pathname);
    if (name !== undefined && req.method === 'DELETE') return deletePlatform(res, deps, name);
    if (name !== undefined) {
      res.setHeader('Upgrade', 'websocket');
      return sendJson(res, 426, { error: `${pathname} is a WebSocket endpoint: connect with ws://` });
    }
    return sendJson(res, 404, { error: `no such path: ${pathname}` });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendJson(res, 405, { error: `${pathname} answers GET only` });
  }
  try {
    await route(res, deps);
  } catch (err) {
    deps.opts.onInternalError(`GET ${pathname}`, err);
    if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
    else res.destroy();
  }
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
  try {
    if (await remove(name)) return sendJson(res, 200, { ok: true, name });
    return sendJson(res, 404, { error: `no platform ${JSON.stringify(name)}; emu.platforms lists them` });
  } catch (err) {
    deps.opts.onInternalError(`DELETE /platforms/${name}`, err);
    return sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
  }
}

type Route = (res: ServerResponse, deps: HttpDeps) => Promise<void> | void;

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/healthz', (res, { hooks }) => {
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
  }],
  ['/metrics', async (res, { hooks, metrics }) => {
    let text = await metrics.text();
    if (hooks.metricsText !== undefined) {
      const extra = await hooks.metricsText();
      if (extra !== '') text += (text.endsWith('\n') ? '' : '\n') + extra + (extra.endsWith('\n') ? '' : '\n');
    }
    send(res, 200, metrics.contentType, text);
  }],
  ['/openrpc.json', (res, { hooks }) => {
    sendJson(res, 200, hooks.openrpcDocument());
  }],
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
    // The page talks only to this server (its WebSocket); nothing from elsewhere.
    'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self'",
  });
  res.end(req.method === 'HEAD' ? undefined : page.body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(toWire(body)));
}

function send(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
