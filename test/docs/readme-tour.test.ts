/**
 * The README's five-minute tour, call by call against the real server, asserting
 * the values the README shows (seed 1, virtual time: they are exact).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

it('README: a five-minute tour', async () => {
  const c = t.client;
  expect(await c.call('iommu.walk', { deviceId: 256, iova: '0x200000' })).toMatchObject({
    ok: true,
    spa: '0x100200000',
    steps: [
      { level: 3, entrySpa: '0xfc0200000', value: '0x6000000fc0201401' },
      { level: 2, entrySpa: '0xfc0201008', value: '0x6000000100200001' },
    ],
  });
  expect((await c.call('rmp.read', { spa: '0x100200000' })).raw).toBe('0x4008000000200003');
  expect(await c.call('dma.startStream', { deviceId: 256, iovaBase: '0x0', length: '0x4000000', ratePerSec: 1000000, accessBytes: 64, writeRatio: 0.5 })).toEqual({ streamId: 's1' });
  expect(await c.call('clock.advance', { ns: 5000000 })).toEqual({ nowNs: 5000000 });
  const prep = await c.call('iommu.prepareSmash', { domainId: 1, iova: '0x200000' });
  expect(prep).toEqual({ domainId: 1, iova: '0x200000', iopdeSpa: '0xfc0201008', tableSpa: '0xfc0224000', iopde: '0x6000000100200001' });
  const smash = { domainId: 1, iova: '0x200000', iopdeSpa: '0xfc0201008', tableSpa: '0xfc0224000' };
  expect(await c.call('fw.smashIopde', smash)).toEqual({ status: 0, statusName: 'SUCCESS', stallNs: 2401027, rmpSmashed: true, dmaHeld: 2401, startNs: 5000000, endNs: 7401027 });
  await c.call('clock.advance', { ns: 1000000 });
  expect(await c.call('dma.stats', { deviceId: 256 })).toEqual({
    issued: 8401,
    completed: 8400,
    held: 2401,
    ioPageFaults: 0,
    rmpFaults: 0,
    timeouts: 0,
    aborted: 0,
    inFlight: 1,
    iotlbMisses: 6587,
    latencyNs: { p50: 700, p90: 1561599, p99: 2318335, p999: 2394111, max: 2400727 },
    stalls: [{ startNs: 5000000, endNs: 7401027 }],
  });
  expect((await c.call('rmp.read', { spa: '0x100201000' })).raw).toBe('0x4008000000201001');
  expect(await c.call('emu.audit', {})).toEqual({ violations: [], clean: true });
  expect(await c.call('fw.smashIopde', smash)).toMatchObject({ status: 9, statusName: 'INVALID_ADDRESS', detail: { tableSpa: '0xfc0224000', level: 1 } });
});
