/**
 * Load (issue 6 item 3): 64 concurrent clients, each 2,000 mixed calls (clock,
 * memory, RMP, walks, DMA, stats, subscriptions...), once all on the shared default
 * platform and once each on its own /platforms/NAME. No call fails; after they
 * disconnect no bus listener, subscription or connection is left, and the heap
 * after a forced GC is back near where it was (a second round adds nothing).
 *
 * The GC is reached with v8.setFlagsFromString('--expose-gc') when the run was not
 * started with --expose-gc.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { Rng } from '../helpers/fuzz.js';

const CLIENTS = 64;
const CALLS = 2_000;
/** Calls each client keeps in flight. */
const IN_FLIGHT = 16;
/** A bound on a hung round, not a speed check: 128,000 calls take ~15 s idle and ~55 s on a busy 2-core machine. */
const LOAD_TIMEOUT_MS = 300_000;

let app: RunningApp;
const internalErrors: string[] = [];
const open = new Set<SmashEmuClient>();

function forceGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = forceGc();

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

beforeAll(async () => {
  app = await startApp({
    scenario: DEFAULT_SCENARIO,
    server: { host: '127.0.0.1', port: 0, pingMs: 0, maxPlatforms: CLIENTS + 8, onInternalError: (method, err) => internalErrors.push(`${method}: ${String(err)}`) },
  });
});
afterAll(async () => {
  await Promise.all([...open].map((c) => c.close().catch(() => undefined)));
  await app.close();
});

const hex = (n: number) => '0x' + n.toString(16);

/** One client's 2,000 calls, IN_FLIGHT at a time; some subscriptions are left open on purpose. */
async function drive(c: SmashEmuClient, seed: number, calls: number): Promise<number> {
  const rng = new Rng(seed);
  const subs: string[] = [];
  let done = 0;
  let notifications = 0;
  const one = async (): Promise<void> => {
    switch (rng.int(12)) {
      // (case 6 faults only every fourth time it is drawn: each fault notifies every subscriber of the platform)
      case 0:
        expect((await c.call('clock.now')).mode).toBe('virtual');
        break;
      case 1:
        expect((await c.call('mem.read64', { spa: hex(0x8000_0000 + rng.int(1024) * 8), count: 8 })).values).toHaveLength(8);
        break;
      case 2:
        expect((await c.call('rmp.read', { spa: hex(0x1_0000_0000 + rng.int(512) * 0x20_0000) })).pageSize).toBe('2M');
        break;
      case 3:
        expect((await c.call('iommu.walk', { deviceId: 0x100, iova: hex(rng.int(512) * 0x20_0000 + 0x1000) })).ok).toBe(true);
        break;
      case 4:
        expect((await c.call('dma.issue', { deviceId: 0x200, iova: hex(rng.int(16384) * 4096), bytes: 64, write: rng.chance(0.5) })).outcome).toBe('ok');
        break;
      case 5:
        expect((await c.call('dma.issue', { deviceId: 0x100, iova: hex(rng.int(1 << 18) * 4096), bytes: 8, write: false })).outcome).toBe('ok');
        break;
      case 6:
        if (rng.int(4) !== 0) {
          expect((await c.call('clock.now')).mode).toBe('virtual');
          break;
        }
        // An untrusted access outside its 64 MiB: an IO page fault (an event for subscribers).
        expect((await c.call('dma.issue', { deviceId: 0x200, iova: hex(0x800_0000 + rng.int(64) * 4096), bytes: 8, write: false })).outcome).toBe('io_page_fault');
        break;
      case 7: {
        const s = await c.call('dma.stats', {});
        expect(s.issued).toBe(s.completed + s.ioPageFaults + s.rmpFaults + s.timeouts + s.aborted + s.inFlight);
        break;
      }
      case 8: {
        const sub = await c.subscribe(['dma'], () => notifications++);
        subs.push(sub.subscriptionId);
        if (subs.length > 1) {
          const id = subs.shift() as string;
          await c.call('events.unsubscribe', { subscriptionId: id });
        }
        break;
      }
      case 9:
        expect((await c.call('fw.platformStatus')).status).toBe(0);
        break;
      case 10:
        expect((await c.call('emu.info')).name).toBe('smash-emu');
        break;
      default:
        expect(Array.isArray((await c.call('iommu.events', { max: 2 })).events)).toBe(true);
    }
    done++;
  };
  while (done < calls) {
    const n = Math.min(IN_FLIGHT, calls - done);
    await Promise.all(Array.from({ length: n }, one));
  }
  return notifications;
}

/** Open connections the server counts, from its own /metrics. */
async function serverConnections(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith('smash_emu_connections{')) n += Number(line.split(' ').at(-1));
  return n;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function round(paths: string[], calls: number): Promise<{ seconds: number; notifications: number }> {
  const started = performance.now();
  const clients = await Promise.all(paths.map((p) => SmashEmuClient.connect(app.url + p, { timeoutMs: 60_000 })));
  for (const c of clients) open.add(c);
  const counts = await Promise.all(clients.map((c, i) => drive(c, 1000 + i, calls)));
  await Promise.all(clients.map((c) => c.close()));
  for (const c of clients) open.delete(c);
  await until('server connections back to 0', async () => (await serverConnections()) === 0);
  await until('bus listeners back to 0', () => [...app.platforms().values()].every((p) => p.bus.listenerCount() === 0));
  return { seconds: (performance.now() - started) / 1000, notifications: counts.reduce((a, b) => a + b, 0) };
}

describe(`load: ${CLIENTS} clients x ${CALLS} mixed calls`, () => {
  it(
    'on the shared default platform: no errors, no leaked listeners, connections or heap',
    async () => {
      const warm = await round(
        Array.from({ length: CLIENTS }, () => '/'),
        100,
      );
      const baseline = await heapAfterGc();
      const r = await round(
        Array.from({ length: CLIENTS }, () => '/'),
        CALLS,
      );
      const after = await heapAfterGc();
      console.log(
        `load (shared): ${CLIENTS * CALLS} calls in ${r.seconds.toFixed(1)} s, ${r.notifications + warm.notifications} notifications; heap ${(baseline / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB`,
      );
      expect(r.notifications).toBeGreaterThan(0);
      expect(after - baseline, 'heap growth after 128,000 calls and 64 disconnects').toBeLessThan(16 * 2 ** 20);
      const s = app.platforms().get('')!.dmaStats({});
      expect(s.issued).toBe(s.completed + s.ioPageFaults + s.rmpFaults + s.timeouts + s.aborted + s.inFlight);
      expect(internalErrors).toEqual([]);
    },
    LOAD_TIMEOUT_MS,
  );

  it(
    'each client on its own /platforms/NAME: no errors, no leaks, isolated platforms',
    async () => {
      const paths = Array.from({ length: CLIENTS }, (_, i) => `/platforms/load-${i}`);
      const r = await round(paths, CALLS);
      const platforms = app.platforms();
      expect(platforms.size).toBe(CLIENTS + 1);
      for (let i = 0; i < CLIENTS; i++) {
        const s = platforms.get(`load-${i}`)!.dmaStats({});
        // Each platform saw only its own client's DMA: about a quarter of 2,000 calls.
        expect(s.issued).toBeGreaterThan(300);
        expect(s.issued).toBeLessThan(700);
      }
      const baseline = await heapAfterGc();
      await round(paths, 200);
      const after = await heapAfterGc();
      console.log(`load (per platform): ${CLIENTS * CALLS} calls in ${r.seconds.toFixed(1)} s; heap after a second round ${(baseline / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB`);
      expect(after - baseline, 'heap growth of a second round on the same platforms').toBeLessThan(16 * 2 ** 20);
      expect(internalErrors).toEqual([]);
    },
    LOAD_TIMEOUT_MS,
  );
});
