/**
 * Socket tests against the real app: HTTP requests get the Host/Origin check that
 * WebSocket upgrades get (protocol/README.md §1.6). A page on a DNS name rebound to
 * 127.0.0.1 sends its own name in Host (and, on DELETE, its Origin): it must not
 * delete a platform or read /metrics. /healthz stays open; the server's own address,
 * localhost and --allow-host names pass. Also: one answer for other methods on a
 * platform path (405, §1.5).
 */
import { request } from 'node:http';
import { expect, it } from 'vitest';
import { startApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { useTestApp } from '../helpers/app.js';
import { upgradeStatus } from '../helpers/ws.js';

const t = useTestApp();

/** A request with the headers exactly as given (fetch would not let a test set Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const port = () => t().app.port;
const REBOUND = { Host: 'rebind.attacker.example:8547', Origin: 'http://rebind.attacker.example:8547' };

it('refuses DELETE /platforms/NAME from a rebinding page (foreign Host and Origin) with 403, and the platform stays', async () => {
  const c = await t().connect('/platforms/victim');
  await c.call('clock.advance', { ns: 1234 });
  const r = await raw(port(), 'DELETE', '/platforms/victim', REBOUND);
  expect(r.status).toBe(403);
  expect(JSON.parse(r.body).error).toMatch(/^Host "rebind\.attacker\.example:8547" is not an address of this server \(DNS rebinding\?\)/);
  expect(t().app.platforms().has('victim')).toBe(true);
  expect((await c.call('clock.now')).nowNs).toBe(1234);
  // Either header alone is enough to refuse.
  expect((await raw(port(), 'DELETE', '/platforms/victim', { Host: REBOUND.Host })).status).toBe(403);
  expect((await raw(port(), 'DELETE', '/platforms/victim', { Host: `127.0.0.1:${port()}`, Origin: REBOUND.Origin })).status).toBe(403);
  expect(t().app.platforms().has('victim')).toBe(true);
  // The server's own address deletes it.
  expect((await raw(port(), 'DELETE', '/platforms/victim', { Host: `127.0.0.1:${port()}` })).status).toBe(200);
  expect(t().app.platforms().has('victim')).toBe(false);
});

it('refuses GET /metrics, /openrpc.json, the dashboard and its files under a foreign Host (a same-origin GET carries no Origin)', async () => {
  for (const path of ['/metrics', '/openrpc.json', '/', '/platforms/a/', '/dashboard/dashboard.js', '/dashboard/trace.html']) {
    const r = await raw(port(), 'GET', path, { Host: REBOUND.Host });
    expect(r.status, path).toBe(403);
    expect(r.body).not.toContain('smash_emu_');
  }
  // /healthz stays open (readiness probes), and the upgrade is refused the same way.
  expect((await raw(port(), 'GET', '/healthz', { Host: REBOUND.Host })).status).toBe(200);
  expect(await upgradeStatus(t().app.url, { headers: { Host: REBOUND.Host } })).toBe(403);
});

it('serves IP addresses, localhost and the own origin', async () => {
  for (const host of [`127.0.0.1:${port()}`, `localhost:${port()}`, 'localhost', '[::1]:8547']) {
    expect((await raw(port(), 'GET', '/metrics', { Host: host })).status, host).toBe(200);
  }
  expect((await raw(port(), 'GET', '/metrics', { Host: `localhost:${port()}`, Origin: `http://localhost:${port()}` })).status).toBe(200);
});

it('serves a name --allow-host lists, and an origin --allow-origin lists', async () => {
  const app = await startApp({ scenario: DEFAULT_SCENARIO, server: { host: '127.0.0.1', port: 0, pingMs: 0, allowHost: ['emu.lan'], allowOrigin: ['http://tools.lan:3000'] } });
  try {
    expect((await raw(app.port, 'GET', '/metrics', { Host: 'EMU.lan:8547' })).status).toBe(200);
    expect((await raw(app.port, 'GET', '/metrics', { Host: 'emu.lan:8547', Origin: 'http://emu.lan:8547' })).status).toBe(200);
    expect((await raw(app.port, 'GET', '/metrics', { Host: 'other.lan' })).status).toBe(403);
    expect((await raw(app.port, 'GET', '/metrics', { Host: `127.0.0.1:${app.port}`, Origin: 'http://tools.lan:3000' })).status).toBe(200);
    expect((await raw(app.port, 'GET', '/metrics', { Host: `127.0.0.1:${app.port}`, Origin: 'http://tools.lan:3001' })).status).toBe(403);
  } finally {
    await app.close();
  }
});

it('pages allow WebSocket connections only to the Host they came from (Content-Security-Policy)', async () => {
  const r = await raw(port(), 'GET', '/dashboard/trace.html', { Host: `127.0.0.1:${port()}` });
  expect(r.status).toBe(200);
  expect(r.headers['content-security-policy']).toBe(`default-src 'self'; connect-src 'self' ws://127.0.0.1:${port()} wss://127.0.0.1:${port()}; img-src 'self' data: blob:; style-src 'self'`);
});

it('answers other methods on a platform path with 405 and Allow; GET without an upgrade with 426', async () => {
  for (const method of ['POST', 'PUT', 'PATCH']) {
    const named = await raw(port(), method, '/platforms/alpha', { Host: `127.0.0.1:${port()}` });
    expect(named.status, method).toBe(405);
    expect(named.headers['allow']).toBe('GET, HEAD, DELETE');
    const root = await raw(port(), method, '/', { Host: `127.0.0.1:${port()}` });
    expect(root.status, method).toBe(405);
    expect(root.headers['allow']).toBe('GET, HEAD');
  }
  const get = await raw(port(), 'GET', '/platforms/alpha', { Host: `127.0.0.1:${port()}` });
  expect(get.status).toBe(426);
  expect(get.headers['upgrade']).toBe('websocket');
  expect(t().app.platforms().has('alpha')).toBe(false);
});
