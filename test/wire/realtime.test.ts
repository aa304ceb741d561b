/**
 * Socket tests of realtime mode: virtual time follows the wall clock times speed,
 * firmware calls take their stall in real time, clock.advance is refused (-32002).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('clock.setMode realtime', () => {
  it('follows the wall clock times speed, refuses clock.advance, and keeps nowNs when switching back', async () => {
    const c = t.client;
    const { nowNs: t0 } = await c.call('clock.setMode', { mode: 'realtime', speed: 2 });
    await sleep(100);
    const { nowNs: t1 } = await c.call('clock.now', {});
    // 100 ms of wall time at speed 2: about 200 ms of virtual time (loose: shared CI cores).
    expect(t1 - t0).toBeGreaterThan(150e6);
    expect(t1 - t0).toBeLessThan(600e6);
    await expect(c.call('clock.advance', { ns: 1000 })).rejects.toMatchObject({ code: -32002 });
    const { nowNs: t2 } = await c.call('clock.setMode', { mode: 'virtual' });
    await sleep(30);
    expect((await c.call('clock.now', {})).nowNs).toBe(t2);
  });

  it('runs streams and a smash stall in real time', async () => {
    const c = t.client;
    await c.call('tmpm.setStallModel', { baseNs: 30_000_000, jitter: { dist: 'none' } });
    const { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa } = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
    await c.call('dma.startStream', { deviceId: 256, iovaBase: '0x200000', length: '0x200000', ratePerSec: 100_000, accessBytes: 64, writeRatio: 0.5 });
    await c.call('clock.setMode', { mode: 'realtime' });
    await sleep(20);
    const started = performance.now();
    const r = await c.call('tmpm.psmashIo', { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa });
    const wallMs = performance.now() - started;
    expect(r.status).toBe(0xf0);
    expect(r.stallNs).toBe(30_000_000);
    expect(wallMs).toBeGreaterThanOrEqual(25);
    // 100,000 requests/s for 30 ms: about 3000 held.
    expect(r.dmaHeld).toBeGreaterThan(2500);
    expect(r.dmaHeld).toBeLessThan(3100);
    await sleep(20);
    await c.call('clock.setMode', { mode: 'virtual' });
    const s = await c.call('dma.stats', {});
    expect(s.rmpFaults).toBe(0);
    expect(s.issued).toBeGreaterThan(r.dmaHeld!);
    expect(s.latencyNs.max).toBeGreaterThanOrEqual(29_000_000);
  });
});
