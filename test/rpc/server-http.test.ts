/**
 * Socket tests: plain HTTP on the WebSocket port.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/rpc/server.js';
import type { RunningServer } from '../../src/rpc/server.js';
import { fakeHooks } from '../helpers/ws.js';
import type { FakeHooks } from '../helpers/ws.js';

let server: RunningServer;
let fake: FakeHooks;
const http = (path: string, init?: RequestInit) => fetch(server.url.replace(/^ws:/, 'http:') + path, init);

beforeEach(async () => {
  fake = fakeHooks();
  server = await startServer({ port: 0, onInternalError: () => {} }, fake.hooks);
});

afterEach(async () => {
  await server.close();
});

describe('server: HTTP', () => {
  it('answers /healthz with 200 {"status":"ok"} when healthy, 503 when not', async () => {
    const ok = await http('/healthz');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok' });
    fake.setHealthy(false);
    expect((await http('/healthz')).status).toBe(503);
  });

  it("serves Prometheus text at /metrics with the hooks' metrics appended", async () => {
    const res = await http('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('# TYPE smash_emu_rpc_calls_total counter');
    expect(text).toContain('# TYPE smash_emu_rpc_call_duration_seconds histogram');
    expect(text).toContain('fake_domain_metric 7');
  });

  it('serves the OpenRPC document at /openrpc.json', async () => {
    const res = await http('/openrpc.json');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ openrpc: '1.3.2' });
  });

  it('answers 405 to other methods, 426 on a WebSocket path, 404 elsewhere', async () => {
    expect((await http('/metrics', { method: 'POST' })).status).toBe(405);
    expect((await http('/')).status).toBe(426);
    expect((await http('/platforms/x')).status).toBe(426);
    expect((await http('/constructor')).status).toBe(404);
    expect(server.platforms()).toEqual([]);
  });
});
