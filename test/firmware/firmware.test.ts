import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { FW_STATUS } from '../../src/firmware/status.js';

const REGION_SPA = 0x1_0020_0000;

describe('fw.pageUnsmash (SNP_PAGE_UNSMASH)', () => {
  it('merges 512 contiguous 4 KB entries after PSMASH and refuses a 2 MB entry or a misaligned address', async () => {
    const p = createPlatform();
    const before = p.rmpRead(REGION_SPA);
    expect((await p.fwPageUnsmash(REGION_SPA)).status).toBe(FW_STATUS.INVALID_PAGE_SIZE);
    expect(p.rmpPsmash(REGION_SPA).rc).toBe(0);
    expect((await p.fwPageUnsmash(REGION_SPA)).status).toBe(FW_STATUS.SUCCESS);
    expect(p.rmpRead(REGION_SPA)).toEqual(before);
    expect((await p.fwPageUnsmash(REGION_SPA + 0x1000)).status).toBe(FW_STATUS.INVALID_ADDRESS);
  });

  it('refuses to merge a region holding a Hypervisor-Fixed page (INVALID_PAGE_STATE)', async () => {
    const p = createPlatform();
    const spa = 0x4000_0000;
    expect(p.rmpUpdate(spa + 0x3000, { assigned: false, pageSize: '4K', immutable: true }).rc).toBe(0);
    expect(p.rmpRead(spa + 0x3000)).toMatchObject({ assigned: false, immutable: true, pageSize: '4K' });
    const r = await p.fwPageUnsmash(spa);
    expect(r.status).toBe(FW_STATUS.INVALID_PAGE_STATE);
    expect(r.detail).toMatchObject({ index: 3 });
  });
});

describe('guest context pages', () => {
  it('each guest has one, RMP Assigned 1, Immutable 1, ASID 0, listed by emu.info', () => {
    const p = createPlatform();
    const [g] = p.info().guests;
    expect(g).toMatchObject({ asid: 1 });
    expect(p.rmpRead(Number(g!.gctxSpa))).toMatchObject({ assigned: true, immutable: true, asid: 0, pageSize: '4K' });
  });
});
