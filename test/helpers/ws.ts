/**
 * Socket test helpers: a WebSocket client that queues every frame it receives, so
 * a test can send and await the next message in order, assert silence, and await
 * the close code; plus a fake method table for transport tests (the real methods
 * live in src/protocol and know nothing of sockets).
 */
import { request as httpRequest } from 'node:http';
import { WebSocket } from 'ws';
import type { ClientOptions } from 'ws';
import type { RpcCallContext, RpcHandler, ServerHooks } from '../../src/rpc/method-table.js';
import { RpcError } from '../../src/rpc/method-table.js';
import { EmuError } from '../../src/util/emu-error.js';
import { startServer, type RunningServer } from '../../src/rpc/server.js';
import type { ServerOptionsInput } from '../../src/rpc/options.js';

export interface CloseInfo {
  code: number;
  reason: string;
}

export class TestClient {
  private readonly inbox: string[] = [];
  private waiter: ((text: string) => void) | undefined;
  readonly closed: Promise<CloseInfo>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${String(data)}>` : String(data);
      const waiter = this.waiter;
      if (waiter !== undefined) {
        this.waiter = undefined;
        waiter(text);
      } else {
        this.inbox.push(text);
      }
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /** The next frame received (queued ones first); rejects after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<string> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (text) => {
        clearTimeout(timer);
        resolve(text);
      };
    });
  }

  async nextJson(timeoutMs?: number): Promise<unknown> {
    return JSON.parse(await this.next(timeoutMs));
  }

  /** Sends `frame` (a string as is, anything else JSON-encoded) and returns the next frame parsed. */
  async call(frame: unknown, timeoutMs?: number): Promise<unknown> {
    this.send(frame);
    return this.nextJson(timeoutMs);
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Every frame received until the connection closes. */
  async drainUntilClose(): Promise<string[]> {
    await this.closed;
    return this.inbox.splice(0);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

const openClients = new Set<TestClient>();

/** Opens a client and tracks it for closeAllClients(). */
export async function openClient(url: string, options: ClientOptions = {}): Promise<TestClient> {
  const ws = new WebSocket(url, options);
  const client = new TestClient(ws);
  openClients.add(client);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
  });
  return client;
}

/** The HTTP status a refused upgrade gets (101 when it is accepted, then closed). */
export async function upgradeStatus(url: string, options: ClientOptions = {}): Promise<number> {
  const ws = new WebSocket(url, options);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    ws.once('error', reject);
  });
}

export function closeAllClients(): void {
  for (const client of openClients) client.close();
  openClients.clear();
}

export interface FakeTable {
  handlers: Map<string, RpcHandler>;
  /** Names of notifications received (methods called without an id included). */
  calls: string[];
  /** 'start:TAG' / 'end:TAG' of `slow`, to prove batch members never overlap. */
  timeline: string[];
}

/** Named-param versions of the JSON-RPC 2.0 spec's §7 methods, plus faults. */
export function fakeMethods(): FakeTable {
  const calls: string[] = [];
  const timeline: string[] = [];
  const record = (name: string, fn: RpcHandler): [string, RpcHandler] => [
    name,
    (params, ctx) => {
      calls.push(name);
      return fn(params, ctx);
    },
  ];
  const handlers = new Map<string, RpcHandler>([
    record('subtract', (params) => {
      const { minuend, subtrahend } = params ?? {};
      if (typeof minuend !== 'number' || typeof subtrahend !== 'number') {
        throw new RpcError(-32602, 'Invalid params', { issues: [{ path: ['minuend'], message: 'minuend and subtrahend must be numbers' }] });
      }
      return minuend - subtrahend;
    }),
    record('sum', (params) => {
      const values = params?.values;
      return Array.isArray(values) ? values.reduce((a: number, b) => a + Number(b), 0) : 0;
    }),
    record('echo', (params) => params ?? null),
    record('update', () => undefined),
    record('notify_hello', () => undefined),
    record('notify_sum', () => undefined),
    record('get_data', () => ['hello', 5]),
    record('boom', () => {
      throw new Error('kaboom');
    }),
    record('throwString', () => {
      throw 'just a string';
    }),
    record('zeroCode', () => {
      throw new RpcError(0, 'zero is not a code');
    }),
    record('notFound', () => {
      throw { code: 'EMU_NOT_FOUND', message: 'no stream s-9' };
    }),
    record('misaligned', () => {
      throw new EmuError('EMU_MISALIGNED', 'spa 0x1001 is not 4 KB aligned', { path: ['spa'] });
    }),
    record('mystery', () => {
      throw { code: 'EMU_SOMETHING_NEW', message: 'new code' };
    }),
    record('big', () => ({ max: (1n << 64n) - 1n, zero: 0n, list: [1n, 255n], words: new BigUint64Array([16n, 0xabcn]), nested: { deep: [{ v: 0xdeadbeefn }] } })),
    record('nothing', () => undefined),
    record('circular', () => {
      const a: Record<string, unknown> = {};
      a.self = a;
      return a;
    }),
    record('chatty', (_params, ctx: RpcCallContext) => {
      for (let i = 1; i <= 3; i++) ctx.notify('events.notify', { n: i, big: BigInt(i) });
      return 'done';
    }),
    record('slow', async (params) => {
      const tag = String(params?.tag);
      timeline.push(`start:${tag}`);
      await new Promise((resolve) => setTimeout(resolve, Number(params?.ms ?? 0)));
      timeline.push(`end:${tag}`);
      return tag;
    }),
    record('whoami', (_params, ctx) => ({ platformName: ctx.platformName, connectionId: ctx.connectionId })),
    record('closeMe', (_params, ctx) => {
      ctx.closeAfterResponse();
      return 'bye';
    }),
    record('rpc.discover', () => ({ openrpc: '1.3.2' })),
  ]);
  return { handlers, calls, timeline };
}

export interface FakeHooks {
  hooks: ServerHooks;
  /** Names createPlatform was called with, in order. */
  created: string[];
  disposed: string[];
  /** The method tables by platform name, with their call logs. */
  tables: Map<string, FakeTable>;
  /** Connection ids whose onClose callback ran. */
  closedConnections: number[];
  /** Every context `keepCtx` was called with, to use after the call. */
  contexts: RpcCallContext[];
  setHealthy(value: boolean): void;
}

/**
 * Hooks whose platforms hold a counter (`count` increments and returns it) on top
 * of fakeMethods(); `watch` registers an onClose; `flood` sends notifications of
 * `bytes` characters until notify refuses, and returns how many went out.
 */
export function fakeHooks(opts: { failOn?: string } = {}): FakeHooks {
  const created: string[] = [];
  const disposed: string[] = [];
  const tables = new Map<string, FakeTable>();
  const closedConnections: number[] = [];
  const contexts: RpcCallContext[] = [];
  let healthy = true;
  const hooks: ServerHooks = {
    createPlatform(name) {
      if (name === opts.failOn) throw new Error(`cannot build ${name}`);
      created.push(name);
      const table = fakeMethods();
      let counter = 0;
      table.handlers.set('count', () => ++counter);
      table.handlers.set('watch', (_params, ctx) => {
        ctx.onClose(() => closedConnections.push(ctx.connectionId));
        return true;
      });
      table.handlers.set('keepCtx', (_params, ctx) => contexts.push(ctx));
      table.handlers.set('flood', (params, ctx) => {
        const payload = 'x'.repeat(Number(params?.bytes ?? 1024));
        let sent = 0;
        while (sent < 100_000 && ctx.notify('flood', { payload })) sent++;
        return sent;
      });
      tables.set(name, table);
      return { handlers: table.handlers, dispose: () => disposed.push(name) };
    },
    healthy: () => healthy,
    metricsText: async () => '# HELP fake_domain_metric A domain metric\n# TYPE fake_domain_metric gauge\nfake_domain_metric 7\n',
    openrpcDocument: () => ({ openrpc: '1.3.2', info: { title: 'fake', version: '0' }, methods: [] }),
  };
  return { hooks, created, disposed, tables, closedConnections, contexts, setHealthy: (value) => (healthy = value) };
}

/**
 * The HTTP status of an upgrade sent with `path` exactly as given: a WebSocket
 * client normalises '/platforms/..' to '/', node:http sends it as is.
 */
export function rawUpgradeStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const fakeServers: RunningServer[] = [];

/** Starts the transport on 127.0.0.1:0 with a fake method table; stopFakeServers() closes it. */
export async function startFakeServer(opts: ServerOptionsInput = {}, fake: FakeHooks = fakeHooks()): Promise<RunningServer> {
  const server = await startServer({ port: 0, onInternalError: () => {}, ...opts }, fake.hooks);
  fakeServers.push(server);
  return server;
}

/** Closes every client opened here and every server startFakeServer started (afterEach). */
export async function stopFakeServers(): Promise<void> {
  closeAllClients();
  await Promise.all(fakeServers.splice(0).map((s) => s.close()));
}
