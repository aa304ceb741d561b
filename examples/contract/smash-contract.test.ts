/**
 * Contract tests of a VMM's smash path against the emulator's smash engine (AMD's
 * TMPM, command PSMASH_IO): exact TMPM status codes, the bit-exact IOPDE the engine
 * leaves, and the retry policy for a full ring and a transient status. Every test
 * starts from the same snapshot (emu.revert in afterEach), so they can run in any
 * order; each vitest worker has its own platform.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openEmulator, TMPM, withRetry, type EmulatorFixture } from './emulator-fixture.js';
import { hex } from '../lib/format.js';
import { tablePointer, smashTablePtes } from '../lib/iommu-bits.js';
import { prepareSmash, psmashParams, type SmashPlan } from '../lib/smash.js';

const DOMAIN = 1; // device 01:00.0, TEE-IO, guest ASID 1 (the default scenario)
const REGION = 0x20_0000n; // GPA 0x200000, SPA 0x100200000
const REGION_SPA = 0x1_0020_0000n;
const NOOP = 0x01;

let emu: EmulatorFixture;
let snapshotId: string;
let plan: SmashPlan; // prepared once, before the snapshot: every test finds it ready

beforeAll(async () => {
  emu = await openEmulator();
  plan = await prepareSmash(emu.client, DOMAIN, REGION);
  ({ snapshotId } = await emu.client.call('emu.snapshot'));
});
afterEach(async () => {
  await emu.client.call('emu.revert', { snapshotId });
});
afterAll(async () => {
  await emu.close();
});

const smash = (p: SmashPlan = plan) => emu.client.call('tmpm.psmashIo', psmashParams(p));
const readWord = async (spa: bigint) => BigInt((await emu.client.call('mem.read64', { spa: hex(spa), count: 1 })).values[0]!);

describe('tmpm.psmashIo contract', () => {
  it('SUCCESS (0xF0): the IOPDE becomes PR | NextLevel 1 | table | IR | IW and the RMP entry is 4 KB', async () => {
    const r = await smash();
    expect(r).toMatchObject({ status: TMPM.SUCCESS, statusName: 'SUCCESS', rmpSmashed: true, pteError: 0 });
    expect(BigInt(r.gctxWord) & 0xffn).toBe(0xf0n); // the status as the engine wrote it in the gctx word
    expect(r.endNs - r.startNs).toBe(r.stallNs);
    expect(await readWord(plan.iopdeSpa)).toBe(tablePointer(plan.tableSpa));
    expect(await emu.client.call('rmp.read', { spa: hex(REGION_SPA + 0x5000n) })).toMatchObject({ pageSize: '4K', assigned: true, asid: 1, gpa: '0x205000', validated: true });
    expect((await emu.client.call('emu.audit')).violations).toEqual([]);
  });

  it("each test starts from the snapshot: the previous test's smash is gone", async () => {
    expect(await readWord(plan.iopdeSpa)).toBe(plan.iopde);
    expect((await emu.client.call('rmp.read', { spa: hex(REGION_SPA) })).pageSize).toBe('2M');
  });

  it('INVALID_PAGE_SIZE (0x06) for a second smash of the same region: the IOPDE is a table pointer now', async () => {
    expect((await smash()).status).toBe(TMPM.SUCCESS);
    // A fresh PTE page: the first one is a live table now (reusing it is INVALID_HPTE_PADDR).
    const { spa } = await emu.client.call('mem.alloc', { pages: 1 });
    await emu.client.call('mem.write64', { spa, values: smashTablePtes(plan.iopde).map(hex) });
    const r = await smash({ ...plan, tableSpa: BigInt(spa) });
    expect(r.status).toBe(TMPM.INVALID_PAGE_SIZE);
    expect(r.statusName).toBe('INVALID_PAGE_SIZE');
    expect(r.stallNs).toBe(0); // a rejection changes nothing and stalls nothing
  });

  it('INVALID_HPTE_PADDR (0x0A) with the PTE error, naming the first bad PTE with the expected and actual values', async () => {
    const pte7 = plan.tableSpa + 7n * 8n;
    const good = await readWord(pte7);
    const bad = good & ~(1n << 62n); // IW dropped on entry 7: bits 63:52 differ from the old entry's
    await emu.client.call('mem.write64', { spa: hex(pte7), values: [hex(bad)] });
    const r = await smash();
    expect(r.status).toBe(TMPM.INVALID_HPTE_PADDR);
    expect(r.pteError).toBe(4); // gctx bits 63:60: bits 63:52 not copied
    expect(r.detail).toMatchObject({ index: 7, expected: hex(good), actual: hex(bad) });
    expect(await readWord(plan.iopdeSpa)).toBe(plan.iopde); // nothing changed
  });

  it('INVALID_PLATFORM_STATE (0x01) after SNP_SHUTDOWN', async () => {
    expect((await emu.client.call('fw.shutdown')).status).toBe(0); // an SEV status: 0 is SUCCESS there
    expect((await smash()).status).toBe(TMPM.INVALID_PLATFORM_STATE);
  });

  it('retries RESOURCE_NOT_AVAILABLE (0x17) injected on tmpm.PSMASH_IO and succeeds on the third attempt', async () => {
    const { faultId } = await emu.client.call('fault.add', { method: 'tmpm.PSMASH_IO', status: TMPM.RESOURCE_NOT_AVAILABLE, times: 2 });
    const retries: Array<number | string> = [];
    const r = await withRetry(emu.client, () => smash(), { onRetry: (_attempt, why) => retries.push(why) });
    expect(r.status).toBe(TMPM.SUCCESS);
    expect(retries).toEqual([0x17, 0x17]); // two injected answers, then the engine's own
    expect((await emu.client.call('fault.list')).faults).toMatchObject([{ faultId, hits: 2 }]);
  });

  it("rides out a full ring (-32003, the driver's -EAGAIN): another submitter's 255 NOOPs drain while it backs off", async () => {
    // Another driver of the same engine queues 255 NOOPs at once (CIRC_SPACE leaves one slot).
    const info = (await emu.client.call('emu.info')) as unknown as { tmpm: { ringSpa: string } };
    const ring = BigInt(info.tmpm.ringSpa);
    const { spa: list } = await emu.client.call('mem.alloc', { pages: 1 });
    const entries = Array.from({ length: 255 }, () => [list, hex(NOOP)]).flat();
    await emu.client.call('mem.write64', { spa: hex(ring), values: entries });
    await emu.client.call('tmpm.writeReg', { offset: 0x08, value: 255 }); // RBHEAD
    const retries: Array<number | string> = [];
    const r = await withRetry(emu.client, () => smash(), { onRetry: (_attempt, why) => retries.push(why) });
    expect(retries).toEqual(['ring-full']); // one 100 us backoff: 255 x 1 us NOOPs ran meanwhile
    expect(r).toMatchObject({ status: TMPM.SUCCESS, index: 255 });
  });

  it('gives up after its attempts and returns the last answer as it was', async () => {
    await emu.client.call('fault.add', { method: 'tmpm.PSMASH_IO', status: TMPM.RESOURCE_NOT_AVAILABLE, times: 10 });
    const r = await withRetry(emu.client, () => smash(), { attempts: 3 });
    expect(r).toMatchObject({ status: TMPM.RESOURCE_NOT_AVAILABLE, statusName: 'RESOURCE_NOT_AVAILABLE' });
    expect(await readWord(plan.iopdeSpa)).toBe(plan.iopde);
  });
});
