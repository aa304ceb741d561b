import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { FW_STATUS } from '../../src/firmware/status.js';
import { encodeTablePointer } from '../../src/iommu/pte.js';
import { encodeInvalidatePages } from '../../src/iommu/command.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { findIopde, observable, prepareSmashTable, smashParams } from '../helpers/smash.js';

const TEE_DEV = 0x0100;
const UNTRUSTED_DEV = 0x0200;
const REGION_IOVA = 0x20_0000n; // second 2 MB region of the guest
const REGION_SPA = 0x1_0020_0000; // its backing SPA (guest GPA 0 at SPA 4 GiB)
const MB2 = 2 * 1024 * 1024;

function streamOverRegion(p: Platform, ratePerSec = 1_000_000): string {
  return p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: REGION_IOVA, length: MB2, ratePerSec, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' }).streamId;
}

describe('fw.smashIopde', () => {
  it('splits the IOPDE and the RMP entry: the IOPDE becomes PR | NextLevel 1 | tableSpa | IR | IW', async () => {
    const p = createPlatform();
    const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
    const r = await p.fwSmashIopde(params);
    expect(r.status).toBe(FW_STATUS.SUCCESS);
    expect(r.statusName).toBe('SUCCESS');
    expect(r.rmpSmashed).toBe(true);
    expect(p.m.memory.word(params.iopdeSpa)).toBe(encodeTablePointer(params.tableSpa, 1));
    expect(p.m.memory.word(params.iopdeSpa)).toBe(0x6000000000000201n | BigInt(params.tableSpa));
    const e = p.rmpRead(REGION_SPA + 0x1000);
    expect(e.pageSize).toBe('4K');
    expect(e.gpa).toBe(REGION_IOVA + 0x1000n);
    expect(e.validated).toBe(true);
    expect(r.endNs! - r.startNs!).toBe(r.stallNs);
    expect(r.stallNs).toBeGreaterThanOrEqual(1_500_000);
    expect(r.stallNs).toBeLessThanOrEqual(2_500_000);
    expect(p.clockNow().nowNs).toBe(r.endNs);
    expect(p.audit().violations).toEqual([]);
    // DMA now walks to a 4 KB leaf over a 4 KB RMP entry: allowed.
    const d = await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA + 0x3000n, bytes: 64, write: true });
    expect(d.outcome).toBe('ok');
    expect(d.spa).toBe(BigInt(REGION_SPA + 0x3000));
  });

  it('drops cached translations of the 2 MB range in that domain', async () => {
    const p = createPlatform();
    await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA, bytes: 8, write: false });
    await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA + BigInt(MB2), bytes: 8, write: false });
    expect(p.iommuIotlb(1).entries.length).toBe(2);
    await p.fwSmashIopde(smashParams(p, TEE_DEV, 1, REGION_IOVA));
    const left = p.iommuIotlb(1).entries.map((e) => e.iova);
    expect(left).toEqual([REGION_IOVA + BigInt(MB2)]);
  });

  it('leaves a hypervisor-owned region alone in the RMP (rmpSmashed false)', async () => {
    const p = createPlatform({
      ...DEFAULT_SCENARIO,
      devices: [{ deviceId: 0x300, domainId: 3, mode: 3, mappings: [{ iova: 0n, spa: 0x4000_0000, length: 4 * MB2, sizeLg2: 21, read: true, write: true, fc: false }] }],
    });
    const r = await p.fwSmashIopde(smashParams(p, 0x300, 3, 0x20_0000n));
    expect(r.status).toBe(0);
    expect(r.rmpSmashed).toBe(false);
    expect(p.rmpRead(0x4020_0000).assigned).toBe(false);
  });

  describe('rejections change nothing', () => {
    async function expectRejected(p: Platform, params: { domainId: number; iova: bigint; iopdeSpa: number; tableSpa: number }, status: number, detail?: Record<string, unknown>) {
      const regionSpa = REGION_SPA;
      const slotSpa = findIopde(p, TEE_DEV, REGION_IOVA).iopdeSpa;
      const before = observable(p, slotSpa, regionSpa);
      const r = await p.fwSmashIopde(params);
      expect(r.status).toBe(status);
      expect(r.detail).toBeDefined();
      if (detail) expect(r.detail).toMatchObject(detail);
      expect(observable(p, slotSpa, regionSpa)).toEqual(before);
      return r;
    }

    it('1: INVALID_PLATFORM_STATE when SNP/TIO are not initialised', async () => {
      const p = createPlatform();
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      await p.fwShutdown();
      await expectRejected(p, params, FW_STATUS.INVALID_PLATFORM_STATE);
    });

    it('2: INVALID_ADDRESS for a misaligned iopdeSpa, a misaligned or outside tableSpa, or a live table page', async () => {
      const p = createPlatform();
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      await expectRejected(p, { ...params, iopdeSpa: params.iopdeSpa + 4 }, FW_STATUS.INVALID_ADDRESS);
      await expectRejected(p, { ...params, tableSpa: params.tableSpa + 8 }, FW_STATUS.INVALID_ADDRESS);
      await expectRejected(p, { ...params, tableSpa: 2 ** 40 }, FW_STATUS.INVALID_ADDRESS);
      await expectRejected(p, { ...params, iopdeSpa: 2 ** 40 }, FW_STATUS.INVALID_ADDRESS);
      const liveTable = Math.floor(params.iopdeSpa / 4096) * 4096;
      await expectRejected(p, { ...params, tableSpa: liveTable }, FW_STATUS.INVALID_ADDRESS);
    });

    it('3: INVALID_PARAM for an unknown domain or an iova not 2 MB aligned', async () => {
      const p = createPlatform();
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      await expectRejected(p, { ...params, domainId: 77 }, FW_STATUS.INVALID_PARAM);
      await expectRejected(p, { ...params, iova: REGION_IOVA + 0x1000n }, FW_STATUS.INVALID_PARAM);
    });

    it('5: INVALID_PARAM when iopdeSpa is not the level-2 entry of the walk, with the entry the walk reached', async () => {
      const p = createPlatform();
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      const r = await expectRejected(p, { ...params, iopdeSpa: params.iopdeSpa + 8 }, FW_STATUS.INVALID_PARAM);
      expect(r.detail).toMatchObject({ entrySpa: BigInt(params.iopdeSpa), level: 2 });
    });

    it('5: INVALID_PAGE_SIZE when the walk reaches a 1 GB leaf', async () => {
      const p = createPlatform({
        ...DEFAULT_SCENARIO,
        devices: [{ deviceId: TEE_DEV, domainId: 1, boundAsid: 1, mode: 3, mappings: [{ iova: 0n, spa: 0x1_0000_0000, length: 2 ** 30, sizeLg2: 30, read: true, write: true, fc: false }] }],
      });
      const w = p.m.iommu.walk(TEE_DEV, REGION_IOVA, false);
      const l3 = w.steps.find((s) => s.level === 3)!;
      const tableSpa = prepareSmashTable(p, 0x6000000100000001n);
      const r = await p.fwSmashIopde({ domainId: 1, iova: REGION_IOVA, iopdeSpa: l3.entrySpa, tableSpa });
      expect(r.status).toBe(FW_STATUS.INVALID_PAGE_SIZE);
    });

    it('6: INVALID_PAGE_SIZE when the IOPDE is already a table pointer', async () => {
      const p = createPlatform();
      const first = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      expect((await p.fwSmashIopde(first)).status).toBe(0);
      const again = { ...first, tableSpa: prepareSmashTable(p, 0x6000000100200001n) };
      const before = p.m.memory.word(first.iopdeSpa);
      const r = await p.fwSmashIopde(again);
      expect(r.status).toBe(FW_STATUS.INVALID_PAGE_SIZE);
      expect(p.m.memory.word(first.iopdeSpa)).toBe(before);
    });

    it('7: INVALID_PAGE_OWNER when the table page is assigned in the RMP', async () => {
      const p = createPlatform();
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      expect(p.rmpUpdate(params.tableSpa, { assigned: true, pageSize: '4K', asid: 0, gpa: 0, immutable: true }).rc).toBe(0);
      await expectRejected(p, params, FW_STATUS.INVALID_PAGE_OWNER);
    });

    it('8: INVALID_PARAM naming the first bad PTE, expected and actual', async () => {
      const p = createPlatform();
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      const good = p.m.memory.word(params.tableSpa + 7 * 8);
      p.memWrite64(params.tableSpa + 7 * 8, [good & ~(1n << 62n)]); // drop IW on entry 7
      await expectRejected(p, params, FW_STATUS.INVALID_PARAM, { index: 7, expected: good, actual: good & ~(1n << 62n) });
    });

    it('9: INVALID_PAGE_STATE when the region belongs to another ASID', async () => {
      const p = createPlatform({ ...DEFAULT_SCENARIO, guests: [...DEFAULT_SCENARIO.guests, { asid: 2, ranges: [] }] });
      const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
      // Reassign the region to ASID 2 (shared first: RMPUPDATE refuses nothing here).
      expect(p.rmpUpdate(REGION_SPA, { assigned: false, pageSize: '2M' }).rc).toBe(0);
      expect(p.rmpUpdate(REGION_SPA, { assigned: true, pageSize: '2M', asid: 2, gpa: Number(REGION_IOVA) }).rc).toBe(0);
      await expectRejected(p, params, FW_STATUS.INVALID_PAGE_STATE);
    });
  });
});

describe('the race the engine exists for', () => {
  /** The manual, non-atomic sequence of a VMM without the engine. */
  async function manualSmash(p: Platform, windowNs: number) {
    const { iopdeSpa, tableSpa } = smashParams(p, TEE_DEV, 1, REGION_IOVA);
    p.memWrite64(iopdeSpa, [encodeTablePointer(tableSpa, 1)]);
    const [q0, q1] = encodeInvalidatePages(1, REGION_IOVA, 21, true);
    p.iommuCommand(q0, q1);
    await p.clockAdvance(windowNs);
    expect(p.rmpPsmash(REGION_SPA).rc).toBe(0);
  }

  it('the manual sequence faults about rate x window requests; the engine none', async () => {
    const manual = createPlatform();
    streamOverRegion(manual);
    await manual.clockAdvance(1_000_000);
    await manualSmash(manual, 200_000);
    await manual.clockAdvance(1_000_000);
    const ms = manual.dmaStats({});
    expect(ms.rmpFaults).toBeGreaterThanOrEqual(190);
    expect(ms.rmpFaults).toBeLessThanOrEqual(210);
    const rmpEvents = manual.iommuEvents({}).events.filter((e) => e.typeName === 'RMP_PAGE_FAULT');
    expect(rmpEvents.length).toBe(Math.min(ms.rmpFaults, 512));
    expect(rmpEvents[0]!.words[0]).toMatch(/^0x0020[0-9a-f]{4}$/); // rmp flag 0x20: size mismatch

    const engine = createPlatform();
    streamOverRegion(engine);
    await engine.clockAdvance(1_000_000);
    const r = await engine.fwSmashIopde(smashParams(engine, TEE_DEV, 1, REGION_IOVA));
    await engine.clockAdvance(1_000_000);
    const es = engine.dmaStats({});
    expect(r.status).toBe(0);
    expect(es.rmpFaults).toBe(0);
    expect(es.ioPageFaults).toBe(0);
    // 1,000,000 requests/s x the stall: one held per microsecond of stall.
    expect(Math.abs(r.dmaHeld! - r.stallNs! / 1000)).toBeLessThanOrEqual(2);
    expect(es.held).toBe(r.dmaHeld);
    expect(es.latencyNs.max).toBeGreaterThanOrEqual(r.stallNs! - 1000);
    expect(es.stalls).toEqual([{ startNs: r.startNs, endNs: r.endNs }]);
    expect(es.issued).toBe(es.completed + es.ioPageFaults + es.rmpFaults + es.timeouts + es.aborted + es.inFlight);
    expect(engine.audit().violations).toEqual([]);
  });

  it('abort policy fails the requests that arrive during the stall instead', async () => {
    const p = createPlatform();
    p.fwSetStallModel({ policy: 'abort', jitter: { dist: 'none' } });
    streamOverRegion(p);
    const r = await p.fwSmashIopde(smashParams(p, TEE_DEV, 1, REGION_IOVA));
    expect(r.stallNs).toBe(2_000_000);
    const s = p.dmaStats({});
    // Arrivals every 1000 ns from t=1000: those at 1000..1,999,000 fall in [start, end).
    expect(s.aborted).toBe(1999);
    expect(s.rmpFaults).toBe(0);
  });

  it('a stall longer than the completion timeout times held requests out', async () => {
    const p = createPlatform();
    p.fwSetStallModel({ baseNs: 3_000_000, jitter: { dist: 'none' }, completionTimeoutNs: 1_000_000 });
    streamOverRegion(p);
    await p.fwSmashIopde(smashParams(p, TEE_DEV, 1, REGION_IOVA));
    const s = p.dmaStats({});
    expect(s.timeouts).toBeGreaterThan(1900);
    expect(s.rmpFaults).toBe(0);
  });

  it('scope domain leaves other domains running; scope iommu stalls them too', async () => {
    for (const scope of ['domain', 'iommu'] as const) {
      const p = createPlatform();
      p.fwSetStallModel({ scope, jitter: { dist: 'none' } });
      p.dmaStartStream({ deviceId: UNTRUSTED_DEV, iovaBase: 0n, length: MB2, ratePerSec: 100_000, accessBytes: 64, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
      await p.fwSmashIopde(smashParams(p, TEE_DEV, 1, REGION_IOVA));
      const s = p.dmaStats({ deviceId: UNTRUSTED_DEV });
      if (scope === 'domain') expect(s.held).toBe(0);
      else expect(s.held).toBe(199); // arrivals every 10 us inside [0, 2 ms)
    }
  });

  it('gives the same figures for the same seed and calls, twice', async () => {
    const run = async () => {
      const p = createPlatform();
      p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: 0n, length: 64 * MB2, ratePerSec: 500_000, accessBytes: 256, writeRatio: 0.3, pattern: 'random', arrival: 'poisson' });
      await p.clockAdvance(300_000);
      const r = await p.fwSmashIopde(smashParams(p, TEE_DEV, 1, REGION_IOVA));
      await p.clockAdvance(500_000);
      return { r, stats: p.dmaStats({}), events: p.iommuEvents({}).events.length };
    };
    expect(await run()).toEqual(await run());
  });
});

describe('fw.unsmashIopde', () => {
  it('restores the original IOPDE and RMP entry after a smash, and audits clean', async () => {
    const p = createPlatform();
    const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
    const iopdeBefore = p.m.memory.word(params.iopdeSpa);
    const rmpBefore = p.rmpRead(REGION_SPA);
    expect((await p.fwSmashIopde(params)).status).toBe(0);
    const u = await p.fwUnsmashIopde({ domainId: 1, iova: REGION_IOVA, iopdeSpa: params.iopdeSpa });
    expect(u.status).toBe(0);
    expect(u.tableSpa).toBe(BigInt(params.tableSpa));
    expect(u.rmpMerged).toBe(true);
    expect(p.m.memory.word(params.iopdeSpa)).toBe(iopdeBefore);
    expect(p.rmpRead(REGION_SPA)).toEqual(rmpBefore);
    expect(p.audit().violations).toEqual([]);
    p.memFree(params.tableSpa, 1);
  });

  it('merges a hypervisor-owned region of 512 4 KB RMP entries into a 2 MB entry (DESIGN.md: the RMP entry 2 MB again)', async () => {
    const p = createPlatform({
      ...DEFAULT_SCENARIO,
      devices: [{ deviceId: 0x300, domainId: 3, mode: 3, mappings: [{ iova: 0n, spa: 0x4000_0000, length: 4 * MB2, sizeLg2: 21, read: true, write: true, fc: false }] }],
    });
    const params = smashParams(p, 0x300, 3, 0x20_0000n);
    expect((await p.fwSmashIopde(params)).rmpSmashed).toBe(false);
    expect(p.rmpRead(0x4020_0000).pageSize).toBe('4K');
    const u = await p.fwUnsmashIopde({ domainId: 3, iova: 0x20_0000n, iopdeSpa: params.iopdeSpa });
    expect(u).toMatchObject({ status: 0, rmpMerged: true });
    expect(p.rmpRead(0x4020_1000)).toMatchObject({ assigned: false, pageSize: '2M', entrySpa: 0x4020_0000n });
  });

  it('refuses a 2 MB leaf (INVALID_PAGE_SIZE) and non-contiguous leaves (INVALID_PARAM with the index)', async () => {
    const p = createPlatform();
    const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
    const leaf = await p.fwUnsmashIopde({ domainId: 1, iova: REGION_IOVA, iopdeSpa: params.iopdeSpa });
    expect(leaf.status).toBe(FW_STATUS.INVALID_PAGE_SIZE);
    await p.fwSmashIopde(params);
    const w = p.m.memory.word(params.tableSpa + 5 * 8);
    p.memWrite64(params.tableSpa + 5 * 8, [w + 0x1000n]);
    const r = await p.fwUnsmashIopde({ domainId: 1, iova: REGION_IOVA, iopdeSpa: params.iopdeSpa });
    expect(r.status).toBe(FW_STATUS.INVALID_PARAM);
    expect(r.detail).toMatchObject({ index: 5 });
  });

  it('refuses to merge an RMP region whose pages diverged (INVALID_PAGE_STATE)', async () => {
    const p = createPlatform();
    const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
    await p.fwSmashIopde(params);
    expect(p.rmpUpdate(REGION_SPA + 0x5000, { assigned: false, pageSize: '4K' }).rc).toBe(0);
    const r = await p.fwUnsmashIopde({ domainId: 1, iova: REGION_IOVA, iopdeSpa: params.iopdeSpa });
    expect(r.status).toBe(FW_STATUS.INVALID_PAGE_STATE);
  });
});

describe('fw.pageUnsmash', () => {
  it('merges 512 contiguous 4 KB entries after PSMASH and refuses a 2 MB entry', async () => {
    const p = createPlatform();
    const before = p.rmpRead(REGION_SPA);
    expect((await p.fwPageUnsmash(REGION_SPA)).status).toBe(FW_STATUS.INVALID_PAGE_SIZE);
    expect(p.rmpPsmash(REGION_SPA).rc).toBe(0);
    expect((await p.fwPageUnsmash(REGION_SPA)).status).toBe(0);
    expect(p.rmpRead(REGION_SPA)).toEqual(before);
    expect((await p.fwPageUnsmash(REGION_SPA + 0x1000)).status).toBe(FW_STATUS.INVALID_ADDRESS);
  });
});
