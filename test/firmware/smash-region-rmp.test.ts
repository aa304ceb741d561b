import { describe, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { FW_STATUS } from '../../src/firmware/status.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { smashParams } from '../helpers/smash.js';

const TEE_DEV = 0x0100;
const REGION_IOVA = 0x20_0000n; // second 2 MB region of the guest
const REGION_SPA = 0x1_0020_0000; // its backing SPA (guest GPA 0 at SPA 4 GiB)

/** A smashed region whose 4 KB RMP entry `index` is then rewritten by `change`. */
async function smashedThen(change: (p: Platform) => void): Promise<{ status: number; detail: unknown }> {
  const p = createPlatform({ ...DEFAULT_SCENARIO, guests: [...DEFAULT_SCENARIO.guests, { asid: 2, ranges: [] }] });
  const params = smashParams(p, TEE_DEV, 1, REGION_IOVA);
  expect((await p.fwSmashIopde(params)).status).toBe(FW_STATUS.SUCCESS);
  change(p);
  const r = await p.fwUnsmashIopde({ domainId: 1, iova: REGION_IOVA, iopdeSpa: params.iopdeSpa });
  return { status: r.status, detail: r.detail };
}

describe('fw.unsmashIopde check 9 over 512 4 KB RMP entries', () => {
  it('names the first 4 KB entry whose GPA is not iova + i x 4 KB, with the entry read', async () => {
    const r = await smashedThen((p) => {
      expect(p.rmpUpdate(REGION_SPA + 300 * 4096, { assigned: false, pageSize: '4K' }).rc).toBe(0);
      expect(p.rmpUpdate(REGION_SPA + 300 * 4096, { assigned: true, pageSize: '4K', asid: 1, gpa: 0x7000_0000 }).rc).toBe(0);
    });
    expect(r).toEqual({
      status: FW_STATUS.INVALID_PAGE_STATE,
      detail: {
        reason: '4 KB entry 300 GPA differs from iova + 300 x 4 KB',
        regionSpa: BigInt(REGION_SPA),
        index: 300,
        entry: { assigned: true, pageSize: '4K', asid: 1, gpa: 0x7000_0000n },
        boundAsid: 1,
      },
    });
  });

  it('names the first 4 KB entry of another ASID', async () => {
    const r = await smashedThen((p) => {
      expect(p.rmpUpdate(REGION_SPA + 511 * 4096, { assigned: false, pageSize: '4K' }).rc).toBe(0);
      expect(p.rmpUpdate(REGION_SPA + 511 * 4096, { assigned: true, pageSize: '4K', asid: 2, gpa: Number(REGION_IOVA) + 511 * 4096 }).rc).toBe(0);
    });
    expect(r).toEqual({
      status: FW_STATUS.INVALID_PAGE_STATE,
      detail: {
        reason: '4 KB entry 511 belongs to ASID 2, not the bound ASID 1',
        regionSpa: BigInt(REGION_SPA),
        index: 511,
        entry: { assigned: true, pageSize: '4K', asid: 2, gpa: REGION_IOVA + 511n * 4096n },
        boundAsid: 1,
      },
    });
  });
});
