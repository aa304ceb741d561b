/**
 * A host driver with SME on (C-bit 51, the default scenario's `cBit`) passes SPAs
 * with the C-bit set: everywhere a client passes an SPA the address is the same SPA,
 * stripped first and only then checked against memory (protocol/README.md §2); and
 * with `pdeAccess: "iommu"` the engine's DMA IOVA for the entry is src_hpmd_paddr as
 * the command page holds it, C-bit included (§4.3.5 check 6). Through the real server.
 */
import { describe, it, expect } from 'vitest';
import { startTestApp, useTestApp } from '../helpers/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

const C = 1n << 51n;
const hex = (v: bigint) => '0x' + v.toString(16);

describe('an SPA with the C-bit set is the same SPA (strip, then check bounds)', () => {
  const t = useTestApp();

  it('iommu.map {iova, spa} with the C-bit (AMD driver, SME on) maps; the walk lands on the stripped SPA', async () => {
    const { call } = t();
    const page = BigInt((await call('mem.alloc', { pages: 1 })).spa);
    const r = await call('iommu.map', { domainId: 0xa0, iova: hex(page | C), spa: hex(page | C), length: '0x1000', sizeLg2: 12, read: true, write: true });
    expect(r).toMatchObject({ ok: true });
    const w = await call('iommu.walk', { deviceId: 0xa0, iova: hex(page | C) });
    expect(w).toMatchObject({ ok: true, spa: hex(page), sizeLg2: 12 });
    // The leaf keeps the address as the driver gave it (Linux sets the C-bit in its PTEs).
    expect(BigInt(w.steps.at(-1).value) & C).toBe(C);
    // Past the end of memory is still refused, C-bit or not.
    const memEnd = 64n << 30n;
    const bad = call('iommu.map', { domainId: 0xa0, iova: hex(memEnd | C), spa: hex(memEnd | C), length: '0x1000', sizeLg2: 12, read: true, write: true });
    await expect(bad).rejects.toMatchObject({ code: -32602 });
  });

  it('mem.*, rmp.* and fw.pageUnsmash take a C-bit SPA as the stripped one', async () => {
    const { call } = t();
    const page = BigInt((await call('mem.alloc', { pages: 1 })).spa);
    expect(await call('mem.write64', { spa: hex(page | C), values: ['0x1234'] })).toMatchObject({ ok: true });
    expect((await call('mem.read64', { spa: hex(page), count: 1 })).values).toEqual(['0x1234']);
    expect((await call('mem.read64', { spa: hex(page | C), count: 1 })).values).toEqual(['0x1234']);
    expect(await call('rmp.update', { spa: hex(page | C), assigned: false, pageSize: '4K', immutable: true })).toMatchObject({ rc: 0 });
    expect(await call('rmp.read', { spa: hex(page) })).toMatchObject({ entrySpa: hex(page), immutable: true });
    expect(await call('rmp.read', { spa: hex(page | C) })).toMatchObject({ entrySpa: hex(page), immutable: true });
    // The default guest's second 2 MB page: PSMASH through the C-bit address, then PAGE_UNSMASH the same way.
    expect(await call('rmp.psmash', { spa: hex(0x100200000n | C) })).toMatchObject({ rc: 0 });
    expect(await call('rmp.read', { spa: '0x100200000' })).toMatchObject({ pageSize: '4K' });
    expect(await call('fw.pageUnsmash', { spa: hex(0x100200000n | C) })).toMatchObject({ status: 0 });
    expect(await call('rmp.read', { spa: '0x100200000' })).toMatchObject({ pageSize: '2M' });
    const other = BigInt((await call('mem.alloc', { pages: 2 })).spa);
    expect(await call('mem.free', { spa: hex(other | C), pages: 2 })).toMatchObject({ ok: true });
    await expect(call('mem.read64', { spa: hex((64n << 30n) | C), count: 1 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('rmp.update', { spa: hex((64n << 30n) | C), assigned: false, pageSize: '4K' })).rejects.toMatchObject({ code: -32602 });
  });
});

describe('pdeAccess "iommu": the IOVA is src_hpmd_paddr as written, C-bit included', () => {
  async function app() {
    return startTestApp({ scenario: { ...DEFAULT_SCENARIO, tmpm: { ...DEFAULT_SCENARIO.tmpm, pdeAccess: 'iommu' } } });
  }

  it("a driver with SME on maps the entry's page at IOVA = SPA | C-bit and passes C-bit addresses: SUCCESS", async () => {
    const t = await app();
    try {
      const prep = await t.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
      const hpmd = BigInt(prep.srcHpmdSpa);
      const page = hpmd & ~0xfffn;
      await t.call('iommu.map', { domainId: 0xa0, iova: hex(page | C), spa: hex(page | C), length: '0x1000', sizeLg2: 12, read: true, write: true });
      const r = await t.call('tmpm.psmashIo', {
        srcPgSpa: hex(BigInt(prep.srcPgSpa) | C),
        smashHpteSpa: hex(BigInt(prep.smashHpteSpa) | C),
        srcHpmdSpa: hex(hpmd | C),
        gctxSpa: prep.gctxSpa,
      });
      expect(r).toMatchObject({ statusName: 'SUCCESS' });
      const w = await t.call('iommu.walk', { deviceId: 0x100, iova: '0x200000' });
      expect(w).toMatchObject({ ok: true, sizeLg2: 12, spa: '0x100200000' });
    } finally {
      await t.stop();
    }
  });

  it('only the stripped IOVA mapped while the command page holds the C-bit address: MEM_ABORTED, IO_PAGE_FAULT at the C-bit IOVA', async () => {
    const t = await app();
    try {
      const prep = await t.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
      const hpmd = BigInt(prep.srcHpmdSpa);
      const page = hpmd & ~0xfffn;
      await t.call('iommu.map', { domainId: 0xa0, iova: hex(page), spa: hex(page), length: '0x1000', sizeLg2: 12, read: true, write: true });
      const r = await t.call('tmpm.psmashIo', { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: hex(hpmd | C), gctxSpa: prep.gctxSpa });
      expect(r).toMatchObject({ statusName: 'MEM_ABORTED' });
      const ev = (await t.call('iommu.events', {})).events.at(-1);
      expect(ev).toMatchObject({ typeName: 'IO_PAGE_FAULT', deviceId: 0xa0, address: hex(hpmd | C) });
      // The entry as written without the C-bit still goes through the identity mapping.
      expect(await t.call('tmpm.psmashIo', { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa })).toMatchObject({ statusName: 'SUCCESS' });
    } finally {
      await t.stop();
    }
  });
});
