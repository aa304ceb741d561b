/**
 * Socket tests: one connection's life: notifications before the response, close
 * callbacks, fault-injection close, the notification backlog cap, ping/pong, and
 * server shutdown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeServer, stopFakeServers, fakeHooks, openClient, upgradeStatus } from '../helpers/ws.js';

const start = startFakeServer;

afterEach(stopFakeServers);

describe('server: connections', () => {
  it('sends the notifications a call produces before its response, bigints as hex', async () => {
    const server = await start();
    const c = await openClient(server.url);
    c.send({ jsonrpc: '2.0', method: 'chatty', id: 7 });
    const frames = [await c.nextJson(), await c.nextJson(), await c.nextJson(), await c.nextJson()];
    expect(frames).toEqual([
      { jsonrpc: '2.0', method: 'events.notify', params: { n: 1, big: '0x1' } },
      { jsonrpc: '2.0', method: 'events.notify', params: { n: 2, big: '0x2' } },
      { jsonrpc: '2.0', method: 'events.notify', params: { n: 3, big: '0x3' } },
      { jsonrpc: '2.0', id: 7, result: 'done' },
    ]);
  });

  it('answers every pipelined frame in order when reading pauses for backpressure', async () => {
    const server = await start({ maxQueuedFrames: 2 });
    const c = await openClient(server.url);
    for (let id = 1; id <= 20; id++) c.send({ jsonrpc: '2.0', method: 'slow', params: { ms: 2, tag: String(id) }, id });
    const answers: unknown[] = [];
    for (let id = 1; id <= 20; id++) answers.push(await c.nextJson());
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, result: String(i + 1) })));
  });

  it('runs onClose callbacks when the client goes away', async () => {
    const fake = fakeHooks();
    const server = await start({}, fake);
    const c = await openClient(server.url);
    const res = (await c.call({ jsonrpc: '2.0', method: 'whoami', id: 1 })) as { result: { connectionId: number } };
    await c.call({ jsonrpc: '2.0', method: 'watch', id: 2 });
    c.ws.close(1000);
    await c.closed;
    await expect.poll(() => fake.closedConnections).toEqual([res.result.connectionId]);
  });

  it('lets a subscription notify later, and refuses once the connection is gone', async () => {
    const fake = fakeHooks();
    const server = await start({}, fake);
    const c = await openClient(server.url);
    await c.call({ jsonrpc: '2.0', method: 'keepCtx', id: 1 });
    await c.call({ jsonrpc: '2.0', method: 'watch', id: 2 });
    const ctx = fake.contexts[0]!;
    expect(ctx.notify('events.notify', { late: 1n })).toBe(true);
    expect(await c.nextJson()).toEqual({ jsonrpc: '2.0', method: 'events.notify', params: { late: '0x1' } });
    c.ws.close(1000);
    await c.closed;
    await expect.poll(() => fake.closedConnections).toHaveLength(1);
    expect(ctx.notify('events.notify', {})).toBe(false);
    let ran = false;
    ctx.onClose(() => (ran = true));
    expect(ran).toBe(true);
  });

  it('closes with 4000 after the response when a handler asks (fault injection)', async () => {
    const server = await start();
    const c = await openClient(server.url);
    c.send({ jsonrpc: '2.0', method: 'closeMe', id: 1 });
    c.send({ jsonrpc: '2.0', method: 'echo', id: 2 });
    expect(await c.nextJson()).toEqual({ jsonrpc: '2.0', id: 1, result: 'bye' });
    expect((await c.closed).code).toBe(4000);
    expect(await c.drainUntilClose()).toEqual([]);
  });

  it('cuts off a client whose unread notifications pass maxBufferedBytes with 1008', async () => {
    const server = await start({ maxBufferedBytes: 64 * 1024, closeTimeoutMs: 30_000 });
    const c = await openClient(server.url);
    c.ws.pause();
    c.send({ jsonrpc: '2.0', method: 'flood', params: { bytes: 64 * 1024 }, id: 1 });
    // Unread until the server has cut it off (an event, not a wait of so many ms).
    const metricsText = async () => (await fetch(server.url.replace(/^ws:/, 'http:') + '/metrics')).text();
    await expect.poll(metricsText, { timeout: 30_000, interval: 20 }).toMatch(/smash_emu_connections_cut_off_total\{platform=""\} 1/);
    c.ws.resume();
    const close = await c.closed;
    expect(close).toEqual({ code: 1008, reason: 'notification backlog' });
    const frames = await c.drainUntilClose();
    // Every frame before the close is a notification; the call's response was never sent.
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => (JSON.parse(f) as { method?: string }).method === 'flood')).toBe(true);
    const metrics = await (await fetch(server.url.replace(/^ws:/, 'http:') + '/metrics')).text();
    expect(metrics).toMatch(/smash_emu_connections_cut_off_total\{platform=""\} 1/);
  });

  it('terminates a peer that does not answer pings', async () => {
    const server = await start({ pingMs: 50 });
    const silent = await openClient(server.url, { autoPong: false });
    const polite = await openClient(server.url);
    expect((await silent.closed).code).toBe(1006);
    expect(await polite.call({ jsonrpc: '2.0', method: 'echo', id: 1 })).toMatchObject({ id: 1 });
  });

  it('close(1001) closes every client with 1001 and refuses new ones', async () => {
    const server = await start();
    const a = await openClient(server.url);
    const b = await openClient(server.url + '/platforms/x');
    const closing = server.close();
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    await closing;
    await expect(upgradeStatus(server.url)).rejects.toThrow(/ECONNREFUSED/);
    expect(server.close()).toBe(closing);
  });

  it('close(code) uses the code given', async () => {
    const server = await start();
    const a = await openClient(server.url);
    await server.close(1012);
    expect((await a.closed).code).toBe(1012);
  });

  it('close() finishes even when a client never completes the close handshake', async () => {
    const server = await start({ closeTimeoutMs: 100 });
    const c = await openClient(server.url);
    c.ws.pause();
    // It resolves (the test's timeout is 60 s, the close timeout 100 ms): the server gave up
    // on the handshake and destroyed the socket; the client had its close frame (1001).
    await server.close();
    c.ws.resume();
    expect((await c.closed).code).toBe(1001);
    expect(c.ws.readyState).toBe(c.ws.CLOSED);
  });

  it('counts connections and calls in /metrics with a platform label', async () => {
    const server = await start();
    const c = await openClient(server.url + '/platforms/m');
    await c.call({ jsonrpc: '2.0', method: 'echo', id: 1 });
    await c.call({ jsonrpc: '2.0', method: 'boom', id: 2 });
    await c.call({ jsonrpc: '2.0', method: 'nope', id: 3 });
    const text = await (await fetch(server.url.replace(/^ws:/, 'http:') + '/metrics')).text();
    expect(text).toMatch(/smash_emu_rpc_calls_total\{method="echo",platform="m",outcome="ok"\} 1/);
    expect(text).toMatch(/smash_emu_rpc_calls_total\{method="boom",platform="m",outcome="-32603"\} 1/);
    expect(text).toMatch(/smash_emu_rpc_calls_total\{method="\(unknown\)",platform="m",outcome="-32601"\} 1/);
    expect(text).toMatch(/smash_emu_rpc_call_duration_seconds_count\{method="echo",platform="m"\} 1/);
    expect(text).toMatch(/smash_emu_connections\{platform="m"\} 1/);
    expect(text).toMatch(/fake_domain_metric 7/);
  });
});
