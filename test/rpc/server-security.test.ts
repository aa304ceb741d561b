/**
 * Socket tests: who may connect and what a client may send (protocol/README.md
 * §1.3 Limits, §1.6 Token, Host and Origin).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/rpc/server.js';
import type { RunningServer } from '../../src/rpc/server.js';
import { startFakeServer, stopFakeServers, fakeHooks, openClient, rawUpgradeStatus, upgradeStatus } from '../helpers/ws.js';

const start = startFakeServer;

const httpUrl = (server: RunningServer, path: string) => server.url.replace(/^ws:/, 'http:') + path;
const echo = { jsonrpc: '2.0', method: 'echo', params: { hi: 1 }, id: 1 };

afterEach(stopFakeServers);

describe('server: token', () => {
  it('refuses an upgrade with no token or a wrong one with HTTP 401', async () => {
    const server = await start({ token: 's3cret' });
    expect(await upgradeStatus(server.url)).toBe(401);
    expect(await upgradeStatus(server.url + '/?token=wrong')).toBe(401);
    expect(await upgradeStatus(server.url, { headers: { Authorization: 'Bearer wrong' } })).toBe(401);
    expect(await upgradeStatus(server.url + '/platforms/p1')).toBe(401);
  });

  it('accepts the token as a bearer header or as ?token=', async () => {
    const server = await start({ token: 's3cret' });
    const byHeader = await openClient(server.url, { headers: { Authorization: 'Bearer s3cret' } });
    expect(await byHeader.call(echo)).toMatchObject({ result: { hi: 1 } });
    const byQuery = await openClient(server.url + '/platforms/p1?token=s3cret');
    expect(await byQuery.call(echo)).toMatchObject({ result: { hi: 1 } });
  });

  it('guards HTTP with the token except /healthz', async () => {
    const server = await start({ token: 's3cret' });
    expect((await fetch(httpUrl(server, '/healthz'))).status).toBe(200);
    const refused = await fetch(httpUrl(server, '/metrics'));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    expect((await fetch(httpUrl(server, '/openrpc.json'))).status).toBe(401);
    expect((await fetch(httpUrl(server, '/metrics'), { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect((await fetch(httpUrl(server, '/openrpc.json?token=s3cret'))).status).toBe(200);
  });
});

describe('server: browser origins', () => {
  it('refuses an upgrade carrying an Origin header with HTTP 403', async () => {
    const server = await start();
    expect(await upgradeStatus(server.url, { origin: 'http://evil.example' })).toBe(403);
  });

  it('accepts a listed origin and still refuses others', async () => {
    const server = await start({ allowOrigin: ['http://localhost:3000'] });
    const c = await openClient(server.url, { origin: 'http://localhost:3000' });
    expect(await c.call(echo)).toMatchObject({ result: { hi: 1 } });
    expect(await upgradeStatus(server.url, { origin: 'http://localhost:3001' })).toBe(403);
  });

  it('accepts clients that send no Origin', async () => {
    const server = await start();
    expect(await upgradeStatus(server.url)).toBe(101);
  });
});

describe('server: frames', () => {
  it('closes the connection with 1009 on a frame over maxFrameBytes', async () => {
    const server = await start({ maxFrameBytes: 1024 });
    const c = await openClient(server.url);
    expect(await c.call(echo)).toMatchObject({ id: 1 });
    c.send(JSON.stringify({ jsonrpc: '2.0', method: 'echo', params: { pad: 'x'.repeat(2000) }, id: 2 }));
    expect((await c.closed).code).toBe(1009);
  });

  it('closes the connection with 1003 on a binary frame', async () => {
    const server = await start();
    const c = await openClient(server.url);
    c.ws.send(Buffer.from(JSON.stringify(echo)), { binary: true });
    expect((await c.closed).code).toBe(1003);
  });
});

describe('server: paths', () => {
  it('answers other paths with HTTP 404', async () => {
    const server = await start();
    for (const path of ['/nope', '/platforms', '/platforms/', '/platforms/a/b', '/platforms/bad%20name', `/platforms/${'a'.repeat(65)}`]) {
      expect(await upgradeStatus(server.url + path), path).toBe(404);
    }
    // Dot-only names would be unsafe as state file names.
    for (const path of ['/platforms/..', '/platforms/.', '/platforms/../x']) {
      expect(await rawUpgradeStatus(server.port, path), path).toBe(404);
    }
    expect(await rawUpgradeStatus(server.port, '/platforms/...')).toBe(101);
    expect((await fetch(httpUrl(server, '/nope'))).status).toBe(404);
  });

  it('accepts every name of 1-64 characters [A-Za-z0-9_.-], with a query string', async () => {
    const server = await start();
    for (const name of ['a', 'Z_9.-x', 'a'.repeat(64)]) {
      expect(await upgradeStatus(`${server.url}/platforms/${name}?x=1`), name).toBe(101);
    }
  });
});

describe('server: options', () => {
  it('refuses a bad option naming it', async () => {
    await expect(startServer({ maxBatch: 0 }, fakeHooks().hooks)).rejects.toThrow(/maxBatch must be an integer/);
    await expect(startServer({ port: 70000 }, fakeHooks().hooks)).rejects.toThrow(/port/);
    await expect(startServer({ maxBatch: 1, ...({ maxBatchh: 2 } as object) }, fakeHooks().hooks)).rejects.toThrow(/unknown server option "maxBatchh"/);
  });

  it('rejects when the port is taken', async () => {
    const server = await start();
    await expect(startServer({ port: server.port }, fakeHooks().hooks)).rejects.toThrow(/EADDRINUSE/);
  });
});
