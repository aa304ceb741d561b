/**
 * Socket tests: the client against a tiny stand-in WebSocket server (not the real
 * one), scripted per method.
 */
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { ConnectionClosedError, RpcCallError, RpcTimeoutError, SmashEmuClient } from '../../src/client/smash-emu-client.js';
import type { EventNotification } from '../../src/client/smash-emu-client.js';

interface Request {
  jsonrpc: string;
  id: number;
  method: string;
  params: Record<string, unknown>;
}

type Script = (req: Request, ws: WebSocket) => void;

interface StandIn {
  url: string;
  requests: Request[];
  headers: IncomingMessage['headers'][];
  close(): Promise<void>;
}

const servers: StandIn[] = [];
const clients: SmashEmuClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function reply(ws: WebSocket, id: number, body: { result: unknown } | { error: unknown }): void {
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, ...body }));
}

async function standIn(scripts: Record<string, Script>, opts: { refuse?: number } = {}): Promise<StandIn> {
  const requests: Request[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (_info, done) => (opts.refuse !== undefined ? done(false, opts.refuse) : done(true)),
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws, req) => {
    headers.push(req.headers);
    ws.on('message', (data) => {
      const req = JSON.parse(String(data)) as Request;
      requests.push(req);
      const script = scripts[req.method];
      if (script !== undefined) script(req, ws);
      else reply(ws, req.id, { error: { code: -32601, message: 'Method not found' } });
    });
  });
  const { port } = wss.address() as AddressInfo;
  const s: StandIn = {
    url: `ws://127.0.0.1:${port}/`,
    requests,
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

async function connect(url: string, opts: Parameters<typeof SmashEmuClient.connect>[1] = {}): Promise<SmashEmuClient> {
  const c = await SmashEmuClient.connect(url, opts);
  clients.push(c);
  return c;
}

const notify = (ws: WebSocket, n: EventNotification) => ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'events.notify', params: n }));

describe('SmashEmuClient (socket)', () => {
  it('sends a by-name JSON-RPC 2.0 request and resolves with the result', async () => {
    const s = await standIn({ 'clock.advance': (req, ws) => reply(ws, req.id, { result: { nowNs: req.params.ns } }) });
    const c = await connect(s.url);
    await expect(c.call('clock.advance', { ns: 1000 })).resolves.toEqual({ nowNs: 1000 });
    expect(s.requests[0]).toEqual({ jsonrpc: '2.0', id: 1, method: 'clock.advance', params: { ns: 1000 } });
  });

  it('sends {} when a method without required params is called without them', async () => {
    const s = await standIn({ 'clock.now': (req, ws) => reply(ws, req.id, { result: { nowNs: 7 } }) });
    const c = await connect(s.url);
    await expect(c.call('clock.now')).resolves.toEqual({ nowNs: 7 });
    expect(s.requests[0]!.params).toEqual({});
  });

  it('matches responses to calls by id when they come back out of order', async () => {
    const held: Array<() => void> = [];
    const s = await standIn({
      'rmp.read': (req, ws) => held.push(() => reply(ws, req.id, { result: { spa: req.params.spa } })),
    });
    const c = await connect(s.url);
    const a = c.call('rmp.read', { spa: '0x1000' });
    const b = c.call('rmp.read', { spa: '0x2000' });
    await expect.poll(() => held.length).toBe(2);
    held[1]!();
    held[0]!();
    expect(await Promise.all([a, b])).toEqual([{ spa: '0x1000' }, { spa: '0x2000' }]);
  });

  it('sends the token as a bearer Authorization header', async () => {
    const s = await standIn({});
    await connect(s.url, { token: 's3cret' });
    expect(s.headers[0]!.authorization).toBe('Bearer s3cret');
  });

  it('rejects connect when the server refuses the upgrade', async () => {
    const s = await standIn({}, { refuse: 401 });
    await expect(SmashEmuClient.connect(s.url)).rejects.toThrow(/HTTP 401/);
  });

  it('rejects with RpcCallError carrying code, message and data on a JSON-RPC error', async () => {
    const data = { issues: [{ path: ['ioav'], message: 'unknown key' }] };
    const s = await standIn({ 'iommu.walk': (req, ws) => reply(ws, req.id, { error: { code: -32602, message: 'Invalid params', data } }) });
    const c = await connect(s.url);
    const err = await c.call('iommu.walk', { deviceId: 1, iova: '0x0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcCallError);
    expect(err).toMatchObject({ method: 'iommu.walk', code: -32602, message: 'Invalid params', data });
  });

  it('rejects one call with RpcTimeoutError after its timeout, and keeps working', async () => {
    const s = await standIn({
      'emu.snapshot': () => {},
      'clock.now': (req, ws) => reply(ws, req.id, { result: { nowNs: 1 } }),
    });
    // The client's own timeout is past the test's (60 s): only the call's 50 ms can end it.
    const c = await connect(s.url, { timeoutMs: 600_000 });
    const err = await c.call('emu.snapshot', {}, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcTimeoutError);
    expect(err).toMatchObject({ method: 'emu.snapshot', timeoutMs: 50 });
    await expect(c.call('clock.now')).resolves.toEqual({ nowNs: 1 });
  });

  it('times out calls by their own deadlines whatever order they were made in, and keeps no timer once none is pending', async () => {
    const held: Array<() => void> = [];
    const s = await standIn({
      'emu.snapshot': () => {},
      'clock.now': (req, ws) => held.push(() => reply(ws, req.id, { result: { nowNs: 3 } })),
    });
    const c = await connect(s.url, { timeoutMs: 5000 });
    const timer = () => (c as unknown as { timer: unknown }).timer;
    // A long call first, then shorter ones: the short ones time out first, the long one is answered.
    const long = c.call('clock.now', {}, { timeoutMs: 2000 });
    const late = c.call('emu.snapshot', {}, { timeoutMs: 120 }).catch((e: unknown) => e);
    const soon = c.call('emu.snapshot', {}, { timeoutMs: 40 }).catch((e: unknown) => e);
    expect(await soon).toMatchObject({ name: 'RpcTimeoutError', timeoutMs: 40 });
    expect(await late).toMatchObject({ name: 'RpcTimeoutError', timeoutMs: 120 });
    expect(timer()).toBeDefined();
    await expect.poll(() => held.length).toBe(1);
    held[0]?.();
    await expect(long).resolves.toEqual({ nowNs: 3 });
    expect(timer()).toBeUndefined();
  });

  it('uses the client timeout when the call gives none', async () => {
    const s = await standIn({ 'emu.snapshot': () => {} });
    const c = await connect(s.url, { timeoutMs: 30 });
    await expect(c.call('emu.snapshot')).rejects.toBeInstanceOf(RpcTimeoutError);
  });

  it('rejects every pending call with ConnectionClosedError when the socket closes', async () => {
    const s = await standIn({
      'emu.snapshot': () => {},
      'emu.reset': (_req, ws) => ws.close(1001, 'going away'),
    });
    const c = await connect(s.url);
    const pending = c.call('emu.snapshot');
    const closing = c.call('emu.reset', {});
    const results = await Promise.allSettled([pending, closing]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ConnectionClosedError);
      expect((r as PromiseRejectedResult).reason).toMatchObject({ closeCode: 1001, reason: 'going away' });
    }
    await expect(c.call('clock.now')).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('rejects pending calls when the client itself closes', async () => {
    const s = await standIn({ 'emu.snapshot': () => {} });
    const c = await connect(s.url);
    const pending = c.call('emu.snapshot');
    await c.close();
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('dispatches events.notify to the subscription, including one sent before the subscribe response', async () => {
    const s = await standIn({
      'events.subscribe': (req, ws) => {
        notify(ws, { subscriptionId: 'sub7', topic: 'fw', atNs: 1, data: { command: 'early' } });
        reply(ws, req.id, { result: { subscriptionId: 'sub7' } });
      },
      'fw.init': (req, ws) => {
        notify(ws, { subscriptionId: 'sub7', topic: 'fw', atNs: 2, data: { command: 'fw.init' } });
        notify(ws, { subscriptionId: 'other', topic: 'fw', atNs: 2, data: {} });
        reply(ws, req.id, { result: { status: 1, statusName: 'INVALID_PLATFORM_STATE' } });
      },
      'events.unsubscribe': (req, ws) => reply(ws, req.id, { result: { ok: true } }),
    });
    const c = await connect(s.url);
    const seen: EventNotification[] = [];
    const sub = await c.subscribe(['fw'], (n) => seen.push(n));
    expect(sub.subscriptionId).toBe('sub7');
    expect(s.requests[0]!.params).toEqual({ topics: ['fw'] });
    const result = await c.call('fw.init');
    expect(result.statusName).toBe('INVALID_PLATFORM_STATE');
    // Notifications a call causes arrive before its response, so both are in by now.
    expect(seen.map((n) => n.data.command)).toEqual(['early', 'fw.init']);
    await sub.unsubscribe();
    expect(s.requests.at(-1)).toMatchObject({ method: 'events.unsubscribe', params: { subscriptionId: 'sub7' } });
  });

  it('reports a throwing handler to onHandlerError and keeps dispatching', async () => {
    const s = await standIn({
      'events.subscribe': (req, ws) => {
        reply(ws, req.id, { result: { subscriptionId: 's1' } });
        for (const atNs of [1, 2]) notify(ws, { subscriptionId: 's1', topic: 'dma', atNs, data: {} });
      },
    });
    const errors: unknown[] = [];
    const c = await connect(s.url, { onHandlerError: (e) => errors.push(e) });
    const seen: number[] = [];
    await c.subscribe(['dma'], (n) => {
      seen.push(n.atNs);
      throw new Error('handler bug');
    });
    await expect.poll(() => seen).toEqual([1, 2]);
    expect(errors).toHaveLength(2);
  });

  it('accepts a batch of responses in one frame', async () => {
    let first: Request | undefined;
    const s = await standIn({
      'clock.now': (req, ws) => {
        if (first === undefined) {
          first = req;
          return;
        }
        ws.send(
          JSON.stringify([
            { jsonrpc: '2.0', id: req.id, result: { nowNs: 2 } },
            { jsonrpc: '2.0', id: first.id, result: { nowNs: 1 } },
          ]),
        );
      },
    });
    const c = await connect(s.url);
    expect(await Promise.all([c.call('clock.now'), c.call('clock.now')])).toEqual([{ nowNs: 1 }, { nowNs: 2 }]);
  });
});
