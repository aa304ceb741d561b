/**
 * A fake server whose clock.advance reports progress on topic `clock` the way the
 * real one does ({phase: "progress", fromNs, nowNs, targetNs}, as `events.notify`
 * to a subscription), for the CLI's progress and --timeout tests: `steps`
 * notifications `stepMs` apart, then the answer. `slow` answers after `ms` with no
 * progress at all. Started on 127.0.0.1:0; stop() closes it.
 */
import type { RpcCallContext, RpcHandler, ServerHooks } from '../../src/rpc/method-table.js';
import { RpcError } from '../../src/rpc/method-table.js';
import { startServer, type RunningServer } from '../../src/rpc/server.js';

export interface FakeProgressServer {
  url: string;
  /** Methods called, in order. */
  calls: string[];
  stop(): Promise<void>;
}

export async function startFakeProgressServer(opts: { steps: number; stepMs: number; topics?: readonly string[] }): Promise<FakeProgressServer> {
  const calls: string[] = [];
  const known = new Set(opts.topics ?? ['clock']);
  const subscribers = new Map<RpcCallContext, string>();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const handlers = new Map<string, RpcHandler>([
    [
      'events.subscribe',
      (params, ctx) => {
        calls.push('events.subscribe');
        const topics = (params?.topics ?? []) as string[];
        const bad = topics.find((t) => !known.has(t));
        if (bad !== undefined) throw new RpcError(-32602, 'Invalid params', { issues: [{ path: ['topics', 0], message: `unknown topic ${bad}` }] });
        const id = `sub${subscribers.size + 1}`;
        subscribers.set(ctx, id);
        return { subscriptionId: id };
      },
    ],
    [
      'clock.advance',
      async (params, ctx) => {
        calls.push('clock.advance');
        const targetNs = Number(params?.ns ?? 0);
        const id = subscribers.get(ctx);
        for (let i = 1; i <= opts.steps; i++) {
          await sleep(opts.stepMs);
          const nowNs = Math.floor((targetNs * i) / (opts.steps + 1));
          if (id !== undefined) ctx.notify('events.notify', { subscriptionId: id, topic: 'clock', atNs: nowNs, data: { phase: 'progress', fromNs: 0, nowNs, targetNs } });
        }
        await sleep(opts.stepMs);
        return { nowNs: targetNs };
      },
    ],
    [
      'slow',
      async (params) => {
        calls.push('slow');
        await sleep(Number(params?.ms ?? 0));
        return { ok: true };
      },
    ],
  ]);
  const hooks: ServerHooks = {
    createPlatform: () => ({ handlers }),
    healthy: () => true,
    openrpcDocument: () => ({}),
  };
  const server: RunningServer = await startServer({ port: 0, pingMs: 0, onInternalError: () => {} }, hooks);
  return { url: server.url, calls, stop: () => server.close() };
}
