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
      { level: 3, entrySpa: '0xfc0201000', value: '0x6000000fc0202401' },
      { level: 2, entrySpa: '0xfc0202008', value: '0x6000000100200001' },
    ],
  });
  expect((await c.call('rmp.read', { spa: '0x100200000' })).raw).toBe('0x4008000000200003');
  expect(await c.call('dma.startStream', { deviceId: 256, iovaBase: '0x0', length: '0x4000000', ratePerSec: 1000000, accessBytes: 64, writeRatio: 0.5 })).toEqual({ streamId: 's1' });
  expect(await c.call('clock.advance', { ns: 5000000 })).toEqual({ nowNs: 5000000 });
  const prep = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  expect(prep).toEqual({ srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0226000', srcHpmdSpa: '0xfc0202008', gctxSpa: '0xfc0200000', entry: '0x6000000100200001', asid: 1 });
  const smash = { srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0226000', srcHpmdSpa: '0xfc0202008', gctxSpa: '0xfc0200000' };
  expect(await c.call('tmpm.psmashIo', smash)).toEqual({
    status: 240,
    statusName: 'SUCCESS',
    subStatus: 0,
    pteError: 0,
    pteSubError: 0,
    index: 0,
    stallNs: 2401027,
    dmaHeld: 2401,
    startNs: 5000000,
    endNs: 7401027,
    gctxWord: '0xfc02000f0',
    rmpSmashed: true,
  });
  expect((await c.call('emu.info', {})).tmpm.ringSpa).toBe('0xfc0400000');
  expect(await c.call('mem.read64', { spa: '0xfc0400000', count: 2 })).toEqual({ values: ['0xfc0227000', '0xf000000005'] });
  expect(await c.call('mem.read64', { spa: '0xfc0227018', count: 1 })).toEqual({ values: ['0xfc02000f0'] });
  expect(await c.call('clock.advance', { ns: 1000000 })).toEqual({ nowNs: 8401027 });
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
  expect(await c.call('tmpm.psmashIo', smash)).toEqual({
    status: 10,
    statusName: 'INVALID_HPTE_PADDR',
    subStatus: 0,
    pteError: 0,
    pteSubError: 0,
    detail: { reason: 'smash_hpte_paddr is a live page-table page (reachable from a valid DTE)', smashHptePaddr: '0xfc0226000', level: 1 },
    index: 1,
    stallNs: 0,
    dmaHeld: 0,
    startNs: 8401027,
    endNs: 8401027,
    gctxWord: '0xfc020000a',
    rmpSmashed: false,
  });
});
