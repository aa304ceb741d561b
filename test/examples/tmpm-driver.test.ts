/**
 * examples/tmpm-driver.ts against the real server: the driver's own error paths
 * (-EBUSY, -EAGAIN, -EIO on a 25 ms timeout, -EEXIST, -ENODEV, -EINVAL), the
 * engine's interrupts (WPTR_ERR, RB_ERR), MEM_ABORTED under pdeAccess iommu, and
 * every PSMASH_IO status the driver can provoke, each read back from memory: the
 * status byte of the ring entry and the gctx word of the command page.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { DEFAULT_SCENARIO_DOCUMENT, type ScenarioDocumentIn } from '../../src/protocol/scenario-schema.js';
import type { EventNotification, SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { smashTablePtes } from '../../examples/lib/iommu-bits.js';
import { ROOT } from './run-example.js';
import {
  CMD,
  decodeGctx,
  ENTRY_BYTES,
  ERRNO,
  PAGE,
  RBCTL_INIT,
  RBCTL_PAUSE,
  REG,
  ringStatus,
  STATUS_DRIVER_INIT,
  STATUS_RB_ERR,
  STATUS_WPTR_ERR,
  TMPM_SUCCESS,
  TmpmDriver,
  type PsmashPage,
  type PsmashResult,
  platformInfo,
} from '../../examples/tmpm-driver.js';

const DEVICE = 0x0100; // TEE-IO, domain 1, bound to ASID 1
const DOMAIN = { domainId: 1, deviceId: DEVICE };
const REGION_SPA = 0x1_0020_0000n; // GPA 0x200000 of guest 1
const REGION_GPA = 0x20_0000n;
const hex = (v: bigint | number) => '0x' + v.toString(16);

/** The default platform with the engine left for the client's driver. */
const driverScenario = (more: Partial<ScenarioDocumentIn> = {}, tmpm: Record<string, unknown> = {}): ScenarioDocumentIn => ({
  ...DEFAULT_SCENARIO_DOCUMENT,
  name: 'tmpm-driver-test',
  ...more,
  tmpm: { initialised: false, ...tmpm },
});

let t: AppUnderTest;
let c: SmashEmuClient;
beforeAll(async () => {
  t = await startTestApp();
  c = t.client;
});
afterAll(async () => {
  await t.stop();
});

async function reset(scenario: ScenarioDocumentIn = driverScenario()): Promise<void> {
  await c.call('emu.reset', { scenario });
}
async function upDriver(opts: { pollLoops?: number } = {}): Promise<TmpmDriver> {
  const d = await TmpmDriver.probe(c, opts);
  expect(await d.init()).toBe(0);
  return d;
}
const word = async (spa: bigint) => BigInt((await c.call('mem.read64', { spa: hex(spa), count: 1 })).values[0]!);
const reg = async (offset: number) => (await c.call('tmpm.readReg', { offset })).value;
const gctxOf = async () => BigInt((await platformInfo(c)).guests[0]!.gctxSpa!);
const l2Entry = async (deviceId = DEVICE, iova = REGION_GPA) => {
  const w = await c.call('iommu.walk', { deviceId, iova: hex(iova) });
  const s = w.steps.find((x) => x.level === 2)!;
  return { spa: BigInt(s.entrySpa), value: BigInt(s.value), sizeLg2: w.sizeLg2 };
};
/** The ring entry's status byte and the command page's gctx word, as memory holds them. */
async function inMemory(d: TmpmDriver, r: { index: number; listSpa: bigint }) {
  const q1 = await word(d.ring + BigInt(r.index * ENTRY_BYTES) + 8n);
  const gctxWord = await word(r.listSpa + BigInt(PAGE.GCTX));
  return { ringStatus: ringStatus(q1), gctxWord, gctx: decodeGctx(gctxWord) };
}
/** A correct command page for the region, its PTE page freshly filled. */
async function goodPage(): Promise<PsmashPage> {
  const e = await l2Entry();
  const { spa } = await c.call('mem.alloc', { pages: 1 });
  await c.call('mem.write64', { spa, values: smashTablePtes(e.value).map(hex) });
  return { srcPgPaddr: REGION_SPA, smashHptePaddr: BigInt(spa), srcHpmdPaddr: e.spa, gctx: await gctxOf() };
}
/** Asserts one failed PSMASH_IO: the status in the ring and the gctx word, and nothing smashed. */
async function expectRefused(d: TmpmDriver, r: PsmashResult, status: number, page: PsmashPage, pteError = 0, rmpSize = '2M'): Promise<void> {
  expect(r.status).toBe(status);
  expect(r.rc).toBe(ERRNO.EIO);
  const m = await inMemory(d, r);
  expect(m.ringStatus).toBe(status);
  expect(m.gctx).toMatchObject({ status, subStatus: 0, pteSubError: 0, pteError });
  // Input bits 55:12 are kept (the C-bit included: the engine writes back the word it was given).
  expect(m.gctxWord & 0x00ff_ffff_ffff_f000n).toBe((page.gctx | (1n << 51n)) & 0x00ff_ffff_ffff_f000n);
  const e = await l2Entry();
  expect(e.sizeLg2).toBe(21);
  expect((await c.call('rmp.read', { spa: hex(REGION_SPA) })).pageSize).toBe(rmpSize);
}

describe('tmpm-driver: bring-up and shutdown', () => {
  beforeEach(() => reset());

  it('brings up an engine left uninitialised: ring 2 MB aligned and Hypervisor-Fixed, DRIVER_INIT set, registers as written', async () => {
    expect(await reg(REG.STATUS)).toBe(1); // ENGINE_READY only
    const d = await upDriver();
    expect(d.ring % 0x20_0000n).toBe(0n);
    expect(await c.call('rmp.read', { spa: hex(d.ring) })).toMatchObject({ assigned: false, immutable: true, pageSize: '4K' });
    const regs = await c.call('tmpm.regs');
    expect(regs.STATUS).toMatchObject({ engineReady: true, driverInit: true, rbErr: false, toggle: true });
    expect(regs.CDATA).toMatchObject({ value: 1 });
    expect(regs.RBCTL.value).toBe(RBCTL_INIT);
    expect(BigInt(String(regs.engine.ringSpa))).toBe(d.ring);
    expect((await platformInfo(c)).tmpm).toMatchObject({ initialised: true, ringSpa: hex(d.ring), ringEntries: 256 });
    const caps = await d.getCapabilities();
    expect(caps).toMatchObject({ rc: 0, fwVersion: '1.0', specVersion: '0.51', psmash: true, punsmash: true, supportReg: 0xc0 });
    expect(await d.shutdown()).toBe(0);
    expect((await reg(REG.STATUS)) & STATUS_DRIVER_INIT).toBe(0);
    expect((await c.call('tmpm.regs')).RBCTL).toMatchObject({ pause: true, init: false });
  });

  it('-EBUSY on an engine another driver already brought up (the default scenario)', async () => {
    await reset(DEFAULT_SCENARIO_DOCUMENT);
    const d = await TmpmDriver.probe(c);
    expect(await d.init()).toBe(ERRNO.EBUSY);
    expect(d.lines.at(-1)).toContain('DRIVER_INIT set');
  });

  it('-ENODEV for commands before init', async () => {
    const d = await TmpmDriver.probe(c);
    expect((await d.noop()).rc).toBe(ERRNO.ENODEV);
  });

  it("RB_ERR for a ring that is not Hypervisor-Fixed under SNP: DRIVER_INIT stays clear, an interrupt on topic tmpm; the handler shuts down and the driver's own init then succeeds", async () => {
    const events: EventNotification[] = [];
    const sub = await c.subscribe(['tmpm'], (n) => events.push(n));
    // What init does, but without the RMPUPDATE to Hypervisor-Fixed.
    const { spa } = await c.call('mem.alloc', { pages: 1023 });
    const ring = (BigInt(spa) + 0x1f_ffffn) & ~0x1f_ffffn;
    await c.call('tmpm.writeReg', { offset: REG.RBLOW, value: Number(ring & 0xffff_ffffn) });
    await c.call('tmpm.writeReg', { offset: REG.RBHIGH, value: Number(ring >> 32n) });
    await c.call('tmpm.writeReg', { offset: REG.CDATA, value: 1 });
    await c.call('tmpm.writeReg', { offset: REG.RBCTL, value: RBCTL_INIT });
    await c.call('clock.advance', { ns: 25_000 });
    const status = await reg(REG.STATUS);
    expect(status & STATUS_RB_ERR).toBe(STATUS_RB_ERR);
    expect(status & STATUS_DRIVER_INIT).toBe(0);
    expect(events.filter((e) => (e.data as { kind: string }).kind === 'interrupt').map((e) => (e.data as { reason: string }).reason)).toEqual(['RB_ERR']);
    await sub.unsubscribe();
    const d = await TmpmDriver.probe(c);
    const h = await d.handleInterrupt();
    expect(h.rc).toBe(0);
    expect(h.status & STATUS_RB_ERR).toBe(STATUS_RB_ERR);
    expect(d.lines[0]).toContain('RB_ERR; shutting the engine down');
    expect(await d.init()).toBe(0); // a Hypervisor-Fixed ring this time
    expect((await reg(REG.STATUS)) & (STATUS_RB_ERR | STATUS_DRIVER_INIT)).toBe(STATUS_DRIVER_INIT);
    expect((await d.noop()).status).toBe(TMPM_SUCCESS);
  });
});

describe('tmpm-driver: the ring', () => {
  beforeEach(() => reset());

  it('-EAGAIN when CIRC_SPACE is 0: a paused engine lets 255 entries pile up; after PAUSE clears they drain and the driver goes on', async () => {
    const d = await upDriver({ pollLoops: 1 });
    await c.call('tmpm.writeReg', { offset: REG.RBCTL, value: RBCTL_INIT | RBCTL_PAUSE });
    await c.call('clock.advance', { ns: 25_000 });
    expect((await c.call('tmpm.regs')).engine.paused).toBe(true);
    // Each NOOP goes into the ring and times out (-EIO: nothing runs while paused).
    for (let i = 0; i < 255; i++) expect((await d.noop()).rc).toBe(ERRNO.EIO);
    expect(d.headIndex).toBe(255);
    expect(await reg(REG.RBTAIL)).toBe(0);
    const full = await d.noop();
    expect(full.rc).toBe(ERRNO.EAGAIN);
    expect(full.reason).toBe('ring full (head 255, tail 0)');
    expect((await c.call('tmpm.regs')).engine.pending).toBe(255);
    await c.call('tmpm.writeReg', { offset: REG.RBCTL, value: RBCTL_INIT });
    await c.call('clock.advance', { ns: 1_000_000 }); // 255 x 1 us NOOPs
    expect(await reg(REG.RBTAIL)).toBe(255);
    const ok = await d.noop();
    expect(ok).toMatchObject({ rc: 0, status: TMPM_SUCCESS, index: 255 });
    expect(d.headIndex).toBe(0); // wrapped
  });

  it('-EIO when a PSMASH_IO stall outlasts the 25 ms poll; the command still completes and the smash happened', async () => {
    const d = await upDriver();
    await c.call('tmpm.setStallModel', { baseNs: 40_000_000, jitter: { dist: 'none' } });
    const t0 = (await c.call('clock.now')).nowNs;
    const r = await d.psmashIo({ gctxSpa: await gctxOf() }, DOMAIN, REGION_SPA);
    expect(r.rc).toBe(ERRNO.EIO);
    expect(r.status).toBe(0);
    expect(r.reason).toContain('timeout');
    expect((await c.call('clock.now')).nowNs - t0).toBeGreaterThanOrEqual(25_000_000);
    expect((await inMemory(d, r)).ringStatus).toBe(0);
    await c.call('clock.advance', { ns: 20_000_000 });
    const m = await inMemory(d, r);
    expect(m.ringStatus).toBe(TMPM_SUCCESS);
    expect(m.gctx.status).toBe(TMPM_SUCCESS);
    const e = await l2Entry();
    expect(e.sizeLg2).toBe(12);
    expect(e.value & 0xe01n).toBe(0x201n); // PR | NextLevel 1: a table pointer now
    expect(e.value & 0x000f_ffff_ffff_f000n & ~(1n << 51n)).toBe(r.hpteSpa);
    expect((await c.call('rmp.read', { spa: hex(REGION_SPA) })).pageSize).toBe('4K');
  });

  it('WPTR_ERR for a head past the ring: STATUS.WPTR_ERR, a tmpm interrupt; the handler shuts the engine down and init brings it back', async () => {
    const d = await upDriver();
    const events: EventNotification[] = [];
    const sub = await c.subscribe(['tmpm'], (n) => events.push(n));
    await c.call('tmpm.writeReg', { offset: REG.RBHEAD, value: 256 });
    expect((await reg(REG.STATUS)) & STATUS_WPTR_ERR).toBe(STATUS_WPTR_ERR);
    expect((await c.call('tmpm.regs')).engine.stopped).toBe(true);
    const irq = events.map((e) => e.data as { kind: string; reason?: string; status?: number }).filter((e) => e.kind === 'interrupt');
    expect(irq).toHaveLength(1);
    expect(irq[0]!.reason).toBe('WPTR_ERR');
    expect((irq[0]!.status ?? 0) & STATUS_WPTR_ERR).toBe(STATUS_WPTR_ERR);
    const h = await d.handleInterrupt();
    expect(h.rc).toBe(0);
    expect(h.status & STATUS_WPTR_ERR).toBe(STATUS_WPTR_ERR);
    expect((await reg(REG.STATUS)) & (STATUS_WPTR_ERR | STATUS_DRIVER_INIT)).toBe(0);
    await sub.unsubscribe();
    expect(await d.init()).toBe(0);
    expect((await d.noop()).status).toBe(TMPM_SUCCESS);
  });
});

describe('tmpm-driver: psmash_io', () => {
  beforeEach(() => reset());

  it('SUCCESS: the IOPDE becomes a table pointer to the driver-filled page, the RMP is 4 KB, status 0xF0 in the ring and the gctx word; -EEXIST after', async () => {
    const d = await upDriver();
    const gctx = await gctxOf();
    const before = await l2Entry();
    const r = await d.psmashIo({ gctxSpa: gctx }, DOMAIN, REGION_SPA);
    expect(r).toMatchObject({ rc: 0, status: TMPM_SUCCESS, statusName: 'SUCCESS' });
    const m = await inMemory(d, r);
    expect(m.ringStatus).toBe(0xf0);
    expect(m.gctxWord & ~(1n << 51n)).toBe(gctx | 0xf0n);
    const after = await l2Entry();
    expect(after.spa).toBe(before.spa);
    expect(after.sizeLg2).toBe(12);
    const ptes = (await c.call('mem.read64', { spa: hex(r.hpteSpa), count: 512 })).values.map(BigInt);
    expect(ptes).toEqual(smashTablePtes(before.value));
    expect(ptes[3]! & 0xfffn).toBe(1n);
    expect(await c.call('rmp.read', { spa: hex(REGION_SPA + 0x3000n) })).toMatchObject({ pageSize: '4K', assigned: true, asid: 1 });
    expect(d.lines).toContain('tmpm: psmash_io: pte_err 0 pte_suberr 0 sub_status 0 status 0xf0 (SUCCESS)');
    expect((await c.call('emu.audit')).violations).toEqual([]);
    const again = await d.psmashIo({ gctxSpa: gctx }, DOMAIN, REGION_SPA);
    expect(again.rc).toBe(ERRNO.EEXIST);
    expect(again.index).toBe(-1); // nothing submitted
  });

  it('-EINVAL for a paddr that is not 2 MB aligned; -ENODEV when the engine does not offer PSMASH, whose command is INVALID_COMMAND (gctx word untouched)', async () => {
    let d = await upDriver();
    expect((await d.psmashIo({ gctxSpa: await gctxOf() }, DOMAIN, REGION_SPA + 0x1000n)).rc).toBe(ERRNO.EINVAL);
    await reset(driverScenario({}, { psmash: false }));
    d = await upDriver();
    expect((await d.getCapabilities()).psmash).toBe(false);
    expect((await d.psmashIo({ gctxSpa: await gctxOf() }, DOMAIN, REGION_SPA)).rc).toBe(ERRNO.ENODEV);
    const page = await goodPage();
    const r = await d.issuePsmashIo(page);
    expect(r.status).toBe(0x0b);
    const m = await inMemory(d, r);
    expect(m.ringStatus).toBe(0x0b);
    expect(m.gctxWord).toBe(page.gctx | (1n << 51n)); // not written: the command never ran
  });

  it('pdeAccess iommu: the driver maps the entry page into the engine domain and unmaps it after; without the map, MEM_ABORTED and an IO_PAGE_FAULT of device 0x00A0', async () => {
    await reset(driverScenario({}, { pdeAccess: 'iommu' }));
    const d = await upDriver();
    expect(d.pdeAccess).toBe('iommu');
    const page = await goodPage();
    const seq = (await c.call('iommu.events')).events.at(-1)?.seq ?? 0;
    const bad = await d.issuePsmashIo(page); // no map into domain 0xA0 first
    await expectRefused(d, bad, 0x11, page);
    const faults = (await c.call('iommu.events', { since: seq })).events;
    expect(faults.map((e) => [e.typeName, e.deviceId])).toEqual([['IO_PAGE_FAULT', 0x00a0]]);
    const ok = await d.psmashIo({ gctxSpa: await gctxOf() }, DOMAIN, REGION_SPA);
    expect(ok).toMatchObject({ rc: 0, status: TMPM_SUCCESS });
    expect((await inMemory(d, ok)).ringStatus).toBe(TMPM_SUCCESS);
    expect((await l2Entry()).sizeLg2).toBe(12);
    // Unmapped again (and invalidated): the engine's domain translates nothing.
    for (const iova of [page.srcHpmdPaddr & ~0xfffn, (page.srcHpmdPaddr & ~0xfffn) | (1n << 51n)]) {
      expect((await c.call('iommu.walk', { deviceId: 0x00a0, iova: hex(iova) })).ok).toBe(false);
    }
    expect((await c.call('iommu.iotlb', { domainId: 0xa0 })).entries).toEqual([]);
  });

  it('INVALID_PLATFORM_STATE (0x01) after SNP_SHUTDOWN', async () => {
    const d = await upDriver();
    expect((await c.call('fw.shutdown')).status).toBe(0);
    const page = await goodPage();
    await expectRefused(d, await d.issuePsmashIo(page), 0x01, page);
  });

  const cases: Array<[string, number, (p: PsmashPage, d: TmpmDriver) => Promise<PsmashPage> | PsmashPage, (number | undefined)?, string?]> = [
    ['RSVD_FIELD_NOT_ZERO: gctx bit 52 set', 0x12, (p) => ({ ...p, gctx: p.gctx | (1n << 52n) })],
    ['INVALID_GCTX_PG_PADDR: a page that is no guest context', 0x0e, (p) => ({ ...p, gctx: p.smashHptePaddr })],
    ['INVALID_SRC_PG_PADDR: src_pg_paddr not 2 MB aligned', 0x0c, (p) => ({ ...p, srcPgPaddr: p.srcPgPaddr + 0x1000n })],
    [
      'INVALID_HPTE_PADDR: PTE 7 with IW dropped (pte_err 4, bits 63:52)',
      0x0a,
      async (p) => {
        const pte = p.smashHptePaddr + 7n * 8n;
        await c.call('mem.write64', { spa: hex(pte), values: [hex((await word(pte)) & ~(1n << 62n))] });
        return p;
      },
      4,
    ],
    ['INVALID_HPTE_PADDR: the PTE page is a live page table (the level-2 table)', 0x0a, (p) => ({ ...p, smashHptePaddr: p.srcHpmdPaddr & ~0xfffn })],
    [
      'INVALID_OVERLAP: the PTE page is the command page itself',
      0x18,
      async (p, d) => ({ ...p, smashHptePaddr: (await d.noop()).listSpa }), // the driver reuses its one command page
    ],
    ["INVALID_HPTE_PADDR: the PTE page inside the guest's 2 MB source page (not hypervisor-owned)", 0x0a, (p) => ({ ...p, smashHptePaddr: REGION_SPA + 0x5000n })],
    ['INVALID_PAGE_PADDR: src_hpmd_paddr not in a level-2 table', 0x02, (p) => ({ ...p, srcHpmdPaddr: p.smashHptePaddr })],
    ['ADDRESSES_MISMATCH: the entry maps another 2 MB page', 0x15, (p) => ({ ...p, srcPgPaddr: REGION_SPA + 0x20_0000n })],
    [
      'INVALID_PAGE_STATE: one 4 KB RMP entry at the wrong GPA',
      0x05,
      async (p) => {
        expect((await c.call('rmp.psmash', { spa: hex(REGION_SPA) })).rc).toBe(0);
        expect((await c.call('rmp.update', { spa: hex(REGION_SPA + 0x5000n), assigned: true, pageSize: '4K', asid: 1, gpa: '0x999000' })).rc).toBe(0);
        return p;
      },
      undefined,
      '4K',
    ],
  ];
  for (const [name, status, spoil, pteError, rmpSize] of cases) {
    it(`${name}: 0x${status.toString(16).padStart(2, '0')} in the ring and the gctx word, nothing changed`, async () => {
      const d = await upDriver();
      const page = await spoil(await goodPage(), d);
      const r = await d.issuePsmashIo(page);
      await expectRefused(d, r, status, page, pteError ?? 0, rmpSize ?? '2M');
      if (pteError !== undefined) expect(d.lines.at(-1)).toContain(`pte_err ${pteError}`);
    });
  }

  it('INVALID_PAGE_SIZE (0x06): a second PSMASH_IO of a region already smashed', async () => {
    const d = await upDriver();
    expect((await d.psmashIo({ gctxSpa: await gctxOf() }, DOMAIN, REGION_SPA)).status).toBe(TMPM_SUCCESS);
    const e = await l2Entry();
    const { spa } = await c.call('mem.alloc', { pages: 1 });
    const page = { srcPgPaddr: REGION_SPA, smashHptePaddr: BigInt(spa), srcHpmdPaddr: e.spa, gctx: await gctxOf() };
    const r = await d.issuePsmashIo(page);
    expect(r.status).toBe(0x06);
    const m = await inMemory(d, r);
    expect(m.ringStatus).toBe(0x06);
    expect(m.gctx).toMatchObject({ status: 0x06, pteError: 0 });
  });

  it('INVALID_GUEST (0x08): the gctx of guest 2 for a region of guest 1 (two-guests scenario)', async () => {
    const two = JSON.parse(readFileSync(join(ROOT, 'examples', 'scenarios', 'two-guests.json'), 'utf8')) as ScenarioDocumentIn;
    await reset({ ...two, tmpm: { initialised: false } });
    const d = await upDriver();
    const guests = (await platformInfo(c)).guests;
    const page = { ...(await goodPage()), gctx: BigInt(guests.find((g) => g.asid === 2)!.gctxSpa!) };
    await expectRefused(d, await d.issuePsmashIo(page), 0x08, page);
  });

  it('INVALID_COMMAND (0x0B), INVALID_NUM_PAGES (0x03), INVALID_TMPM_LIST_ADDR (0x14): in the ring entry only, the gctx word as submitted', async () => {
    const d = await upDriver();
    const page = await goodPage();
    const bad = await d.runCommand(0x42, [page.srcPgPaddr, page.smashHptePaddr, page.srcHpmdPaddr, page.gctx]);
    expect(bad).toMatchObject({ rc: 0, status: 0x0b, statusName: 'INVALID_COMMAND' });
    expect((await inMemory(d, bad)).ringStatus).toBe(0x0b);
    const pages = await d.issuePsmashIo(page, { pages: 1 });
    expect(pages.status).toBe(0x03);
    expect((await inMemory(d, pages)).ringStatus).toBe(0x03);
    expect(pages.gctx.status).toBe(0);
    const list = await d.issuePsmashIo(page, { listOffset: 8n });
    expect(list.status).toBe(0x14);
    const m = await inMemory(d, list);
    expect(m.ringStatus).toBe(0x14);
    expect(m.gctx.status).toBe(0);
    expect((await l2Entry()).sizeLg2).toBe(21);
    // The ring entry as written: cmd_reg kept, status_reg the status.
    const q1 = await word(d.ring + BigInt(pages.index * ENTRY_BYTES) + 8n);
    expect(q1).toBe((0x03n << 32n) | (1n << 16n) | BigInt(CMD.PSMASH_IO));
  });
});
