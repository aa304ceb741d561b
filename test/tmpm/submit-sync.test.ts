/**
 * TmpmEngine.submit's plain-value answer (virtual mode, the stall run in one chunk
 * of clock work) against the promise path (the same calls where every chunk ends
 * early and yields): the same results, the same emu.dumpState document, the same
 * events; and a refused call frees its command page either way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { VirtualClock, VIRTUAL_CHUNK_MS } from '../../src/clock/virtual-clock.js';
import { EVENT_TOPICS } from '../../src/observe/event-bus.js';
import { psmashArgs } from '../helpers/smash.js';
import { toWire } from '../../src/rpc/to-wire.js';
import { RBCTL_INIT, RBCTL_PAUSE, TMPM_REG } from '../../src/tmpm/registers.js';

const TEE_DEV = 0x0100;

afterEach(() => {
  VirtualClock.chunkWallMs = VIRTUAL_CHUNK_MS;
});

/** Smash and unsmash pairs under a stream; `chunked`: every chunk of clock work ends at its first look at the wall clock and yields. */
async function run(chunked: boolean) {
  const p: Platform = createPlatform();
  const events: unknown[] = [];
  // Every topic but `clock` (progress reports follow the chunks, which differ by design).
  p.bus.subscribe(
    EVENT_TOPICS.filter((t) => t !== 'clock'),
    (topic, atNs, data) => events.push(toWire({ topic, atNs, data })),
  );
  let yields = 0;
  if (chunked) {
    VirtualClock.chunkWallMs = 0;
    p.m.clock.yieldFn = () => {
      yields++;
      return Promise.resolve();
    };
  }
  p.tmpmSetStallModel({ jitter: { dist: 'none', spreadNs: 0 } });
  // A poisson stream on another region keeps the clock busy (thousands of events per stall).
  p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: 0x40_0000n, length: 2 ** 16, ratePerSec: 5e6, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'poisson' });
  const a = psmashArgs(p, TEE_DEV, 0x20_0000n);
  const results: unknown[] = [];
  let plain = 0;
  for (let i = 0; i < 3; i++) {
    const s = p.tmpmPsmashIo(a);
    if (!(s instanceof Promise)) plain++;
    results.push(toWire(await s));
    const u = p.tmpmPunsmashIo({ srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa });
    if (!(u instanceof Promise)) plain++;
    results.push(toWire(await u));
  }
  const state = toWire(p.dumpState());
  const pages = p.m.pool.allocatedPages();
  p.dispose();
  VirtualClock.chunkWallMs = VIRTUAL_CHUNK_MS;
  return { results, events, state, plain, yields, pages };
}

describe('TmpmEngine.submit: the plain-value answer and the promise path', () => {
  it('give the same results, state document and events', async () => {
    const fast = await run(false);
    const slow = await run(true);
    // The fast run answered every call as a plain value; the chunked one yielded.
    expect(fast.plain).toBe(6);
    expect(slow.plain).toBe(0);
    expect(slow.yields).toBeGreaterThan(0);
    expect((fast.results[0] as { statusName: string }).statusName).toBe('SUCCESS');
    expect(slow.results).toEqual(fast.results);
    expect(slow.events).toEqual(fast.events);
    expect(slow.state).toEqual(fast.state);
    expect(slow.pages).toBe(fast.pages);
  });

  it('a refused call (TMPM paused) throws and frees its command page, as a failed one does', async () => {
    const p = createPlatform();
    try {
      const a = psmashArgs(p, TEE_DEV, 0x20_0000n);
      const before = p.m.pool.allocatedPages();
      p.tmpmWriteReg(TMPM_REG.RBCTL, RBCTL_INIT | RBCTL_PAUSE);
      await p.clockAdvance(1_000_000);
      expect(() => p.tmpmPsmashIo(a)).toThrow(/paused/);
      expect(p.m.pool.allocatedPages()).toBe(before);
      p.tmpmWriteReg(TMPM_REG.RBCTL, RBCTL_INIT);
      await p.clockAdvance(1_000_000);
      // A failing command (a wrong gctx page) answers with its status and frees the page too.
      const bad = await p.tmpmPsmashIo({ ...a, gctxSpa: 0x1000n });
      expect(bad.statusName).toBe('INVALID_GCTX_PG_PADDR');
      expect(p.m.pool.allocatedPages()).toBe(before);
    } finally {
      p.dispose();
    }
  });
});
