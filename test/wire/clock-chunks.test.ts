/**
 * Socket tests (issue 10): a long clock.advance reports progress on topic `clock`;
 * a virtual-mode firmware stall and an injected delayNs run the clock in chunks that
 * yield, so another connection and /healthz are answered while they run.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { openClient, closeAllClients } from '../helpers/ws.js';

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  closeAllClients();
  await t.stop();
});

type Call = (m: string, p?: unknown) => Promise<any>;

/** A Poisson stream keeps one clock event per request: `rate` x time events to run. */
async function poissonStream(call: Call, ratePerSec: number): Promise<void> {
  await call('dma.startStream', { deviceId: 256, iovaBase: '0x200000', length: '0x10000', ratePerSec, accessBytes: 64, writeRatio: 0, arrival: 'poisson' });
}

async function prepareSmash(call: Call, iova: string) {
  const { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa } = await call('tmpm.preparePsmash', { domainId: 1, iova });
  return { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa };
}

describe('clock chunks', () => {
  it('sends a clock progress notification after each chunk of a long clock.advance', async () => {
    const call = t.client.call.bind(t.client) as unknown as Call;
    await poissonStream(call, 100_000_000);
    const notes: any[] = [];
    await t.client.subscribe(['clock'], (n) => notes.push(n));
    const from = (await call('clock.now')).nowNs;
    const r = await call('clock.advance', { ns: 2_000_000 });
    // ~200,000 arrivals in 50,000-event chunks: 3 or 4 chunks end short of the target.
    expect(notes.length).toBeGreaterThanOrEqual(3);
    let last = from;
    for (const n of notes) {
      expect(n.topic).toBe('clock');
      expect(n.data.phase).toBe('progress');
      expect(n.data.fromNs).toBe(from);
      expect(n.data.targetNs).toBe(from + 2_000_000);
      expect(n.data.nowNs).toBeGreaterThan(last);
      expect(n.data.nowNs).toBeLessThan(r.nowNs);
      expect(n.atNs).toBe(n.data.nowNs);
      last = n.data.nowNs;
    }
    // A short advance fits in one chunk: no notification.
    const before = notes.length;
    await call('clock.advance', { ns: 1000 });
    expect(notes.length).toBe(before);
  });

  it('answers another connection (and /healthz) while a virtual-mode stall runs the clock', async () => {
    const call = t.client.call.bind(t.client) as unknown as Call;
    await call('tmpm.setStallModel', { baseNs: 5_000_000, jitter: { dist: 'none', spreadNs: 0 } });
    await poissonStream(call, 50_000_000);
    const params = await prepareSmash(call, '0x200000');
    const other = await openClient(t.app.url);
    const order: string[] = [];
    const smash = call('tmpm.psmashIo', params).then((r) => {
      order.push('smash');
      return r;
    });
    const now = other.call({ jsonrpc: '2.0', id: 7, method: 'clock.now' }).then((f: any) => {
      order.push('clock.now');
      return f.result.nowNs as number;
    });
    const url = t.app.url.replace(/^ws/, 'http').replace(/\/?$/, '/healthz');
    const health = fetch(url).then((res) => {
      order.push('healthz');
      return res.status;
    });
    const [r, midNs, status] = await Promise.all([smash, now, health]);
    expect(r.status).toBe(0xf0);
    expect(status).toBe(200);
    // clock.now ran inside the stall, between chunks: it answered before the smash.
    expect(order.indexOf('clock.now')).toBeLessThan(order.indexOf('smash'));
    expect(midNs).toBeGreaterThanOrEqual(r.startNs);
    expect(midNs).toBeLessThan(r.endNs);
  });

  it('answers another connection while an injected delayNs runs the clock', async () => {
    const call = t.client.call.bind(t.client) as unknown as Call;
    await poissonStream(call, 50_000_000);
    await call('fault.add', { method: 'mem.read64', delayNs: 5_000_000 });
    const start = (await call('clock.now')).nowNs;
    const other = await openClient(t.app.url);
    const order: string[] = [];
    const slow = call('mem.read64', { spa: '0x0', count: 1 }).then(() => order.push('delayed'));
    const now = other.call({ jsonrpc: '2.0', id: 9, method: 'clock.now' }).then((f: any) => {
      order.push('clock.now');
      return f.result.nowNs as number;
    });
    const [, midNs] = await Promise.all([slow, now]);
    expect(order).toEqual(['clock.now', 'delayed']);
    expect(midNs).toBeGreaterThan(start);
    expect(midNs).toBeLessThan(start + 5_000_000);
  });
});
