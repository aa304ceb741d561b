/**
 * Socket tests: named platforms can be listed and freed (emu.platforms,
 * emu.deletePlatform, HTTP DELETE /platforms/NAME, --platform-idle-ms), and the
 * 503 at the limit names those fixes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RpcCallError, type SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

const apps: AppUnderTest[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
});

async function start(opts: Parameters<typeof startTestApp>[0] = {}): Promise<AppUnderTest> {
  const t = await startTestApp(opts);
  apps.push(t);
  return t;
}

async function http(t: AppUnderTest, method: string, path: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(t.app.url.replace('ws://', 'http://') + path, { method, ...(token !== undefined ? { headers: { Authorization: `Bearer ${token}` } } : {}) });
  return { status: res.status, body: await res.json() };
}

async function rpcError(p: Promise<unknown>): Promise<RpcCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcCallError) return err;
    throw err;
  }
  throw new Error('expected a JSON-RPC error');
}

async function upgrade(url: string): Promise<{ status: number; body: string }> {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', reject);
  });
}

describe('platform lifecycle', () => {
  it('lists every platform with its creation time, last use, connections and virtual time', async () => {
    const t = await start();
    const before = Date.now();
    const lab = await t.connect('/platforms/lab');
    await lab.call('clock.advance', { ns: 99 });
    const { platforms } = await t.client.call('emu.platforms');
    expect(platforms.map((p) => p.name)).toEqual(['', 'lab']);
    const labRow = platforms[1]!;
    expect(labRow).toMatchObject({ name: 'lab', connections: 1, nowNs: 99 });
    expect(Date.parse(labRow.createdAt)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(labRow.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(labRow.createdAt));
    expect(platforms[0]).toMatchObject({ name: '', connections: 1 });
  });

  it('deletes a named platform: its clients are closed with 1001, its state is gone and the path builds a new one', async () => {
    const t = await start();
    const lab = await t.connect('/platforms/lab');
    await lab.call('clock.advance', { ns: 5 });
    expect(await t.client.call('emu.deletePlatform', { name: 'lab' })).toEqual({ ok: true, name: 'lab', closedConnections: 1 });
    expect(await lab.closed).toEqual({ code: 1001, reason: 'platform deleted' });
    expect([...t.app.platforms().keys()]).toEqual(['']);
    const again = await t.connect('/platforms/lab');
    expect(await again.call('clock.now')).toMatchObject({ nowNs: 0 });
  });

  it('lets a client delete its own platform: the answer comes first, then the close', async () => {
    const t = await start();
    const lab = await t.connect('/platforms/self');
    expect(await lab.call('emu.deletePlatform', { name: 'self' })).toEqual({ ok: true, name: 'self', closedConnections: 1 });
    expect((await lab.closed).code).toBe(4000);
    expect(t.app.platforms().has('self')).toBe(false);
  });

  it('refuses an unknown name with -32001 and the default platform with -32602, changing nothing', async () => {
    const t = await start();
    await t.connect('/platforms/kept');
    const unknown = await rpcError(t.client.call('emu.deletePlatform', { name: 'nope' }));
    expect(unknown.code).toBe(-32001);
    expect(unknown.message).toContain('emu.platforms lists them');
    const home = await rpcError(t.client.call('emu.deletePlatform', { name: '' }));
    expect(home.code).toBe(-32602);
    expect(home.message).toContain('emu.reset rebuilds it');
    expect([...t.app.platforms().keys()]).toEqual(['', 'kept']);
  });

  it('deletes over HTTP DELETE /platforms/NAME (token required), 404 for none, 409 for "/"', async () => {
    const t = await start({ server: { token: 'tk' } });
    const lab: SmashEmuClient = await t.connect('/platforms/lab', 'tk');
    expect((await http(t, 'DELETE', '/platforms/lab')).status).toBe(401);
    expect(await http(t, 'DELETE', '/platforms/lab', 'tk')).toEqual({ status: 200, body: { ok: true, name: 'lab' } });
    expect((await lab.closed).code).toBe(1001);
    expect(await http(t, 'DELETE', '/platforms/lab', 'tk')).toMatchObject({ status: 404, body: { error: expect.stringContaining('no platform "lab"') } });
    expect((await http(t, 'DELETE', '/', 'tk')).status).toBe(409);
  });

  it('drops a deleted platform from GET /metrics', async () => {
    const t = await start();
    const lab = await t.connect('/platforms/metered');
    await lab.call('clock.now');
    const metrics = async () => (await fetch(t.app.url.replace('ws://', 'http://') + '/metrics')).text();
    expect(await metrics()).toContain('platform="metered"');
    await t.client.call('emu.deletePlatform', { name: 'metered' });
    expect(await metrics()).not.toContain('platform="metered"');
  });

  it('answers the platform limit with a 503 that names the fixes, and a deletion makes room', async () => {
    const t = await start({ server: { maxPlatforms: 1 } });
    await t.connect('/platforms/one');
    const refused = await upgrade(t.app.url + '/platforms/two');
    expect(refused.status).toBe(503);
    const { error } = JSON.parse(refused.body) as { error: string };
    for (const fix of ['emu.deletePlatform', 'DELETE /platforms/NAME', 'emu.platforms', '--platform-idle-ms', '--max-platforms']) expect(error).toContain(fix);
    await t.client.call('emu.deletePlatform', { name: 'one' });
    expect((await upgrade(t.app.url + '/platforms/two')).status).toBe(101);
  });

  it('expires a named platform idle for platformIdleMs with no connection, never the default one or a connected one', async () => {
    const t = await start({ platformIdleMs: 40 });
    const kept = await t.connect('/platforms/connected');
    const idle = await t.connect('/platforms/idle');
    await idle.close();
    const deadline = Date.now() + 20_000;
    while (t.app.platforms().has('idle')) {
      if (Date.now() > deadline) throw new Error('the idle platform was never expired');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect([...t.app.platforms().keys()].sort()).toEqual(['', 'connected']);
    expect(await kept.call('clock.now')).toMatchObject({ nowNs: 0 });
  });
});
