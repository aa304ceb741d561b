/**
 * Socket tests: no exception in a request handler ends the server (protocol/README.md
 * §3, §1.5). Hooks that throw on purpose stand in for bugs: an HTTP handler's throw
 * is answered 500 with one log line, an RPC handler's -32603, an upgrade's 500, and
 * the same server answers the next request. (Vitest fails a run on an unhandled
 * rejection or uncaught exception, so a throw that escaped would fail here too.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { internalErrorLine } from '../../src/rpc/options.js';
import { startServer, type RunningServer } from '../../src/rpc/server.js';
import type { ServerHooks } from '../../src/rpc/method-table.js';
import { fakeHooks, openClient, upgradeStatus } from '../helpers/ws.js';

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server whose hooks throw where `failing` says, logging each failure as the default logger would. */
async function start(failing: Partial<Record<'page' | 'metrics' | 'openrpc' | 'delete' | 'create', boolean>>) {
  const fake = fakeHooks();
  const log: string[] = [];
  const hooks: ServerHooks = {
    ...fake.hooks,
    createPlatform: (name) => {
      if (failing.create === true && name === 'broken') throw new Error('platform factory bug');
      const host = fake.hooks.createPlatform(name);
      host.handlers.set('throwSync', () => {
        throw new TypeError('handler bug\n  with a second line');
      });
      host.handlers.set('throwAsync', async () => {
        await new Promise((resolve) => setImmediate(resolve));
        throw new RangeError('async handler bug');
      });
      host.handlers.set('throwValue', () => {
        throw 'not an Error';
      });
      return host;
    },
    page: (pathname) => {
      if (failing.page === true && pathname === '/') throw Object.assign(new Error(`ENOENT: no such file or directory, open 'dist/src/dashboard/index.html'`), { code: 'ENOENT' });
      return pathname === '/' ? { contentType: 'text/html', body: Buffer.from('<p>ok</p>'), public: false } : undefined;
    },
    metricsText: async () => {
      if (failing.metrics === true) throw new Error('metrics bug');
      return '';
    },
    openrpcDocument: () => {
      if (failing.openrpc === true) throw new Error('openrpc bug');
      return { openrpc: '1.3.2' };
    },
    deletePlatform: async () => {
      if (failing.delete === true) throw new Error('delete bug');
      return true;
    },
  };
  server = await startServer({ port: 0, pingMs: 0, onInternalError: (where, err) => log.push(internalErrorLine(where, err)) }, hooks);
  const http = (path: string, init?: RequestInit) => fetch((server as RunningServer).url.replace(/^ws:/, 'http:') + path, init);
  return { server, http, log };
}

describe('server: a throwing handler never ends the process', () => {
  it('answers 500 for each HTTP handler that throws, logs one line each, and keeps answering', async () => {
    const { http, log } = await start({ page: true, metrics: true, openrpc: true, delete: true });
    for (const [path, method] of [
      ['/', 'GET'],
      ['/metrics', 'GET'],
      ['/openrpc.json', 'GET'],
      ['/platforms/p1', 'DELETE'],
    ] as const) {
      const res = await http(path, { method });
      expect(res.status, `${method} ${path}`).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal error; the server logged it' });
    }
    expect(log).toHaveLength(4);
    expect(log[0]).toMatch(/^smash-emu: internal error in GET \/: ENOENT: no such file or directory, open 'dist\/src\/dashboard\/index\.html' \(at .+\)$/);
    expect(log.slice(1).map((l) => l.replace(/ \(at .*\)$/, ''))).toEqual([
      'smash-emu: internal error in GET /metrics: metrics bug',
      'smash-emu: internal error in GET /openrpc.json: openrpc bug',
      'smash-emu: internal error in DELETE /platforms/p1: delete bug',
    ]);
    for (const line of log) expect(line).not.toContain('\n');
    // Still serving: HTTP and WebSocket.
    expect((await http('/healthz')).status).toBe(200);
    const c = await openClient((server as RunningServer).url);
    expect(await c.call({ jsonrpc: '2.0', method: 'echo', params: { hi: 1 }, id: 1 })).toMatchObject({ result: { hi: 1 } });
  });

  it('answers -32603 for RPC handlers that throw (sync, async, a non-Error), one log line each, and keeps answering', async () => {
    const { http, log } = await start({});
    const c = await openClient((server as RunningServer).url);
    for (const [id, method] of [
      [1, 'throwSync'],
      [2, 'throwAsync'],
      [3, 'throwValue'],
    ] as const) {
      const answer = (await c.call({ jsonrpc: '2.0', method, id })) as { id: number; error: { code: number } };
      expect(answer.id).toBe(id);
      expect(answer.error.code).toBe(-32603);
    }
    expect(log.map((l) => l.replace(/ \(at .*\)$/, ''))).toEqual([
      'smash-emu: internal error in throwSync: TypeError: handler bug   with a second line',
      'smash-emu: internal error in throwAsync: RangeError: async handler bug',
      'smash-emu: internal error in throwValue: not an Error',
    ]);
    expect(await c.call({ jsonrpc: '2.0', method: 'echo', params: { after: true }, id: 4 })).toMatchObject({ result: { after: true } });
    expect((await http('/healthz')).status).toBe(200);
  });

  it('refuses an upgrade whose platform cannot be built with 500, and serves other paths after it', async () => {
    const { http, log } = await start({ create: true });
    expect(await upgradeStatus(`${(server as RunningServer).url}/platforms/broken`)).toBe(500);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/^smash-emu: internal error in createPlatform broken: /);
    const c = await openClient(`${(server as RunningServer).url}/platforms/fine`);
    expect(await c.call({ jsonrpc: '2.0', method: 'echo', params: {}, id: 1 })).toMatchObject({ result: {} });
    expect((await http('/healthz')).status).toBe(200);
  });

  it('the default logger writes exactly one line per failure', () => {
    const err = new Error('first line\nsecond line');
    const line = internalErrorLine('GET /', err);
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/^smash-emu: internal error in GET \/: first line second line \(at .+handler-failures\.test\.ts:\d+:\d+\)$/);
  });
});
