/**
 * Socket tests: the WebSocket path picks the platform (protocol/README.md §1.1
 * Paths, §1.8).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeServer, stopFakeServers, fakeHooks, openClient, upgradeStatus } from '../helpers/ws.js';
import type { TestClient } from '../helpers/ws.js';

const start = startFakeServer;

afterEach(stopFakeServers);

let nextId = 1;
async function result(client: TestClient, method: string, params?: Record<string, unknown>): Promise<unknown> {
  const res = (await client.call({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }), id: nextId++ })) as { result?: unknown; error?: unknown };
  if (res.error !== undefined) throw new Error(JSON.stringify(res.error));
  return res.result;
}

describe('server: platforms by path', () => {
  it('gives two platforms separate state and lets connections on one path share it', async () => {
    const fake = fakeHooks();
    const server = await start({}, fake);
    const a1 = await openClient(server.url + '/platforms/a');
    const a2 = await openClient(server.url + '/platforms/a');
    const b = await openClient(server.url + '/platforms/b');
    const home = await openClient(server.url);
    expect(await result(a1, 'count')).toBe(1);
    expect(await result(a2, 'count')).toBe(2);
    expect(await result(b, 'count')).toBe(1);
    expect(await result(home, 'count')).toBe(1);
    expect(await result(a1, 'count')).toBe(3);
    expect(fake.created).toEqual(['a', 'b', '']);
    expect(server.platforms()).toEqual(['a', 'b', '']);
  });

  it('tells a handler its platform and connection', async () => {
    const server = await start();
    const one = await openClient(server.url + '/platforms/lab.1');
    const two = await openClient(server.url);
    const first = (await result(one, 'whoami')) as { platformName: string; connectionId: number };
    const second = (await result(two, 'whoami')) as { platformName: string; connectionId: number };
    expect(first.platformName).toBe('lab.1');
    expect(second.platformName).toBe('');
    expect(second.connectionId).not.toBe(first.connectionId);
  });

  it('refuses a new named platform beyond maxPlatforms with HTTP 503, not counting the default one', async () => {
    const server = await start({ maxPlatforms: 2 });
    await openClient(server.url);
    await openClient(server.url + '/platforms/p1');
    await openClient(server.url + '/platforms/p2');
    expect(await upgradeStatus(server.url + '/platforms/p3')).toBe(503);
    // Existing platforms stay reachable.
    expect(await upgradeStatus(server.url + '/platforms/p1')).toBe(101);
    expect(await upgradeStatus(server.url)).toBe(101);
    expect(server.platforms()).toEqual(['', 'p1', 'p2']);
  });

  it('keeps a platform after its last connection closes', async () => {
    const fake = fakeHooks();
    const server = await start({}, fake);
    const first = await openClient(server.url + '/platforms/keep');
    expect(await result(first, 'count')).toBe(1);
    first.ws.close();
    await first.closed;
    const again = await openClient(server.url + '/platforms/keep');
    expect(await result(again, 'count')).toBe(2);
    expect(fake.created).toEqual(['keep']);
  });

  it('answers HTTP 500 when createPlatform throws, and tries again on the next connection', async () => {
    const fake = fakeHooks({ failOn: 'broken' });
    const server = await start({}, fake);
    expect(await upgradeStatus(server.url + '/platforms/broken')).toBe(500);
    expect(server.platforms()).toEqual([]);
    expect(await upgradeStatus(server.url + '/platforms/fine')).toBe(101);
  });

  it('disposes every platform on close', async () => {
    const fake = fakeHooks();
    const server = await start({}, fake);
    await openClient(server.url + '/platforms/x');
    await openClient(server.url);
    await server.close();
    expect(fake.disposed.sort()).toEqual(['', 'x']);
  });
});
