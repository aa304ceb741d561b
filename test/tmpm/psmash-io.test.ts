/**
 * PSMASH_IO and PUNSMASH_IO (protocol/README.md §4.3.5, §4.3.6): every check
 * with its TMPM status, in order, each refusal changing nothing but the statuses
 * the engine writes back; the effect; and the race the engine exists for.
 */
import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { encodeInvalidatePages } from '../../src/iommu/command.js';
import { findIopde, gctxOf, observable, prefillPte, prepareSmashTable, psmashArgs, type PsmashArgs } from '../helpers/smash.js';

const TEE_DEV = 0x0100;
const UNTRUSTED_DEV = 0x0200;
const REGION_IOVA = 0x20_0000n;
const REGION_SPA = 0x1_0020_0000;
const MB2 = 2 * 1024 * 1024;
const S = {
  INVALID_PLATFORM_STATE: 0x01,
  INVALID_PAGE_PADDR: 0x02,
  INVALID_NUM_PAGES: 0x03,
  INVALID_PAGE_STATE: 0x05,
  INVALID_PAGE_SIZE: 0x06,
  INVALID_GUEST: 0x08,
  INVALID_HPTE_PADDR: 0x0a,
  INVALID_COMMAND: 0x0b,
  INVALID_SRC_PG_PADDR: 0x0c,
  INVALID_GCTX_PG_PADDR: 0x0e,
  MEM_ABORTED: 0x11,
  RSVD_FIELD_NOT_ZERO: 0x12,
  INVALID_TMPM_LIST_ADDR: 0x14,
  ADDRESSES_MISMATCH: 0x15,
  RESOURCE_NOT_AVAILABLE: 0x17,
  INVALID_OVERLAP: 0x18,
  SUCCESS: 0xf0,
} as const;

function streamOverRegion(p: Platform, ratePerSec = 1_000_000): string {
  return p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: REGION_IOVA, length: MB2, ratePerSec, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' }).streamId;
}

describe('PSMASH_IO', () => {
  it('swaps the 2 MB leaf for PR | NextLevel 1 | the table | IR | IW and PSMASHes the RMP; SUCCESS (0xF0) in the gctx word and the ring entry', async () => {
    const p = createPlatform();
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    const r = await p.tmpmPsmashIo(a);
    expect(r).toMatchObject({ status: S.SUCCESS, statusName: 'SUCCESS', subStatus: 0, pteError: 0, pteSubError: 0, rmpSmashed: true });
    expect(r.detail).toBeUndefined();
    expect(p.m.memory.word(Number(a.srcHpmdSpa))).toBe(0x6000_0000_0000_0201n | a.smashHpteSpa);
    expect(r.gctxWord).toBe(a.gctxSpa | 0xf0n);
    const ring = Number(p.info().tmpm.ringSpa);
    expect(p.memRead64(ring + r.index * 16 + 8, 1).values[0]).toBe(0xf0_0000_0005n);
    expect(p.tmpmReadReg(0x04).value).toBe(r.index + 1);
    const e = p.rmpRead(REGION_SPA + 0x1000);
    expect(e).toMatchObject({ pageSize: '4K', gpa: REGION_IOVA + 0x1000n, validated: true, asid: 1 });
    expect(r.endNs - r.startNs).toBe(r.stallNs);
    expect(r.stallNs).toBeGreaterThanOrEqual(1_500_000);
    expect(r.stallNs).toBeLessThanOrEqual(2_500_000);
    expect(p.clockNow().nowNs).toBe(r.endNs);
    expect(p.audit().violations).toEqual([]);
    const d = await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA + 0x3000n, bytes: 64, write: true });
    expect(d).toMatchObject({ outcome: 'ok', spa: BigInt(REGION_SPA + 0x3000) });
  });

  it('accepts A and D set in the PTEs (bits 11:1 other than NextLevel are not compared)', async () => {
    const p = createPlatform();
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    const t = Number(a.smashHpteSpa);
    p.memWrite64(t + 5 * 8, [p.m.memory.word(t + 5 * 8) | 0x60n | 0x1e_0n]);
    expect((await p.tmpmPsmashIo(a)).statusName).toBe('SUCCESS');
  });

  it('drops cached translations of the 2 MB range in the domain and keeps the others', async () => {
    const p = createPlatform();
    await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA, bytes: 8, write: false });
    await p.dmaIssue({ deviceId: TEE_DEV, iova: REGION_IOVA + BigInt(MB2), bytes: 8, write: false });
    expect(p.iommuIotlb(1).entries.length).toBe(2);
    await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(p.iommuIotlb(1).entries.map((e) => e.iova)).toEqual([REGION_IOVA + BigInt(MB2)]);
  });

  it('leaves a hypervisor-owned region alone in the RMP (rmpSmashed false)', async () => {
    const p = createPlatform({
      ...DEFAULT_SCENARIO,
      devices: [{ deviceId: 0x300, domainId: 3, mode: 3, mappings: [{ iova: 0n, spa: 0x4000_0000, length: 4 * MB2, sizeLg2: 21, read: true, write: true, fc: false }] }],
    });
    const r = await p.tmpmPsmashIo(psmashArgs(p, 0x300, 0x20_0000n));
    expect(r).toMatchObject({ statusName: 'SUCCESS', rmpSmashed: false });
    expect(p.rmpRead(0x4020_0000).assigned).toBe(false);
  });

  it('strips the C-bit from every address it is given', async () => {
    const p = createPlatform();
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    const c = 1n << 51n;
    const r = await p.tmpmPsmashIo({ srcPgSpa: a.srcPgSpa | c, smashHpteSpa: a.smashHpteSpa | c, srcHpmdSpa: a.srcHpmdSpa | c, gctxSpa: a.gctxSpa | c });
    expect(r.statusName).toBe('SUCCESS');
    expect(p.m.memory.word(Number(a.srcHpmdSpa))).toBe(0x6000_0000_0000_0201n | a.smashHpteSpa | c);
    expect(p.iommuWalk(TEE_DEV, REGION_IOVA + 0x5000n, false)).toMatchObject({ ok: true, spa: BigInt(REGION_SPA + 0x5000), sizeLg2: 12 });
  });

  describe('checks, in order: the first failure writes its status and changes nothing else', () => {
    async function refused(p: Platform, a: PsmashArgs, status: number, detail?: Record<string, unknown>, pteError = 0) {
      const slot = findIopde(p, TEE_DEV, REGION_IOVA).iopdeSpa;
      const before = observable(p, slot, REGION_SPA);
      const r = await p.tmpmPsmashIo(a);
      expect(r.status, r.statusName).toBe(status);
      expect(r.detail).toBeDefined();
      if (detail) expect(r.detail).toMatchObject(detail);
      expect(r.pteError).toBe(pteError);
      expect(r.stallNs).toBe(0);
      // The gctx word as it reads in memory: the status and PTE error over the input.
      expect(r.gctxWord & 0xffn).toBe(BigInt(status));
      expect(r.gctxWord >> 60n).toBe(BigInt(pteError));
      const ring = Number(p.info().tmpm.ringSpa);
      expect(p.memRead64(ring + r.index * 16 + 8, 1).values[0]! >> 32n).toBe(BigInt(status));
      expect(observable(p, slot, REGION_SPA)).toEqual(before);
      return r;
    }

    it('1 INVALID_PLATFORM_STATE when SNP is not initialised', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await p.fwShutdown();
      await refused(p, a, S.INVALID_PLATFORM_STATE);
    });

    it('2 RSVD_FIELD_NOT_ZERO for gctx word bits 11:0 or 63:52 set', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await refused(p, { ...a, gctxSpa: a.gctxSpa | 1n }, S.RSVD_FIELD_NOT_ZERO);
      await refused(p, { ...a, gctxSpa: a.gctxSpa | (1n << 52n) }, S.RSVD_FIELD_NOT_ZERO);
      await refused(p, { ...a, gctxSpa: a.gctxSpa | (3n << 60n) }, S.RSVD_FIELD_NOT_ZERO);
    });

    it('3 INVALID_GCTX_PG_PADDR for a page that is not a guest context page', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await refused(p, { ...a, gctxSpa: a.smashHpteSpa }, S.INVALID_GCTX_PG_PADDR);
      await refused(p, { ...a, gctxSpa: BigInt(REGION_SPA) }, S.INVALID_GCTX_PG_PADDR);
    });

    it('4 INVALID_SRC_PG_PADDR for a source not 2 MB aligned or outside memory', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await refused(p, { ...a, srcPgSpa: a.srcPgSpa + 0x1000n }, S.INVALID_SRC_PG_PADDR);
      await refused(p, { ...a, srcPgSpa: 1n << 40n }, S.INVALID_SRC_PG_PADDR);
    });

    it('5 INVALID_HPTE_PADDR for a PTE page misaligned, outside memory, a live table or not hypervisor-owned; INVALID_OVERLAP inside the source or on the command page', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await refused(p, { ...a, smashHpteSpa: a.smashHpteSpa + 8n }, S.INVALID_HPTE_PADDR);
      await refused(p, { ...a, smashHpteSpa: 1n << 40n }, S.INVALID_HPTE_PADDR);
      await refused(p, { ...a, smashHpteSpa: a.srcHpmdSpa & ~0xfffn }, S.INVALID_HPTE_PADDR, { level: 2 });
      await refused(p, { ...a, smashHpteSpa: a.gctxSpa }, S.INVALID_HPTE_PADDR);
      // A hypervisor-owned source: a PTE page inside it is an overlap.
      const q = createPlatform({
        ...DEFAULT_SCENARIO,
        devices: [...DEFAULT_SCENARIO.devices, { deviceId: 0x300, domainId: 3, mode: 3, mappings: [{ iova: 0n, spa: 0x4000_0000, length: 4 * MB2, sizeLg2: 21, read: true, write: true, fc: false }] }],
      });
      const h = psmashArgs(q, 0x300, 0x20_0000n);
      const inside = 0x4020_0000 + 0x3000;
      q.memWrite64(
        inside,
        Array.from({ length: 512 }, (_, i) => prefillPte(0x6000_0000_4020_0001n, i)),
      );
      const r = await q.tmpmPsmashIo({ ...h, smashHpteSpa: BigInt(inside) });
      expect(r.statusName).toBe('INVALID_OVERLAP');
      // The command page itself, through the ring.
      const list = q.memAlloc(1).spa;
      q.memWrite64(Number(list), [h.srcPgSpa, list, h.srcHpmdSpa, h.gctxSpa]);
      const viaRing = await q.tmpmSubmit({ command: 5, listSpa: list });
      expect(viaRing.statusName).toBe('INVALID_OVERLAP');
    });

    it('6 INVALID_PAGE_PADDR for an entry misaligned, outside memory, or not in a live level-2 table', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await refused(p, { ...a, srcHpmdSpa: a.srcHpmdSpa + 4n }, S.INVALID_PAGE_PADDR);
      await refused(p, { ...a, srcHpmdSpa: 1n << 40n }, S.INVALID_PAGE_PADDR);
      const root = BigInt(p.iommuReadDte(TEE_DEV).root);
      await refused(p, { ...a, srcHpmdSpa: root }, S.INVALID_PAGE_PADDR);
      await refused(p, { ...a, srcHpmdSpa: a.smashHpteSpa }, S.INVALID_PAGE_PADDR);
    });

    it('7 INVALID_PAGE_SIZE for an entry not present or not a 2 MB leaf', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      // Device 02:00.0 maps 64 MiB with 4 KB leaves: its level-2 entry 0 points at a table, entry 40 is empty.
      const l2 = findIopde(p, UNTRUSTED_DEV, 0n).iopdeSpa;
      await refused(p, { ...a, srcHpmdSpa: BigInt(l2) }, S.INVALID_PAGE_SIZE);
      await refused(p, { ...a, srcHpmdSpa: BigInt(l2 + 40 * 8) }, S.INVALID_PAGE_SIZE);
    });

    it('8 ADDRESSES_MISMATCH when the entry maps another 2 MB page', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      await refused(p, { ...a, srcPgSpa: a.srcPgSpa + BigInt(MB2) }, S.ADDRESSES_MISMATCH);
    });

    it('9 INVALID_GUEST for an RMP entry of another ASID; INVALID_PAGE_STATE for non-consecutive GPAs or an immutable entry', async () => {
      const p = createPlatform({ ...DEFAULT_SCENARIO, guests: [...DEFAULT_SCENARIO.guests, { asid: 2, ranges: [] }] });
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      // The gctx of guest 2 names a guest the region does not belong to.
      await refused(p, { ...a, gctxSpa: gctxOf(p, 2) }, S.INVALID_GUEST, { guestAsid: 2 });
      expect(p.rmpPsmash(REGION_SPA).rc).toBe(0);
      expect(p.rmpUpdate(REGION_SPA + 0x7000, { assigned: true, pageSize: '4K', asid: 2, gpa: 0x20_7000 }).rc).toBe(0);
      await refused(p, a, S.INVALID_GUEST, { index: 7 });
      expect(p.rmpUpdate(REGION_SPA + 0x7000, { assigned: true, pageSize: '4K', asid: 1, gpa: 0x50_0000 }).rc).toBe(0);
      await refused(p, a, S.INVALID_PAGE_STATE, { index: 7 });
      expect(p.rmpUpdate(REGION_SPA + 0x7000, { assigned: true, pageSize: '4K', asid: 1, gpa: 0x20_7000, immutable: true }).rc).toBe(0);
      await refused(p, a, S.INVALID_PAGE_STATE, { index: 7 });
    });

    it('10 INVALID_HPTE_PADDR with the PTE error of the first bad PTE: PR 1, NextLevel 2, address 3, bits 63:52 4', async () => {
      const p = createPlatform();
      const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
      const t = Number(a.smashHpteSpa);
      const good = p.m.memory.word(t + 7 * 8);
      for (const [bad, err] of [
        [good & ~1n, 1],
        [good | (1n << 9n), 2],
        [good + 0x1000n, 3],
        [good & ~(1n << 62n), 4],
      ] as const) {
        p.memWrite64(t + 7 * 8, [bad]);
        await refused(p, a, S.INVALID_HPTE_PADDR, { index: 7, expected: good, actual: bad }, err);
      }
    });
  });

  it('refuses an unknown command or one whose capability is off (INVALID_COMMAND), pages != 0 (INVALID_NUM_PAGES), a bad list address (INVALID_TMPM_LIST_ADDR)', async () => {
    const p = createPlatform();
    expect((await p.tmpmSubmit({ command: 0x02, listSpa: 0n })).statusName).toBe('INVALID_COMMAND');
    expect((await p.tmpmSubmit({ command: 0x00, listSpa: 0x7000n, pages: 1 })).statusName).toBe('INVALID_NUM_PAGES');
    expect((await p.tmpmSubmit({ command: 0x01, listSpa: 0x7008n })).statusName).toBe('INVALID_TMPM_LIST_ADDR');
    expect((await p.tmpmSubmit({ command: 0x01, listSpa: 1n << 40n })).statusName).toBe('INVALID_TMPM_LIST_ADDR');
    const off = createPlatform({ ...DEFAULT_SCENARIO, tmpm: { ...DEFAULT_SCENARIO.tmpm, psmash: false } });
    const r = await off.tmpmPsmashIo(psmashArgs(off, TEE_DEV, REGION_IOVA));
    expect(r.statusName).toBe('INVALID_COMMAND');
    expect((await off.tmpmGetCapabilities()).supportReg).toBe(0x80);
  });

  it('pdeAccess iommu: the engine reads the entry through its own DTE; unmapped, MEM_ABORTED and an IO_PAGE_FAULT of device 0x00A0; mapped identity, SUCCESS', async () => {
    const p = createPlatform({ ...DEFAULT_SCENARIO, tmpm: { ...DEFAULT_SCENARIO.tmpm, pdeAccess: 'iommu' } });
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    const r = await p.tmpmPsmashIo(a);
    expect(r).toMatchObject({ status: S.MEM_ABORTED, statusName: 'MEM_ABORTED' });
    const ev = p.iommuEvents({}).events.at(-1)!;
    expect(ev).toMatchObject({ typeName: 'IO_PAGE_FAULT', deviceId: 0xa0, address: a.srcHpmdSpa });
    const page = a.srcHpmdSpa & ~0xfffn;
    p.iommuMap({ domainId: 0xa0, iova: page, spa: Number(page), length: 0x1000, sizeLg2: 12, read: true, write: true });
    expect((await p.tmpmPsmashIo(a)).statusName).toBe('SUCCESS');
  });

  it("fault rules on tmpm.PSMASH_IO apply however the command arrives: the injected status is written as the engine's", async () => {
    const p = createPlatform();
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    p.faultAdd({ method: 'tmpm.PSMASH_IO', status: S.RESOURCE_NOT_AVAILABLE });
    const slot = Number(a.srcHpmdSpa);
    const before = p.m.memory.word(slot);
    const r = await p.tmpmPsmashIo(a);
    expect(r).toMatchObject({ status: S.RESOURCE_NOT_AVAILABLE, statusName: 'RESOURCE_NOT_AVAILABLE', detail: { injected: true } });
    expect(r.gctxWord & 0xffn).toBe(0x17n);
    expect(p.m.memory.word(slot)).toBe(before);
    // Through the ring by hand, a delayNs rule makes the command take that much longer.
    p.faultAdd({ method: 'tmpm.NOOP', delayNs: 50_000 });
    const n = await p.tmpmSubmit({ command: 1, listSpa: 0n });
    expect(n.endNs - n.startNs).toBe(51_000);
    expect(p.faultList().faults.map((f) => [f.method, f.hits])).toEqual([
      ['tmpm.PSMASH_IO', 1],
      ['tmpm.NOOP', 1],
    ]);
    expect(() => p.faultAdd({ method: 'tmpm.PSMASH_IO', rpcError: { code: -1, message: 'x' } })).toThrow(/only status and delayNs/);
  });

  it('reports on topic tmpm (each command) and stall (begin and end), before the call returns', async () => {
    const p = createPlatform();
    const seen: Array<[string, Record<string, unknown>]> = [];
    p.bus.subscribe(['tmpm', 'stall'], (t, _at, data) => seen.push([t, data]));
    const r = await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(seen.map(([t, d]) => `${t}:${String(d['phase'] ?? d['kind'])}`)).toEqual(['stall:begin', 'stall:end', 'tmpm:command']);
    expect(seen[0]![1]).toMatchObject({ command: 'tmpm.PSMASH_IO', domainId: 1, iova: REGION_IOVA, startNs: r.startNs, endNs: r.endNs });
    expect(seen[2]![1]).toMatchObject({ kind: 'command', commandName: 'PSMASH_IO', status: 0xf0, statusName: 'SUCCESS', index: r.index, startNs: r.startNs, endNs: r.endNs });
  });
});

describe('the race the engine exists for', () => {
  async function manualSmash(p: Platform, windowNs: number) {
    const { iopdeSpa, iopde } = findIopde(p, TEE_DEV, REGION_IOVA);
    const tableSpa = prepareSmashTable(p, iopde);
    p.memWrite64(iopdeSpa, [0x6000_0000_0000_0201n | BigInt(tableSpa)]);
    const [q0, q1] = encodeInvalidatePages(1, REGION_IOVA, 21, true);
    p.iommuCommand(q0, q1);
    await p.clockAdvance(windowNs);
    expect(p.rmpPsmash(REGION_SPA).rc).toBe(0);
  }

  it('the manual sequence faults about rate x window requests; PSMASH_IO none, holding rate x stall', async () => {
    const manual = createPlatform();
    streamOverRegion(manual);
    await manual.clockAdvance(1_000_000);
    await manualSmash(manual, 200_000);
    await manual.clockAdvance(1_000_000);
    const ms = manual.dmaStats({});
    expect(ms.rmpFaults).toBeGreaterThanOrEqual(190);
    expect(ms.rmpFaults).toBeLessThanOrEqual(210);

    const engine = createPlatform();
    streamOverRegion(engine);
    await engine.clockAdvance(1_000_000);
    const r = await engine.tmpmPsmashIo(psmashArgs(engine, TEE_DEV, REGION_IOVA));
    await engine.clockAdvance(1_000_000);
    const es = engine.dmaStats({});
    expect(r.statusName).toBe('SUCCESS');
    expect(es.rmpFaults).toBe(0);
    expect(es.ioPageFaults).toBe(0);
    expect(Math.abs(r.dmaHeld - r.stallNs / 1000)).toBeLessThanOrEqual(2);
    expect(es.held).toBe(r.dmaHeld);
    expect(es.stalls).toEqual([{ startNs: r.startNs, endNs: r.endNs }]);
    expect(es.issued).toBe(es.completed + es.ioPageFaults + es.rmpFaults + es.timeouts + es.aborted + es.inFlight);
    expect(engine.audit().violations).toEqual([]);
  });

  it('abort policy fails the requests that arrive during the stall; a stall past the completion timeout times them out', async () => {
    const p = createPlatform();
    p.tmpmSetStallModel({ policy: 'abort', jitter: { dist: 'none' } });
    streamOverRegion(p);
    const r = await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(r.stallNs).toBe(2_000_000);
    expect(p.dmaStats({}).aborted).toBe(1999);
    const q = createPlatform();
    q.tmpmSetStallModel({ baseNs: 3_000_000, jitter: { dist: 'none' }, completionTimeoutNs: 1_000_000 });
    streamOverRegion(q);
    await q.tmpmPsmashIo(psmashArgs(q, TEE_DEV, REGION_IOVA));
    expect(q.dmaStats({}).timeouts).toBeGreaterThan(1900);
    expect(q.dmaStats({}).rmpFaults).toBe(0);
  });

  it('scope domain stalls the domains whose tables reach the entry; scope iommu every device', async () => {
    for (const scope of ['domain', 'iommu'] as const) {
      const p = createPlatform();
      p.tmpmSetStallModel({ scope, jitter: { dist: 'none' } });
      p.dmaStartStream({ deviceId: UNTRUSTED_DEV, iovaBase: 0n, length: MB2, ratePerSec: 100_000, accessBytes: 64, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
      await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
      expect(p.dmaStats({ deviceId: UNTRUSTED_DEV }).held).toBe(scope === 'domain' ? 0 : 199);
    }
  });

  it('two domains sharing the level-2 table are both stalled and both lose their cached translations', async () => {
    const p = createPlatform({ ...DEFAULT_SCENARIO, devices: [...DEFAULT_SCENARIO.devices] });
    // Domain 5's root points at domain 1's level-3 table entry 0's level-2 table.
    const l2Page = Math.floor(findIopde(p, TEE_DEV, REGION_IOVA).iopdeSpa / 4096) * 4096;
    const root5 = Number(p.memAlloc(1).spa);
    p.memWrite64(root5, [0x6000_0000_0000_0401n | BigInt(l2Page)]);
    p.iommuSetDte(0x0500, { fields: { valid: true, translationValid: true, mode: 3, root: root5, read: true, write: true, domainId: 5 } });
    await p.dmaIssue({ deviceId: 0x0500, iova: REGION_IOVA, bytes: 8, write: false });
    p.tmpmSetStallModel({ jitter: { dist: 'none' } });
    p.dmaStartStream({ deviceId: 0x0500, iovaBase: 0x40_0000n, length: MB2, ratePerSec: 100_000, accessBytes: 64, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
    await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(p.iommuIotlb(5).entries.filter((e) => e.iova >= REGION_IOVA && e.iova < REGION_IOVA + BigInt(MB2))).toEqual([]);
    expect(p.dmaStats({ deviceId: 0x0500 }).held).toBe(199);
  });

  it('gives the same figures for the same seed and calls, twice', async () => {
    const run = async () => {
      const p = createPlatform();
      p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: 0n, length: 64 * MB2, ratePerSec: 500_000, accessBytes: 256, writeRatio: 0.3, pattern: 'random', arrival: 'poisson' });
      await p.clockAdvance(300_000);
      const r = await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
      await p.clockAdvance(500_000);
      return { r, stats: p.dmaStats({}), events: p.iommuEvents({}).events.length };
    };
    expect(await run()).toEqual(await run());
  });
});

describe('PUNSMASH_IO', () => {
  it('restores the 2 MB leaf and the 2 MB RMP entry after a PSMASH_IO, returns the table, and audits clean', async () => {
    const p = createPlatform();
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    const leaf = p.m.memory.word(Number(a.srcHpmdSpa));
    const rmpBefore = p.rmpRead(REGION_SPA);
    expect((await p.tmpmPsmashIo(a)).statusName).toBe('SUCCESS');
    const u = await p.tmpmPunsmashIo({ srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa });
    expect(u).toMatchObject({ status: S.SUCCESS, rmpMerged: true, hpteSpa: a.smashHpteSpa });
    expect(p.m.memory.word(Number(a.srcHpmdSpa))).toBe(leaf);
    expect(p.rmpRead(REGION_SPA)).toEqual(rmpBefore);
    expect(p.audit().violations).toEqual([]);
  });

  it('refuses a 2 MB leaf (INVALID_PAGE_SIZE), non-contiguous leaves (INVALID_HPTE_PADDR with PTE error 3) and a diverged RMP (INVALID_PAGE_STATE)', async () => {
    const p = createPlatform();
    const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
    const args = { srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa };
    expect((await p.tmpmPunsmashIo(args)).statusName).toBe('INVALID_PAGE_SIZE');
    await p.tmpmPsmashIo(a);
    const t = Number(a.smashHpteSpa);
    const w = p.m.memory.word(t + 5 * 8);
    p.memWrite64(t + 5 * 8, [w + 0x1000n]);
    const r = await p.tmpmPunsmashIo(args);
    expect(r).toMatchObject({ statusName: 'INVALID_HPTE_PADDR', pteError: 3, detail: { index: 5 } });
    p.memWrite64(t + 5 * 8, [w]);
    expect(p.rmpUpdate(REGION_SPA + 0x5000, { assigned: false, pageSize: '4K' }).rc).toBe(0);
    expect((await p.tmpmPunsmashIo(args)).statusName).toBe('INVALID_PAGE_STATE');
  });
});
