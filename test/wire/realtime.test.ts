/**
 * Socket tests of realtime mode: virtual time follows the wall clock times speed,
 * firmware calls take their stall in real time, clock.advance is refused (-32002).
 * The server is handed a wall clock the test moves (test/helpers/manual-wall-clock.ts),
 * so the figures are exact and a busy machine cannot change them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { ManualWallClock } from '../helpers/manual-wall-clock.js';

let t: AppUnderTest | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

/** Moves the wall clock 1 ms at a time until `call` settles; returns its result and the wall ms it took. */
async function whileMoving<T>(wall: ManualWallClock, call: Promise<T>, limitMs = 1000): Promise<{ result: T; wallMs: number }> {
  let settled = false;
  const done = call.finally(() => (settled = true));
  const startMs = wall.nowMs();
  while (!settled) {
    if (wall.nowMs() - startMs > limitMs) throw new Error(`the call did not finish within ${limitMs} ms of (manual) wall time`);
    await wall.advance(1);
  }
  return { result: await done, wallMs: wall.nowMs() - startMs };
}

describe('clock.setMode realtime', () => {
  it('follows the wall clock times speed, refuses clock.advance, and keeps nowNs when switching back', async () => {
    const wall = new ManualWallClock();
    t = await startTestApp({ wall });
    const c = t.client;
    const { nowNs: t0 } = await c.call('clock.setMode', { mode: 'realtime', speed: 2 });
    await wall.advance(100);
    // 100 ms of wall time at speed 2: 200 ms of virtual time.
    expect((await c.call('clock.now', {})).nowNs - t0).toBe(200_000_000);
    await wall.advance(0.5);
    expect((await c.call('clock.now', {})).nowNs - t0).toBe(201_000_000);
    await expect(c.call('clock.advance', { ns: 1000 })).rejects.toMatchObject({ code: -32002 });
    const { nowNs: t2 } = await c.call('clock.setMode', { mode: 'virtual' });
    expect(t2 - t0).toBe(201_000_000);
    await wall.advance(30);
    expect((await c.call('clock.now', {})).nowNs).toBe(t2);
  });

  it('runs streams and a smash stall in real time, as the same calls do in virtual time', async () => {
    /** The same session on a fresh server: in realtime on a moved wall clock, or in virtual time. */
    async function session(realtime: boolean, startNs = 0) {
      const wall = new ManualWallClock();
      t = await startTestApp({ wall });
      const c = t.client;
      await c.call('tmpm.setStallModel', { baseNs: 30_000_000, jitter: { dist: 'none' } });
      const { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa } = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
      await c.call('dma.startStream', { deviceId: 256, iovaBase: '0x200000', length: '0x200000', ratePerSec: 100_000, accessBytes: 64, writeRatio: 0.5 });
      let wallMs = 0;
      let r;
      if (realtime) {
        await c.call('clock.setMode', { mode: 'realtime' });
        await wall.advance(20);
        ({ result: r, wallMs } = await whileMoving(wall, c.call('tmpm.psmashIo', { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa })));
        // The stall is done: up to the next whole ms, then 20 ms more of streaming.
        await wall.advance(20);
        await c.call('clock.setMode', { mode: 'virtual' });
      } else {
        await c.call('clock.advance', { ns: startNs });
        r = await c.call('tmpm.psmashIo', { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa });
      }
      const now = (await c.call('clock.now', {})).nowNs;
      const out = { r, wallMs, now };
      await t.stop();
      t = undefined;
      return out;
    }
    const real = await session(true);
    // The same smash at the same virtual time in virtual mode (a read of the moved wall
    // clock inside a timer moves it a little, so realtime starts the smash near 20 ms).
    expect(real.r.startNs).toBeGreaterThanOrEqual(20_000_000);
    const virtual = await session(false, real.r.startNs);
    expect(real.r.status).toBe(0xf0);
    expect(real.r.stallNs).toBe(30_000_000);
    // The call took its 30 ms of wall time (moved 1 ms at a time: done within the 31st).
    expect(real.wallMs).toBeGreaterThanOrEqual(30);
    expect(real.wallMs).toBeLessThanOrEqual(31);
    // 100,000 requests/s for 30 ms: about 3000 held, exactly those of virtual time.
    expect(real.r.dmaHeld).toBeGreaterThan(2500);
    expect(real.r).toEqual(virtual.r);
  });
});
