import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock/virtual-clock.js';
import { SeededRng } from '../../src/util/rng.js';
import { ERROR_CODES } from '../../src/util/emu-error.js';
import type { DmaAccess, DmaPort } from '../../src/iommu/dma-port.js';
import { DmaEngine, type DmaOutcomeEvent } from '../../src/dma/dma-engine.js';
import type { DmaStatsView } from '../../src/dma/dma-stats.js';

/**
 * A platform stand-in: IOTLB-hit translation (50 ns), faults by IOVA page, device
 * domains, and a "table swap" time after which pages map elsewhere, as a smash
 * would leave them. It logs every access with the clock time it saw.
 */
class FakePort implements DmaPort {
  translationNs = 50;
  faults = new Map<number, 'io_page_fault' | 'rmp_fault'>();
  domains = new Map<number, number>([
    [0x100, 1],
    [0x200, 2],
  ]);
  /** From this time on, spaPfn = iovaPfn + 0x9000 (new tables); before, + 0x1000. */
  swapAtNs = Infinity;
  log: { deviceId: number; iovaPfn: number; write: boolean; atNs: number }[] = [];
  constructor(private readonly clock: VirtualClock) {}
  access(deviceId: number, iovaPfn: number, write: boolean, out: DmaAccess): void {
    this.log.push({ deviceId, iovaPfn, write, atNs: this.clock.nowNs });
    out.translationNs = this.translationNs;
    out.spaPfn = iovaPfn + (this.clock.nowNs >= this.swapAtNs ? 0x9000 : 0x1000);
    const f = this.faults.get(iovaPfn);
    out.outcome = f ?? 'ok';
    out.reason = f === undefined ? '' : `fake ${f}`;
  }
  domainOf(deviceId: number): number {
    return this.domains.get(deviceId) ?? -1;
  }
}

function setup(seed = 7) {
  const clock = new VirtualClock();
  const rng = new SeededRng(seed);
  const port = new FakePort(clock);
  const dma = new DmaEngine({ clock, rng, port });
  const events: DmaOutcomeEvent[] = [];
  dma.onOutcome = (r) => events.push(r);
  return { clock, rng, port, dma, events };
}

function expectIdentity(s: DmaStatsView): void {
  expect(s.issued).toBe(s.completed + s.ioPageFaults + s.rmpFaults + s.timeouts + s.aborted + s.inFlight);
}

const DEV_A = 0x100; // domain 1
const DEV_B = 0x200; // domain 2
const stream1M = { deviceId: DEV_A, iovaBase: 0n, length: 1 << 20, ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0 };

describe('DmaEngine.issue', () => {
  it('completes an ok request after translation + service time and keeps it in flight until then', async () => {
    const { clock, dma } = setup();
    clock.advanceTo(1000);
    const r = await dma.issue({ deviceId: DEV_A, iova: 0x5040n, bytes: 64, write: true });
    expect(r).toEqual({ outcome: 'ok', latencyNs: 550, spa: (0x5 + 0x1000) * 4096 + 0x40, reason: '' });
    expect(dma.stats()).toMatchObject({ issued: 1, completed: 0, inFlight: 1 });
    clock.advanceTo(1549);
    expect(dma.stats().inFlight).toBe(1);
    clock.advanceTo(1550);
    const s = dma.stats();
    expect(s).toMatchObject({ issued: 1, completed: 1, inFlight: 0 });
    expect(s.latencyNs).toEqual({ p50: 550, p90: 550, p99: 550, p999: 550, max: 550 });
  });

  it('counts a fault at once with the translation time as latency and reports it to onOutcome', async () => {
    const { dma, port, events } = setup();
    port.faults.set(3, 'io_page_fault');
    port.faults.set(4, 'rmp_fault');
    expect(await dma.issue({ deviceId: DEV_A, iova: 0x3000n, bytes: 8, write: false })).toEqual({ outcome: 'io_page_fault', latencyNs: 50, spa: null, reason: 'fake io_page_fault' });
    expect((await dma.issue({ deviceId: DEV_A, iova: 0x4008n, bytes: 8, write: true })).outcome).toBe('rmp_fault');
    await dma.issue({ deviceId: DEV_A, iova: 0x5000n, bytes: 8, write: true });
    expect(dma.stats()).toMatchObject({ issued: 3, ioPageFaults: 1, rmpFaults: 1, inFlight: 1, completed: 0 });
    expect(events).toEqual([
      { deviceId: DEV_A, streamId: null, iova: 0x3000, write: false, outcome: 'io_page_fault', latencyNs: 50, atNs: 0 },
      { deviceId: DEV_A, streamId: null, iova: 0x4008, write: true, outcome: 'rmp_fault', latencyNs: 50, atNs: 0 },
    ]);
    expect(dma.stats().latencyNs.max).toBe(0);
  });

  it('rejects a request crossing a 4 KB boundary, an empty one and a bad deviceId, changing nothing', async () => {
    const { dma, port } = setup();
    const bad = [
      { deviceId: DEV_A, iova: 0xff8n, bytes: 16, write: false },
      { deviceId: DEV_A, iova: 0x1000n, bytes: 0, write: false },
      { deviceId: DEV_A, iova: 0x1000n, bytes: 4097, write: false },
      { deviceId: 0x10000, iova: 0x1000n, bytes: 8, write: false },
      { deviceId: -1, iova: 0x1000n, bytes: 8, write: false },
      { deviceId: DEV_A, iova: -1n, bytes: 8, write: false },
    ];
    for (const p of bad) expect(() => dma.issue(p)).toThrow(expect.objectContaining({ code: ERROR_CODES.INVALID_ARGUMENT }));
    expect(() => dma.issue(bad[0]!)).toThrow(/cross a 4 KB boundary/);
    expect(port.log).toHaveLength(0);
    expect(dma.stats().issued).toBe(0);
    // The last byte of a page is fine: translated and served like any other access.
    expect(await dma.issue({ deviceId: DEV_A, iova: 0xfffn, bytes: 1, write: false })).toEqual({ outcome: 'ok', latencyNs: 550, spa: 0x1000 * 4096 + 0xfff, reason: '' });
    expect(port.log).toEqual([{ deviceId: DEV_A, iovaPfn: 0, write: false, atNs: 0 }]);
    expect(dma.stats()).toMatchObject({ issued: 1, inFlight: 1 });
  });
});

describe('DmaEngine streams', () => {
  it('issues exactly 1000 requests at a fixed 1,000,000/s over 1 ms, the first one gap after the start', () => {
    const { clock, dma, port } = setup();
    const id = dma.startStream(stream1M);
    expect(id).toBe('s1');
    clock.advanceTo(999);
    expect(dma.stats().issued).toBe(0);
    clock.advanceTo(1_000_000);
    const s = dma.stats({ streamId: id });
    expect(s).toMatchObject({ issued: 1000, completed: 999, inFlight: 1 });
    expect(port.log.map((c) => c.atNs)).toEqual(Array.from({ length: 1000 }, (_, i) => (i + 1) * 1000));
    expect(dma.stats({ deviceId: DEV_A }).issued).toBe(1000);
    expect(dma.stats().issued).toBe(1000);
  });

  it('keeps issued = completed + faults + timeouts + aborted + inFlight at every step', () => {
    const { clock, dma, port } = setup(3);
    for (let p = 0; p < 256; p += 7) port.faults.set(p, p % 2 ? 'io_page_fault' : 'rmp_fault');
    const a = dma.startStream({ ...stream1M, writeRatio: 0.5, arrival: 'poisson' });
    const b = dma.startStream({ deviceId: DEV_B, iovaBase: 0x10000n, length: 0x8000, ratePerSec: 333_333, accessBytes: 4096, writeRatio: 1, pattern: 'sequential' });
    let stallAt = 50_000;
    for (let t = 0; t <= 600_000; t += 997) {
      clock.advanceTo(t);
      if (t >= stallAt) {
        const policy = stallAt % 3 === 0 ? 'abort' : 'hold';
        dma.beginStall({ scope: stallAt % 2 ? 'iommu' : 'domain', domainId: 1, startNs: t, endNs: t + 40_000, policy, completionTimeoutNs: 25_000 + (stallAt % 5) * 5000 });
        stallAt += 90_000;
      }
      void dma.issue({ deviceId: DEV_B, iova: BigInt(t % 0x100000), bytes: 8, write: false });
      for (const f of [{}, { deviceId: DEV_A }, { deviceId: DEV_B }, { streamId: a }, { streamId: b }]) expectIdentity(dma.stats(f));
    }
    const s = dma.stats();
    expect(s.ioPageFaults + s.rmpFaults).toBeGreaterThan(0);
    expect(s.aborted + s.timeouts).toBeGreaterThan(0);
    expect(s.held).toBeGreaterThan(0);
  });

  it('walks a sequential stream in access-size steps and wraps at the end of its range', () => {
    const { clock, dma, port } = setup();
    dma.startStream({ deviceId: DEV_A, iovaBase: 0x3000n, length: 0x3000, ratePerSec: 1e6, accessBytes: 4096, writeRatio: 0, pattern: 'sequential' });
    clock.advanceTo(7000);
    expect(port.log.map((c) => c.iovaPfn)).toEqual([3, 4, 5, 3, 4, 5, 3]);
  });

  it('keeps random addresses aligned and inside the range', async () => {
    const { clock, dma } = setup();
    const seen: number[] = [];
    dma.onOutcome = (r) => seen.push(Number(r.iova));
    const fake = dma.port as FakePort;
    for (let p = 0; p < 64; p++) fake.faults.set(p, 'io_page_fault');
    dma.startStream({ deviceId: DEV_A, iovaBase: 0x10100n, length: 0x2000, ratePerSec: 1e6, accessBytes: 256, writeRatio: 0.5 });
    clock.advanceTo(2_000_000);
    expect(seen.length).toBe(2000);
    for (const iova of seen) {
      expect(iova % 256).toBe(0);
      expect(iova).toBeGreaterThanOrEqual(0x10100);
      expect(iova).toBeLessThan(0x12100);
    }
    expect(new Set(seen).size).toBe(32);
  });

  it('draws nothing from the PRNG for a pure-read fixed-rate sequential stream', () => {
    const { clock, dma, rng } = setup();
    const before = rng.getState();
    dma.startStream({ ...stream1M, pattern: 'sequential' });
    clock.advanceTo(100_000);
    expect(rng.getState()).toEqual(before);
  });

  it('spreads fixed gaps of a non-divisor rate exactly (3,000,000/s: 333 or 334 ns)', () => {
    const { clock, dma, port } = setup();
    dma.startStream({ ...stream1M, ratePerSec: 3_000_000 });
    clock.advanceTo(1_000_000);
    expect(port.log).toHaveLength(3000);
    expect(port.log.at(-1)?.atNs).toBe(1_000_000);
  });

  it('draws Poisson gaps from the seeded PRNG with the requested mean rate', () => {
    const { clock, dma } = setup();
    dma.startStream({ ...stream1M, arrival: 'poisson' });
    clock.advanceTo(10_000_000);
    const n = dma.stats().issued;
    expect(n).toBeGreaterThan(9700);
    expect(n).toBeLessThan(10300);
  });

  it('stops arrivals on stopStream, lets in-flight requests finish and keeps the stream stats', () => {
    const { clock, dma } = setup();
    const id = dma.startStream(stream1M);
    clock.advanceTo(10_000);
    dma.stopStream(id);
    expect(dma.stats({ streamId: id })).toMatchObject({ issued: 10, inFlight: 1 });
    clock.advanceTo(100_000);
    expect(dma.stats({ streamId: id })).toMatchObject({ issued: 10, completed: 10, inFlight: 0 });
    expect(() => dma.stopStream(id)).not.toThrow();
    expect(() => dma.stopStream('s99')).toThrow(expect.objectContaining({ code: ERROR_CODES.NOT_FOUND }));
    expect(() => dma.stats({ streamId: 's99' })).toThrow(expect.objectContaining({ code: ERROR_CODES.NOT_FOUND }));
    expect(dma.startStream(stream1M)).toBe('s2');
  });

  it.each([
    ['ratePerSec', { ratePerSec: 0 }],
    ['ratePerSec', { ratePerSec: 2e9 }],
    ['accessBytes', { accessBytes: 48 }],
    ['accessBytes', { accessBytes: 8192 }],
    ['length', { length: 32 }],
    ['iovaBase', { iovaBase: 0x20n }],
    ['writeRatio', { writeRatio: 1.5 }],
    ['deviceId', { deviceId: 70000 }],
    ['pattern', { pattern: 'zigzag' as 'random' }],
  ])('rejects a bad %s in startStream', (field, patch) => {
    const { dma, clock } = setup();
    expect(() => dma.startStream({ ...stream1M, ...patch })).toThrow(expect.objectContaining({ code: ERROR_CODES.INVALID_ARGUMENT, message: expect.stringContaining(field) }));
    expect(clock.queue.size).toBe(0);
  });

  it('gives identical stats for the same seed and call sequence', () => {
    const run = () => {
      const { clock, dma, port } = setup(42);
      port.faults.set(9, 'rmp_fault');
      dma.startStream({ ...stream1M, writeRatio: 0.3, arrival: 'poisson', length: 0x40000 });
      dma.startStream({ deviceId: DEV_B, iovaBase: 0n, length: 0x10000, ratePerSec: 250_000, accessBytes: 4096, writeRatio: 0.5 });
      clock.advanceTo(200_000);
      dma.beginStall({ scope: 'iommu', domainId: 0, startNs: 200_000, endNs: 260_000, policy: 'hold', completionTimeoutNs: 50_000 });
      clock.advanceTo(1_000_000);
      return [dma.stats(), dma.stats({ deviceId: DEV_A }), dma.stats({ streamId: 's2' }), port.log.length];
    };
    const a = run();
    expect(run()).toEqual(a);
  });
});

describe('DmaEngine stalls', () => {
  it('holds requests of the stalled domain and translates them at endNs against the new tables', async () => {
    const { clock, dma, port } = setup();
    const id = dma.startStream(stream1M);
    clock.advanceTo(100_000);
    // The firmware swaps tables at startNs; requests in the window must only see the new ones.
    port.swapAtNs = 100_000;
    const stall = dma.beginStall({ scope: 'domain', domainId: 1, startNs: 100_000, endNs: 150_000, policy: 'hold', completionTimeoutNs: 1_000_000 });
    const first = dma.issue({ deviceId: DEV_A, iova: 0x7000n, bytes: 8, write: true });
    let settled = false;
    void first.then(() => {
      settled = true;
    });
    const accessesBefore = port.log.length;
    clock.advanceTo(149_999);
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(port.log.length).toBe(accessesBefore);
    expect(dma.stats({ streamId: id })).toMatchObject({ held: 49, inFlight: 49 });
    expect(stall.heldCount).toBe(50);
    expect(stall.endNs).toBe(150_000);
    clock.advanceTo(150_000);
    const r = await first;
    expect(r).toEqual({ outcome: 'ok', latencyNs: 50_000 + 550, spa: (7 + 0x9000) * 4096, reason: '' });
    // All 50 held requests, in arrival order, then the arrival due at 150,000.
    const released = port.log.slice(accessesBefore);
    expect(released.slice(0, 50).every((c) => c.atNs === 150_000)).toBe(true);
    expect(released[0]?.iovaPfn).toBe(7);
    clock.advanceTo(300_000);
    const s = dma.stats();
    expect(s.held).toBe(50);
    expect(s.latencyNs.max).toBeGreaterThanOrEqual(50_000);
    expect(s.latencyNs.p50).toBe(550);
    expect(s.stalls).toEqual([{ startNs: 100_000, endNs: 150_000 }]);
    expectIdentity(s);
  });

  it('aborts requests in scope at once with latency 0 under policy abort', async () => {
    const { clock, dma, events } = setup();
    dma.beginStall({ scope: 'domain', domainId: 1, startNs: 0, endNs: 10_000, policy: 'abort', completionTimeoutNs: 0 });
    const r = await dma.issue({ deviceId: DEV_A, iova: 0x1000n, bytes: 8, write: false });
    expect(r).toMatchObject({ outcome: 'aborted', latencyNs: 0, spa: null });
    expect(events).toMatchObject([{ outcome: 'aborted', latencyNs: 0, atNs: 0, deviceId: DEV_A }]);
    expect((await dma.issue({ deviceId: DEV_B, iova: 0x1000n, bytes: 8, write: false })).outcome).toBe('ok');
    clock.advanceTo(10_000);
    expect((await dma.issue({ deviceId: DEV_A, iova: 0x1000n, bytes: 8, write: false })).outcome).toBe('ok');
    expect(dma.stats()).toMatchObject({ issued: 3, aborted: 1, held: 0 });
  });

  it('fails a held request as timeout at arrival + completionTimeoutNs when the stall outlasts it', async () => {
    const { clock, dma, events } = setup();
    clock.advanceTo(5000);
    const stall = dma.beginStall({ scope: 'iommu', domainId: 0, startNs: 5000, endNs: 2_005_000, policy: 'hold', completionTimeoutNs: 1_000_000 });
    const p = dma.issue({ deviceId: DEV_B, iova: 0x1000n, bytes: 8, write: false });
    clock.advanceTo(1_004_999);
    expect(dma.stats()).toMatchObject({ timeouts: 0, inFlight: 1, held: 1 });
    clock.advanceTo(1_005_000);
    expect(await p).toMatchObject({ outcome: 'timeout', latencyNs: 1_000_000, spa: null });
    expect(events).toMatchObject([{ outcome: 'timeout', atNs: 1_005_000, latencyNs: 1_000_000 }]);
    expect(dma.stats()).toMatchObject({ issued: 1, timeouts: 1, inFlight: 0, held: 1 });
    expect(stall.heldCount).toBe(1);
    // A request whose wait fits the timeout is held and released.
    clock.advanceTo(1_500_000);
    expect((await Promise.all([dma.issue({ deviceId: DEV_B, iova: 0x1000n, bytes: 8, write: false }), clock.advanceTo(2_005_000)]))[0].outcome).toBe('ok');
  });

  it('stalls only the domain for scope domain and every device for scope iommu', async () => {
    const { clock, dma } = setup();
    dma.beginStall({ scope: 'domain', domainId: 2, startNs: 0, endNs: 1000, policy: 'hold', completionTimeoutNs: 1e6 });
    const a = await dma.issue({ deviceId: DEV_A, iova: 0n, bytes: 8, write: false });
    expect(a.latencyNs).toBe(550);
    const b = dma.issue({ deviceId: DEV_B, iova: 0n, bytes: 8, write: false });
    clock.advanceTo(2000);
    expect((await b).latencyNs).toBe(1000 + 550);
    dma.beginStall({ scope: 'iommu', domainId: 0, startNs: 2000, endNs: 3000, policy: 'hold', completionTimeoutNs: 1e6 });
    const both = [dma.issue({ deviceId: DEV_A, iova: 0n, bytes: 8, write: false }), dma.issue({ deviceId: 0x300, iova: 0n, bytes: 8, write: false })];
    clock.advanceTo(3000);
    expect((await Promise.all(both)).map((r) => r.latencyNs)).toEqual([1550, 1550]);
    expect(dma.stats({ deviceId: DEV_A }).stalls).toEqual([{ startNs: 2000, endNs: 3000 }]);
    expect(dma.stats({ deviceId: DEV_B }).stalls).toEqual([
      { startNs: 0, endNs: 1000 },
      { startNs: 2000, endNs: 3000 },
    ]);
    expect(dma.stats({ deviceId: 0x400 }).stalls).toEqual([{ startNs: 2000, endNs: 3000 }]);
    expect(dma.stats().stalls).toHaveLength(2);
  });

  it('moves a request released by one stall to an overlapping stall still covering it', async () => {
    const { clock, dma } = setup();
    const a = dma.beginStall({ scope: 'domain', domainId: 1, startNs: 0, endNs: 10_000, policy: 'hold', completionTimeoutNs: 1e6 });
    clock.advanceTo(1000);
    const p = dma.issue({ deviceId: DEV_A, iova: 0n, bytes: 8, write: false });
    clock.advanceTo(5000);
    const b = dma.beginStall({ scope: 'iommu', domainId: 0, startNs: 5000, endNs: 20_000, policy: 'hold', completionTimeoutNs: 1e6 });
    clock.advanceTo(20_000);
    expect(await p).toMatchObject({ outcome: 'ok', latencyNs: 19_000 + 550 });
    expect([a.heldCount, b.heldCount]).toEqual([1, 1]);
    expect(dma.stats()).toMatchObject({ held: 1, inFlight: 1 });
  });

  it('rejects a stall that does not start now or ends before it starts', () => {
    const { clock, dma } = setup();
    clock.advanceTo(100);
    const ok = { scope: 'domain' as const, domainId: 1, startNs: 100, endNs: 200, policy: 'hold' as const, completionTimeoutNs: 0 };
    expect(() => dma.beginStall({ ...ok, startNs: 50 })).toThrow(/startNs/);
    expect(() => dma.beginStall({ ...ok, endNs: 99 })).toThrow(/endNs/);
    expect(() => dma.beginStall({ ...ok, policy: 'drop' as 'hold' })).toThrow(/policy/);
    expect(clock.queue.size).toBe(0);
  });
});

describe('DmaEngine.resetStats', () => {
  it('zeroes counters and keeps in-flight and held requests counted so the identity holds', async () => {
    const { clock, dma } = setup();
    dma.startStream(stream1M);
    clock.advanceTo(10_000);
    dma.beginStall({ scope: 'iommu', domainId: 0, startNs: 10_000, endNs: 20_000, policy: 'hold', completionTimeoutNs: 1e6 });
    clock.advanceTo(15_000);
    dma.resetStats();
    const s = dma.stats();
    expect(s).toMatchObject({ issued: 5, inFlight: 5, held: 5, completed: 0 });
    expect(s.latencyNs.max).toBe(0);
    expect(s.stalls).toEqual([{ startNs: 10_000, endNs: 20_000 }]);
    clock.advanceTo(40_000);
    const t = dma.stats();
    expectIdentity(t);
    expect(t.held).toBe(5 + 4);
    expectIdentity(dma.stats({ streamId: 's1' }));
    dma.resetStats();
    expect(dma.stats().stalls).toEqual([]);
  });
});
