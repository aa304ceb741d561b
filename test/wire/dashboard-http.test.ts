/**
 * Socket tests of how the dashboard is served: the page at / and /platforms/NAME/,
 * its files and uPlot from the server itself (no CDN), the token, and the origin
 * rule that lets the served page connect back while a DNS-rebinding page cannot.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const httpUrl = (ws: string, path: string) => ws.replace(/^ws:/, 'http:') + path;

/** The HTTP status of a WebSocket upgrade to `path` with these headers. */
function upgradeStatus(url: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + path, { headers });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
  });
}

/** GET with a Host header of our choosing (fetch cannot set Host). */
function getWithHost(url: string, path: string, host: string): Promise<number> {
  const u = new URL(url.replace(/^ws:/, 'http:'));
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard over HTTP', () => {
  it('serves the page at / and /platforms/NAME/, and its scripts and uPlot from the server', async () => {
    t = await startTestApp();
    for (const path of ['/', '/platforms/alpha/']) {
      const res = await fetch(httpUrl(t.app.url, path));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await res.text();
      expect(html).toContain('<script src="/dashboard/uPlot.iife.min.js"></script>');
      expect(html).not.toMatch(/https?:\/\//);
    }
    const uplot = await fetch(httpUrl(t.app.url, '/dashboard/uPlot.iife.min.js'));
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await uplot.text()).toContain('uPlot');
    for (const file of ['dashboard.js', 'dashboard.css', 'uPlot.min.css', 'trace.html', 'trace-view.js']) {
      expect((await fetch(httpUrl(t.app.url, `/dashboard/${file}`))).status).toBe(200);
    }
    // Still a WebSocket endpoint without the slash; other paths 404; the page GET creates no platform.
    expect((await fetch(httpUrl(t.app.url, '/platforms/alpha'))).status).toBe(426);
    expect((await fetch(httpUrl(t.app.url, '/dashboard/nope.js'))).status).toBe(404);
    expect((await fetch(httpUrl(t.app.url, '/platforms/a%2Fb/'))).status).toBe(404);
    expect((await fetch(httpUrl(t.app.url, '/platforms/x/y/'))).status).toBe(404);
    expect((await fetch(httpUrl(t.app.url, '/'), { method: 'POST' })).status).toBe(405);
    expect(t.app.platforms().has('alpha')).toBe(false);
  });

  it('needs the token for the page (not for its static files) when the server has one', async () => {
    t = await startTestApp({ server: { token: 's3cret' } });
    expect((await fetch(httpUrl(t.app.url, '/'))).status).toBe(401);
    expect((await fetch(httpUrl(t.app.url, '/?token=s3cret'))).status).toBe(200);
    expect((await fetch(httpUrl(t.app.url, '/platforms/a/'))).status).toBe(401);
    expect((await fetch(httpUrl(t.app.url, '/dashboard/dashboard.js'))).status).toBe(200);
  });

  it('lets the page it served connect back (same origin by address), but not a rebinding name', async () => {
    t = await startTestApp();
    const host = new URL(t.app.url).host;
    expect(await upgradeStatus(t.app.url, '/', { origin: `http://${host}` })).toBe(101);
    expect(await upgradeStatus(t.app.url, '/', { origin: `http://localhost:${new URL(t.app.url).port}`, host: `localhost:${new URL(t.app.url).port}` })).toBe(101);
    // A DNS-rebinding page: its own name in Host and Origin alike.
    expect(await upgradeStatus(t.app.url, '/', { origin: 'http://evil.example:80', host: 'evil.example:80' })).toBe(403);
    // Another page on this machine (a different port) is still another origin.
    expect(await upgradeStatus(t.app.url, '/', { origin: 'http://127.0.0.1:1' })).toBe(403);
    // Plain HTTP gets the same Host check: a rebinding page cannot load the page either.
    expect(await getWithHost(t.app.url, '/', 'evil.example')).toBe(403);
    expect(await getWithHost(t.app.url, '/', `localhost:${new URL(t.app.url).port}`)).toBe(200);
  });
});
