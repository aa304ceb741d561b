/**
 * Contract tests of a VMM's smash path against the emulator: exact firmware status
 * codes, the bit-exact IOPDE the engine leaves, and the retry policy for IN_USE.
 * Every test starts from the same snapshot (emu.revert in afterEach), so they can
 * run in any order; each vitest worker has its own platform.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FW, openEmulator, withRetry, type EmulatorFixture } from './emulator-fixture.js';
import { hex } from '../lib/format.js';
import { tablePointer, smashTablePtes } from '../lib/iommu-bits.js';
import { prepareSmash, smashParams, type SmashPlan } from '../lib/smash.js';

const DEVICE = 0x0100; // TEE-IO, domain 1, guest ASID 1 (the default scenario)
const DOMAIN = 1;
const REGION = 0x20_0000n; // GPA 0x200000, SPA 0x100200000
const REGION_SPA = 0x1_0020_0000n;

let emu: EmulatorFixture;
let snapshotId: string;
let plan: SmashPlan; // prepared once, before the snapshot: every test finds it ready

beforeAll(async () => {
  emu = await openEmulator();
  plan = await prepareSmash(emu.client, DEVICE, DOMAIN, REGION);
  ({ snapshotId } = await emu.client.call('emu.snapshot'));
});
afterEach(async () => {
  await emu.client.call('emu.revert', { snapshotId });
});
afterAll(async () => {
  await emu.close();
});

const smash = (p: SmashPlan = plan) => emu.client.call('fw.smashIopde', smashParams(p));
const readWord = async (spa: bigint) => BigInt((await emu.client.call('mem.read64', { spa: hex(spa), count: 1 })).values[0]!);

describe('fw.smashIopde contract', () => {
  it('SUCCESS: the IOPDE becomes PR | NextLevel 1 | table | IR | IW and the RMP entry is 4 KB', async () => {
    const r = await smash();
    expect(r).toMatchObject({ status: FW.SUCCESS, statusName: 'SUCCESS', rmpSmashed: true });
    expect(r.endNs! - r.startNs!).toBe(r.stallNs);
    expect(await readWord(plan.iopdeSpa)).toBe(tablePointer(plan.tableSpa));
    expect(await emu.client.call('rmp.read', { spa: hex(REGION_SPA + 0x5000n) })).toMatchObject({ pageSize: '4K', assigned: true, asid: 1, gpa: '0x205000', validated: true });
    expect((await emu.client.call('emu.audit')).violations).toEqual([]);
  });

  it('each test starts from the snapshot: the previous test\'s smash is gone', async () => {
    expect(await readWord(plan.iopdeSpa)).toBe(plan.iopde);
    expect((await emu.client.call('rmp.read', { spa: hex(REGION_SPA) })).pageSize).toBe('2M');
  });

  it('INVALID_PAGE_SIZE (0x19) for a second smash of the same region: the IOPDE is a table pointer now', async () => {
    expect((await smash()).status).toBe(FW.SUCCESS);
    // A fresh table page: the first one is live now (reusing it is INVALID_ADDRESS, check 2).
    const { spa } = await emu.client.call('mem.alloc', { pages: 1 });
    await emu.client.call('mem.write64', { spa, values: smashTablePtes(plan.iopde).map(hex) });
    const r = await smash({ ...plan, tableSpa: BigInt(spa) });
    expect(r.status).toBe(FW.INVALID_PAGE_SIZE);
    expect(r.statusName).toBe('INVALID_PAGE_SIZE');
    expect(r.stallNs).toBeUndefined(); // a rejection changes nothing and stalls nothing
  });

  it('INVALID_PARAM (0x16) naming the first bad PTE, with the expected and actual values', async () => {
    const pte7 = plan.tableSpa + 7n * 8n;
    const good = await readWord(pte7);
    const bad = good & ~(1n << 62n); // IW dropped on entry 7
    await emu.client.call('mem.write64', { spa: hex(pte7), values: [hex(bad)] });
    const r = await smash();
    expect(r.status).toBe(FW.INVALID_PARAM);
    expect(r.detail).toMatchObject({ index: 7, expected: hex(good), actual: hex(bad) });
    expect(await readWord(plan.iopdeSpa)).toBe(plan.iopde); // nothing changed
  });

  it('INVALID_PLATFORM_STATE (0x01) after SNP_SHUTDOWN', async () => {
    expect((await emu.client.call('fw.shutdown')).status).toBe(FW.SUCCESS);
    expect((await smash()).status).toBe(FW.INVALID_PLATFORM_STATE);
  });

  it('retries IN_USE (0x3A) with backoff and succeeds on the third attempt', async () => {
    const { faultId } = await emu.client.call('fault.add', { method: 'fw.smashIopde', status: FW.IN_USE, times: 2 });
    const retries: number[] = [];
    const r = await withRetry(() => smash(), { attempts: 5, backoffMs: 1, onRetry: (attempt) => retries.push(attempt) });
    expect(r.status).toBe(FW.SUCCESS);
    expect(retries).toEqual([1, 2]); // two IN_USE answers, then the real call
    expect((await emu.client.call('fault.list')).faults).toMatchObject([{ faultId, hits: 2 }]);
  });

  it('gives up after its attempts and returns the last IN_USE as it was', async () => {
    await emu.client.call('fault.add', { method: 'fw.smashIopde', status: FW.IN_USE, times: 10 });
    const r = await withRetry(() => smash(), { attempts: 3 });
    expect(r).toMatchObject({ status: FW.IN_USE, statusName: 'IN_USE' });
    expect(await readWord(plan.iopdeSpa)).toBe(plan.iopde);
  });
});
