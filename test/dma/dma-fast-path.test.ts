/**
 * The differential test of the DMA fast paths (issue 10): every scenario below runs
 * twice on fresh platforms, once on the reference path (one clock event per arrival,
 * DmaEngine batch and closedForm off) and once on the fast paths (batches between
 * clock events, closed-form intervals), and must give identical emu.dumpState
 * documents, identical dma.stats, dma.histogram and GET /metrics figures (the port's
 * IOTLB hit and miss counters among them: every counter the wire shows) after every
 * step, and the same event stream. Negative controls run `compare()` itself on a
 * broken fast path and expect it to fail: a one-nanosecond difference, a hit not counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { DEFAULT_SCENARIO, type Scenario } from '../../src/platform/scenario.js';
import { DmaEngine } from '../../src/dma/dma-engine.js';
import { DmaStream } from '../../src/dma/dma-stream.js';
import { VirtualClock, VIRTUAL_CHUNK_MS } from '../../src/clock/virtual-clock.js';
import { DmaAccessPort } from '../../src/iommu/dma-access-port.js';
import { EVENT_TOPICS } from '../../src/observe/event-bus.js';
import { psmashArgs } from '../helpers/smash.js';
import { toWire } from '../../src/rpc/to-wire.js';
import { platformMetrics } from '../../src/observe/expose/platform-metrics.js';

const TEE_DEV = 0x0100;
const UNTRUSTED_DEV = 0x0200;
const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** The one place these tests smash: PSMASH_IO through the TMPM (status 0xF0 is SUCCESS). */
async function smash(p: Platform, _domainId: number, iova: bigint) {
  const a = psmashArgs(p, TEE_DEV, iova);
  return { ...(await p.tmpmPsmashIo(a)), args: a };
}

interface Run {
  log: unknown[];
  events: unknown[];
  state: unknown;
  fast: { batched: number; closedForm: number; heldRuns: number; releasedInClosedForm: number };
}

type Script = (p: Platform, step: (label: string, extra?: unknown) => Promise<void>) => Promise<void>;

/** `fast`: every fast path (true), none (false), or batches with the closed form off ('batch', as bench/dma.ts hits). */
async function run(script: Script, fast: boolean | 'batch', scenario: Scenario = DEFAULT_SCENARIO): Promise<Run> {
  const saved = { ...DmaEngine.defaults };
  DmaEngine.defaults.batch = fast !== false;
  DmaEngine.defaults.closedForm = fast === true;
  try {
    const p = createPlatform(scenario);
    const events: unknown[] = [];
    // Topic clock reports chunk progress: how much wall-time work a chunk did, not the model.
    p.bus.subscribe(
      EVENT_TOPICS.filter((t) => t !== 'clock'),
      (topic, atNs, data) => events.push(JSON.stringify(toWire({ topic, atNs, data }))),
    );
    const log: unknown[] = [];
    const counts = { batched: 0, closedForm: 0, heldRuns: 0, releasedInClosedForm: 0 };
    // GET /metrics for this platform alone: every figure the wire shows beside dma.stats
    // (IOTLB hits and misses as the port counts them, the latency buckets, TMPM counts).
    const metrics = platformMetrics(() => new Map([['', p]]));
    const step = async (label: string, extra?: unknown): Promise<void> => {
      if (extra !== undefined) log.push(extra);
      const snapshot: unknown[] = [label, p.dmaStats({}), ...p.m.dma.streamIds().map((streamId) => p.dmaStats({ streamId })), p.m.clock.nowNs, p.m.clock.queue.nextSeq, p.m.rng.getState()];
      snapshot.push({ iotlbHits: p.m.port.iotlbHits, iotlbMisses: p.m.port.iotlbMisses }, toWire(p.dmaHistogram({})), await metrics.metrics());
      log.push(...snapshot);
    };
    await script(p, step);
    await step('end');
    counts.batched += p.m.dma.fastCounts.batched;
    counts.closedForm += p.m.dma.fastCounts.closedForm;
    counts.heldRuns += p.m.dma.fastCounts.heldRuns;
    counts.releasedInClosedForm += p.m.dma.fastCounts.releasedInClosedForm;
    const state = JSON.parse(JSON.stringify(toWire(p.dumpState())));
    p.dispose();
    return { log, events, state, fast: counts };
  } finally {
    Object.assign(DmaEngine.defaults, saved);
  }
}

async function compare(script: Script, scenario?: Scenario, fastMode: true | 'batch' = true): Promise<{ exact: Run; fast: Run }> {
  const exact = await run(script, false, scenario);
  const fast = await run(script, fastMode, scenario);
  expect(exact.fast).toEqual({ batched: 0, closedForm: 0, heldRuns: 0, releasedInClosedForm: 0 });
  expect(fast.log).toEqual(exact.log);
  expect(fast.events).toEqual(exact.events);
  expect(fast.state).toEqual(exact.state);
  return { exact, fast };
}

const stream = (over: Partial<Parameters<Platform['dmaStartStream']>[0]> = {}) => ({
  deviceId: TEE_DEV,
  iovaBase: 0x20_0000n,
  length: 2 * MiB,
  ratePerSec: 1e6,
  accessBytes: 64,
  writeRatio: 0.5,
  pattern: 'random' as const,
  arrival: 'fixed' as const,
  ...over,
});

const scripts: Record<string, Script> = {
  'faults at mapping edges (IO page faults past both mappings, a read-only page)': async (p, step) => {
    // The untrusted device's 64 MiB and the TEE device's 1 GiB end inside these ranges.
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: BigInt(64 * MiB - 32 * 1024), length: 64 * 1024, ratePerSec: 2_000_000, accessBytes: 4096, pattern: 'sequential' }));
    p.dmaStartStream(stream({ iovaBase: BigInt(GiB - 16 * 1024), length: 32 * 1024, ratePerSec: 1_500_000, accessBytes: 512 }));
    p.iommuMap({ domainId: 2, iova: BigInt(80 * MiB), spa: 0x9000_0000, length: 4096, sizeLg2: 12, read: true, write: false });
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: BigInt(80 * MiB), length: 4096, ratePerSec: 1e6, accessBytes: 256, writeRatio: 0.5 }));
    await p.clockAdvance(3_000_000);
    await step('edges');
    await p.clockAdvance(1_234_567);
    await step('edges again');
  },
  'smashes under streams (hold, abort, iommu scope, timeouts) with jitter': async (p, step) => {
    p.dmaStartStream(stream({ ratePerSec: 5_000_000 }));
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: 0n, length: MiB, ratePerSec: 1e6, accessBytes: 4096, writeRatio: 1 }));
    await p.clockAdvance(2_000_000);
    await step('before');
    const first = await smash(p, 1, 0x20_0000n);
    expect(first.status).toBe(0xf0);
    await step('smash hold');
    await p.clockAdvance(500_000);
    p.tmpmSetStallModel({ policy: 'abort', scope: 'iommu', jitter: { dist: 'normal', spreadNs: 300_000 } });
    expect((await smash(p, 1, 0x40_0000n)).status).toBe(0xf0);
    await step('smash abort');
    p.tmpmSetStallModel({ policy: 'hold', scope: 'iommu', completionTimeoutNs: 1_000_000, jitter: { dist: 'lognormal', spreadNs: 200_000 } });
    expect((await smash(p, 1, 0x60_0000n)).status).toBe(0xf0);
    await step('smash timeouts');
    await p.clockAdvance(3_000_000);
    expect((await p.tmpmPunsmashIo({ srcPgSpa: first.args.srcPgSpa, srcHpmdSpa: first.args.srcHpmdSpa, gctxSpa: first.args.gctxSpa })).status).toBe(0xf0);
    await step('after');
  },
  'resetStats mid-stream and in a stall, one-shot requests, stopStream': async (p, step) => {
    const { streamId } = p.dmaStartStream(stream({ ratePerSec: 3_000_000, pattern: 'sequential', accessBytes: 4096, length: 4 * MiB, writeRatio: 0 }));
    await p.clockAdvance(1_000_000);
    p.dmaResetStats();
    await step('reset');
    const one = await p.dmaIssue({ deviceId: TEE_DEV, iova: 0x1234n, bytes: 8, write: true });
    expect(one.outcome).toBe('ok');
    await p.clockAdvance(777_777);
    const pending = smash(p, 1, 0x20_0000n);
    await pending;
    p.dmaResetStats();
    await step('reset after smash');
    p.dmaStopStream(streamId);
    await p.clockAdvance(1_000_000);
    await step('stopped');
  },
  'untrusted writes over 4 KB leaves, an assigned page, several rates': async (p, step) => {
    // One page of the untrusted buffer becomes guest-assigned: untrusted accesses to it fault.
    expect(p.rmpUpdate(0x8000_3000, { assigned: true, pageSize: '4K', asid: 1, gpa: 0x4000_0000 }).rc).toBe(0);
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: 0n, length: 64 * 1024, ratePerSec: 2_500_000, accessBytes: 128, writeRatio: 1 }));
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: 0x10_0000n, length: 256 * 1024, ratePerSec: 1_234_567.5, accessBytes: 1024, writeRatio: 0.25 }));
    p.dmaStartStream(stream({ ratePerSec: 7_777_777, writeRatio: 0 }));
    await p.clockAdvance(2_500_000);
    await step('three streams');
    await p.clockAdvance(100);
    await step('100 ns');
  },
  'one stream alone over read-only pages, reads and writes (a read hit says nothing about a write)': async (p, step) => {
    // Alone, so batches run long: reads learnt as hits must not make the writes hits too.
    p.iommuMap({ domainId: 2, iova: BigInt(80 * MiB), spa: 0x9000_0000, length: 4 * 4096, sizeLg2: 12, read: true, write: false });
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: BigInt(80 * MiB), length: 4 * 4096, ratePerSec: 2e6, accessBytes: 64, writeRatio: 0.5 }));
    await p.clockAdvance(2_000_000);
    await step('read-only');
    expect(p.dmaStats({}).ioPageFaults).toBeGreaterThan(1000);
  },
  'a Poisson stream beside fixed ones': async (p, step) => {
    p.dmaStartStream(stream({ arrival: 'poisson', ratePerSec: 2_000_000 }));
    p.dmaStartStream(stream({ ratePerSec: 4_000_000, length: 64 * 1024 }));
    await p.clockAdvance(2_000_000);
    await step('poisson');
    await smash(p, 1, 0x20_0000n);
    await p.clockAdvance(500_000);
  },
  'a long closed-form run at 1e9/s, a state dump and load in the middle, then a smash': async (p, step) => {
    p.dmaStartStream(stream({ ratePerSec: 1e9, length: 64 * 1024, accessBytes: 64 }));
    await p.clockAdvance(200_000);
    await step('warm');
    await p.clockAdvance(1_000_000);
    await step('long');
    const doc = p.dumpState().state;
    p.loadState(JSON.parse(JSON.stringify(toWire(doc))));
    p.m.dma.batch = DmaEngine.defaults.batch;
    await p.clockAdvance(300_003);
    await step('after load');
    // A 200 µs stall at 1e9/s: 200,000 held requests (the reference path's time grows with it).
    p.tmpmSetStallModel({ baseNs: 200_000, jitter: { dist: 'none', spreadNs: 0 } });
    await smash(p, 1, 0x20_0000n);
    await step('smash at 1e9/s');
    await p.clockAdvance(300_000);
  },
  'overlapping stalls: run members released by one stall move to the iommu-wide one still running': async (p, step) => {
    p.dmaStartStream(stream({ ratePerSec: 50_000_000, length: 64 * 1024, accessBytes: 64 }));
    await p.clockAdvance(50_000);
    const now = p.m.clock.nowNs;
    const domainStall = p.m.dma.beginStall({ scope: 'domain', domainId: 1, startNs: now, endNs: now + 200_000, policy: 'hold', completionTimeoutNs: 50_000_000 });
    await p.clockAdvance(100_000);
    const iommuStall = p.m.dma.beginStall({ scope: 'iommu', domainId: 1, startNs: now + 100_000, endNs: now + 400_000, policy: 'hold', completionTimeoutNs: 50_000_000 });
    await p.clockAdvance(150_000);
    await step('first released into the second');
    await p.clockAdvance(300_000);
    await step('second released', { domainHeld: domainStall.heldCount, iommuHeld: iommuStall.heldCount });
    // The iommu stall held its own arrivals and the domain stall's 5,000 moved to it.
    expect(iommuStall.heldCount).toBeGreaterThan(domainStall.heldCount);
  },
  'a stall released in closed form: a fast stream over 512 pages, a slow one and a one-shot request held beside it, another device running': async (p, step) => {
    p.dmaStartStream(stream({ ratePerSec: 200_000_000 }));
    p.dmaStartStream(stream({ ratePerSec: 100_000, writeRatio: 0 }));
    // Another device's arrivals are clock events too: sparse, so the held batches between them are long.
    p.dmaStartStream(stream({ deviceId: UNTRUSTED_DEV, iovaBase: 0n, length: 64 * 1024, ratePerSec: 10_000, accessBytes: 256 }));
    await p.clockAdvance(50_000);
    await step('warm');
    p.tmpmSetStallModel({ baseNs: 300_000, jitter: { dist: 'none', spreadNs: 0 } });
    const smashed = smash(p, 1, 0x20_0000n);
    const oneShot = p.dmaIssue({ deviceId: TEE_DEV, iova: 0x20_1040n, bytes: 64, write: false });
    const r = await smashed;
    expect(r.dmaHeld).toBeGreaterThan(59_000);
    await step('released', await oneShot);
    await p.clockAdvance(100_000);
    await step('after');
  },
  'a stall held as runs: a state document in the middle of it, loaded and run on': async (p, step) => {
    p.dmaStartStream(stream({ ratePerSec: 100_000_000, length: 64 * 1024, pattern: 'sequential', accessBytes: 256 }));
    p.dmaStartStream(stream({ ratePerSec: 7_000_000, writeRatio: 0.25 }));
    await p.clockAdvance(100_000);
    const now = p.m.clock.nowNs;
    p.m.dma.beginStall({ scope: 'domain', domainId: 1, startNs: now, endNs: now + 400_000, policy: 'hold', completionTimeoutNs: 50_000_000 });
    await p.clockAdvance(150_000);
    // The document lists every held request one by one, as the reference engine keeps them.
    const doc = JSON.parse(JSON.stringify(toWire(p.dumpState().state)));
    await step('mid-stall', doc);
    p.loadState(doc);
    await p.clockAdvance(500_000);
    await step('after the release');
  },
};

describe('a release in wall-time chunks (VirtualClock.chunkWallMs)', () => {
  afterEach(() => {
    VirtualClock.chunkWallMs = VIRTUAL_CHUNK_MS;
  });

  /** A 400 µs stall over a 1e8/s stream through tmpm.psmashIo, the clock yielding through `yieldFn` when given. */
  async function stalled(chunkWallMs: number): Promise<{ yields: number; state: unknown; stats: unknown; held: number }> {
    VirtualClock.chunkWallMs = chunkWallMs;
    const p = createPlatform();
    let yields = 0;
    p.m.clock.yieldFn = async () => {
      yields++;
    };
    p.dmaStartStream(stream({ ratePerSec: 100_000_000, length: 64 * 1024, accessBytes: 64 }));
    await p.clockAdvance(10_000);
    p.tmpmSetStallModel({ baseNs: 400_000, jitter: { dist: 'none', spreadNs: 0 } });
    const r = await smash(p, 1, 0x20_0000n);
    expect(r.status).toBe(0xf0);
    await p.clockAdvance(100_000);
    const out = { yields, state: JSON.parse(JSON.stringify(toWire(p.dumpState()))), stats: p.dmaStats({}), held: r.dmaHeld };
    p.dispose();
    return out;
  }

  it('gives the same document and stats when every chunk ends at its first look at the wall clock, and yields between them', async () => {
    const whole = await stalled(1_000_000);
    const chunked = await stalled(0);
    expect(whole.held).toBeGreaterThan(39_000);
    expect(chunked.state).toEqual(whole.state);
    expect(chunked.stats).toEqual(whole.stats);
    // Released in closed form, one unit of work per latency bucket (about 6,400 of
    // them from 550 ns to 400 µs at 10 ns apart), 256 between looks at the clock.
    expect(whole.yields).toBe(0);
    expect(chunked.yields).toBeGreaterThan(20);
  });

  it('the same, member by member (closed form off): 40,000 released requests, 256 between looks at the clock', async () => {
    DmaEngine.defaults.closedForm = false;
    try {
      const whole = await stalled(1_000_000);
      const chunked = await stalled(0);
      expect(chunked.state).toEqual(whole.state);
      expect(chunked.stats).toEqual(whole.stats);
      // (The whole run still ends a chunk on its event budget: 40,000 held objects.)
      expect(whole.yields).toBeLessThan(5);
      expect(chunked.yields).toBeGreaterThan(100);
    } finally {
      DmaEngine.defaults.closedForm = true;
    }
  });
});

describe('DMA fast paths against the one-event-per-request reference', () => {
  afterEach(() => {
    DmaEngine.defaults.batch = true;
    DmaEngine.defaults.closedForm = true;
  });

  for (const [name, script] of Object.entries(scripts)) {
    it(`identical documents, stats and events: ${name}`, async () => {
      const { fast } = await compare(script);
      expect(fast.fast.batched).toBeGreaterThan(0);
      // The fast run's counts are of its last machine (after the load, in the 1e9/s script).
      if (name.startsWith('a long closed-form run')) {
        expect(fast.fast.closedForm).toBeGreaterThan(250_000);
        expect(fast.fast.heldRuns).toBeGreaterThan(190_000);
        expect(fast.fast.releasedInClosedForm).toBeGreaterThan(190_000);
      }
      if (name.startsWith('a stall released in closed form')) expect(fast.fast.releasedInClosedForm).toBeGreaterThan(50_000);
    });
  }

  it('a small IOTLB: misses in dma.stats, evictions, identical on both paths', async () => {
    const small: Scenario = { ...DEFAULT_SCENARIO, iotlbEntries: 64 };
    const { exact } = await compare(async (p, step) => {
      p.dmaStartStream(stream({ length: 4 * MiB, accessBytes: 4096, ratePerSec: 2_000_000 }));
      await p.clockAdvance(1_000_000);
      await step('small iotlb');
    }, small);
    const stats = exact.log[exact.log.lastIndexOf('end') + 1] as { issued: number; iotlbMisses: number };
    expect(stats.issued).toBe(2000);
    // 1024 pages through 64 entries: most requests miss.
    expect(stats.iotlbMisses).toBeGreaterThan(1500);
  });

  // The batched path alone (closed form off): known IOTLB hits learnt through
  // DmaPort.peekHit and counted in bulk, faults and stalls on the exact path.
  for (const name of [
    'faults at mapping edges (IO page faults past both mappings, a read-only page)',
    'one stream alone over read-only pages, reads and writes (a read hit says nothing about a write)',
    'smashes under streams (hold, abort, iommu scope, timeouts) with jitter',
    'untrusted writes over 4 KB leaves, an assigned page, several rates',
    'resetStats mid-stream and in a stall, one-shot requests, stopStream',
  ]) {
    it(`batches without the closed form, identical: ${name}`, async () => {
      const { fast } = await compare(scripts[name] as Script, undefined, 'batch');
      expect(fast.fast.batched).toBeGreaterThan(0);
      expect(fast.fast.closedForm).toBe(0);
    });
  }

  /** A fast path broken by `patch` (undone after): `compare()` itself must fail on `script`. */
  async function compareFails(patch: () => () => void, script: Script, fastMode: true | 'batch', check?: (fast: Run) => void): Promise<void> {
    const undo = patch();
    try {
      await expect(compare(script, undefined, fastMode)).rejects.toThrow();
      if (check !== undefined) check(await run(script, fastMode));
    } finally {
      undo();
    }
  }

  const untrusted = scripts['untrusted writes over 4 KB leaves, an assigned page, several rates'] as Script;

  it("the controls' script is identical when nothing is broken", async () => {
    await compare(untrusted, undefined, 'batch');
  });

  it('negative control: compare() fails when peekHit is one nanosecond off on the batched path', async () => {
    await compareFails(
      () => {
        const original = DmaAccessPort.prototype.peekHit;
        DmaAccessPort.prototype.peekHit = function (deviceId: number, iovaPfn: number, write: boolean) {
          const ns = original.call(this, deviceId, iovaPfn, write);
          return ns < 0 ? ns : ns + 1;
        };
        return () => (DmaAccessPort.prototype.peekHit = original);
      },
      untrusted,
      'batch',
    );
  });

  it("negative control: compare() fails when the batched path counts one IOTLB hit fewer (only the port's hit counter differs)", async () => {
    await compareFails(
      () => {
        const original = DmaAccessPort.prototype.countHits;
        DmaAccessPort.prototype.countHits = function (n: number) {
          original.call(this, n - 1);
        };
        return () => (DmaAccessPort.prototype.countHits = original);
      },
      untrusted,
      'batch',
    );
  });

  it('negative control: compare() fails on a one-nanosecond error in the closed form', async () => {
    const script: Script = async (p, step) => {
      p.dmaStartStream(stream({ ratePerSec: 1e9, length: 64 * 1024 }));
      await p.clockAdvance(300_000);
      await step('1e9/s');
      await p.clockAdvance(300_000);
      await step('again');
    };
    await compare(script);
    await compareFails(
      () => {
        const original = DmaStream.prototype.skipArrivals;
        DmaStream.prototype.skipArrivals = function (t0: number, n: number) {
          return original.call(this, t0, n) + 1;
        };
        return () => (DmaStream.prototype.skipArrivals = original);
      },
      script,
      true,
      (fast) => expect(fast.fast.closedForm).toBeGreaterThan(0),
    );
  });
});

describe('a state document taken between two chunks of a release', () => {
  afterEach(() => {
    VirtualClock.chunkWallMs = VIRTUAL_CHUNK_MS;
  });

  it('loads and runs on to the same DMA state and stats as the release that was not interrupted', async () => {
    VirtualClock.chunkWallMs = 0;
    const p = createPlatform();
    let yields = 0;
    let mid: unknown;
    p.m.clock.yieldFn = async () => {
      yields++;
      // Inside the release: the document holds the rest of the merge (run members not yet released).
      if (yields === 20) mid = JSON.parse(JSON.stringify(toWire(p.dumpState().state)));
    };
    p.dmaStartStream(stream({ ratePerSec: 100_000_000, length: 64 * 1024, accessBytes: 64 }));
    await p.clockAdvance(10_000);
    p.tmpmSetStallModel({ baseNs: 400_000, jitter: { dist: 'none', spreadNs: 0 } });
    const r = await smash(p, 1, 0x20_0000n);
    expect(r.status).toBe(0xf0);
    expect(yields).toBeGreaterThan(20);
    const endNs = r.endNs + 100_000;
    await p.clockAdvance(endNs - p.m.clock.nowNs);
    const want = { stats: p.dmaStats({}), dma: (JSON.parse(JSON.stringify(toWire(p.dumpState().state))) as { dma: unknown }).dma };

    const q = createPlatform();
    q.loadState(mid);
    // Mid-release: the stall's end has come, its held requests are partly released.
    expect(q.m.clock.nowNs).toBe(r.endNs);
    expect(q.dmaStats({}).inFlight).toBeGreaterThan(1000);
    await q.clockAdvance(endNs - q.m.clock.nowNs);
    expect(q.dmaStats({})).toEqual(want.stats);
    expect((JSON.parse(JSON.stringify(toWire(q.dumpState().state))) as { dma: unknown }).dma).toEqual(want.dma);
    p.dispose();
    q.dispose();
  });
});
