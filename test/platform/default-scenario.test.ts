/**
 * The embedded default scenario (protocol/README.md §13) is exactly the default
 * platform README.md's tour and src/platform/scenario.ts describe.
 */
import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

describe('the default scenario', () => {
  const p = createPlatform();

  it('has 64 GiB of host memory, SNP and TIO initialised, a virtual clock and seed 1', async () => {
    const info = p.info();
    expect(info.config.memoryBytes).toBe(BigInt(64 * GiB));
    expect(info.config.seed).toBe(1);
    expect(info.clockMode).toBe('virtual');
    expect(await p.fwPlatformStatus()).toMatchObject({ status: 0, snpInit: true, tioInit: true, tioEn: true, apiVersion: '1.55', devices: [{ deviceId: 0x100, state: 'connected' }] });
    expect(p.dmaStats({}).issued).toBe(0);
    expect(p.m.dma.streamIds()).toEqual([]);
  });

  it('has guest ASID 1 with 1 GiB private at GPA 0 backed by SPA 0x100000000, assigned as validated 2 MB pages', () => {
    expect(p.m.guests.list()).toEqual([{ asid: 1, ranges: [{ gpa: 0, spa: 0x1_0000_0000, length: GiB }], gctxSpa: expect.any(Number) }]);
    for (let off = 0; off < GiB; off += 2 * MiB) {
      const e = p.m.rmp.read(0x1_0000_0000 + off);
      if (!(e.assigned && e.pageSize === '2M' && e.validated && e.asid === 1 && e.gpa === off && !e.immutable)) throw new Error(`RMP entry at +${off} is ${JSON.stringify(e)}`);
    }
    expect(p.m.rmp.read(0x1_0000_0000 + GiB).assigned).toBe(false);
    expect(p.m.rmp.read(0x8000_0000).assigned).toBe(false);
  });

  it('binds device 0x0100 to ASID 1 in domain 1, IOVA 0-1 GiB mapped to that memory with 2 MB leaves, DTE mode 3', () => {
    expect(p.m.firmware.boundAsid(0x100)).toBe(1);
    expect(p.iommuReadDte(0x100)).toMatchObject({ valid: true, translationValid: true, mode: 3, domainId: 1, read: true, write: true });
    for (const iova of [0n, 0x20_0000n, BigInt(GiB - 4096)]) {
      const w = p.iommuWalk(0x100, iova, true);
      expect(w).toMatchObject({ ok: true, sizeLg2: 21, spa: 0x1_0000_0000n + iova });
    }
    expect(p.iommuWalk(0x100, BigInt(GiB), false).ok).toBe(false);
  });

  it('has untrusted device 0x0200 in domain 2, IOVA 0-64 MiB mapped with 4 KB leaves to SPA 0x80000000, DTE mode 3', () => {
    expect(p.m.firmware.boundAsid(0x200)).toBe(-1);
    expect(p.iommuReadDte(0x200)).toMatchObject({ valid: true, translationValid: true, mode: 3, domainId: 2 });
    for (const iova of [0n, 0x1000n, BigInt(64 * MiB - 4096)]) {
      expect(p.iommuWalk(0x200, iova, true)).toMatchObject({ ok: true, sizeLg2: 12, spa: 0x8000_0000n + iova });
    }
    expect(p.iommuWalk(0x200, BigInt(64 * MiB), false).ok).toBe(false);
  });

  it('writes leaves as PR | IR | IW without FC', () => {
    const w = p.iommuWalk(0x100, 0n, false);
    expect(w.steps.at(-1)!.value).toBe(0x6000_0001_0000_0001n);
    const u = p.iommuWalk(0x200, 0x1000n, false);
    expect(u.steps.at(-1)!.value).toBe(0x6000_0000_8000_1001n);
  });
});

describe('scenario limits', () => {
  it('refuses a stall model beyond 10 s, naming the key', async () => {
    const { DEFAULT_SCENARIO } = await import('../../src/platform/scenario.js');
    expect(() => createPlatform({ ...DEFAULT_SCENARIO, stallModel: { ...DEFAULT_SCENARIO.stallModel, baseNs: 1e15 } })).toThrow(/scenario\.stallModel: .*limit/);
  });

  it('refuses guest memory inside the page pool window', async () => {
    const { DEFAULT_SCENARIO } = await import('../../src/platform/scenario.js');
    const guests = [{ asid: 1, ranges: [{ gpa: 0, spa: 63 * GiB, length: GiB, rmp: 'none' as const, validated: false }] }];
    expect(() => createPlatform({ ...DEFAULT_SCENARIO, guests })).toThrow(/page pool/);
  });
});
