/**
 * The TMPM device model (protocol/README.md §4.3.1 Registers, §4.3.2 Control, §4.3.3
 * The ring): what a driver sees through the mailbox and the ring in memory.
 */
import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { EmuError } from '../../src/util/emu-error.js';

const REG = { RBCTL: 0x00, RBTAIL: 0x04, RBHEAD: 0x08, CDATA: 0x0c, RBLOW: 0x10, RBHIGH: 0x14, THRESH: 0x18, STATUS: 0x1c } as const;
const ST = { READY: 1, INIT: 2, RB_ERR: 2 ** 25, WPTR_ERR: 2 ** 26, TOGGLE: 2 ** 31 } as const;
const MB2 = 0x20_0000;

const read = (p: Platform, off: number) => p.tmpmReadReg(off).value;
const write = (p: Platform, off: number, value: number) => p.tmpmWriteReg(off, value);

/** A platform whose engine the client's driver brings up. */
function bare(overrides: Partial<typeof DEFAULT_SCENARIO> = {}): Platform {
  return createPlatform({ ...DEFAULT_SCENARIO, tmpm: { ...DEFAULT_SCENARIO.tmpm, initialised: false }, ...overrides });
}

/** A 2 MB-aligned pool page made Hypervisor-Fixed, as AMD's driver prepares its ring. */
function ringPage(p: Platform, fixed = true): number {
  const spa = p.m.pool.alloc(1, MB2);
  if (fixed) expect(p.rmpUpdate(spa, { assigned: false, pageSize: '4K', immutable: true }).rc).toBe(0);
  return spa;
}

async function control(p: Platform, value: number): Promise<void> {
  const before = read(p, REG.STATUS) >= ST.TOGGLE;
  write(p, REG.RBCTL, value);
  expect(read(p, REG.STATUS) >= ST.TOGGLE, 'TOGGLE flips only after ctlNs').toBe(before);
  await p.clockAdvance(1999);
  expect(read(p, REG.STATUS) >= ST.TOGGLE).toBe(before);
  await p.clockAdvance(1);
  expect(read(p, REG.STATUS) >= ST.TOGGLE, 'TOGGLE flips ctlNs (2000 ns) after the write').toBe(!before);
}

async function bringUp(p: Platform, spa: number): Promise<void> {
  write(p, REG.RBLOW, spa % 2 ** 32);
  write(p, REG.RBHIGH, Math.floor(spa / 2 ** 32));
  write(p, REG.CDATA, 1);
  write(p, REG.RBHEAD, 0);
  await control(p, 2);
}

describe('TMPM registers', () => {
  it('the default engine is up as the host driver leaves it: ENGINE_READY | DRIVER_INIT, INIT in RBCTL, ring in a Hypervisor-Fixed 2 MB-aligned page', () => {
    const p = createPlatform();
    expect(read(p, REG.STATUS)).toBe(ST.READY | ST.INIT);
    expect(read(p, REG.RBCTL)).toBe(2);
    expect(read(p, REG.CDATA)).toBe(1);
    const ring = Number(p.info().tmpm.ringSpa);
    expect(ring % MB2).toBe(0);
    expect(read(p, REG.RBLOW) + read(p, REG.RBHIGH) * 2 ** 32).toBe(ring);
    expect(p.rmpRead(ring)).toMatchObject({ assigned: false, immutable: true, pageSize: '4K' });
    expect(p.info().tmpm).toMatchObject({ deviceId: 0xa0, initialised: true, ringEntries: 256, pdeAccess: 'direct' });
    expect(p.iommuReadDte(0xa0)).toMatchObject({ valid: true, translationValid: true, domainId: 0xa0 });
  });

  it('RBHEAD reads 0; RBTAIL and STATUS refuse writes; other offsets and values out of range are refused; nothing changes', () => {
    const p = createPlatform();
    write(p, REG.THRESH, 0xdeadbeef);
    expect(read(p, REG.THRESH)).toBe(0xdeadbeef);
    expect(read(p, REG.RBHEAD)).toBe(0);
    const before = JSON.stringify(p.tmpmRegs(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    for (const [off, val] of [
      [REG.RBTAIL, 1],
      [REG.STATUS, 0],
      [0x20, 0],
      [0x02, 0],
      [-4, 0],
      [REG.THRESH, 2 ** 32],
      [REG.THRESH, -1],
      [REG.THRESH, 1.5],
    ] as const) {
      expect(() => write(p, off, val)).toThrow(EmuError);
    }
    expect(() => read(p, 0x40)).toThrow(/not a TMPM register/);
    expect(JSON.stringify(p.tmpmRegs(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).toBe(before);
  });

  it("bring-up as AMD's driver does it: INIT sets DRIVER_INIT after ctlNs with tail and head 0", async () => {
    const p = bare();
    expect(read(p, REG.STATUS)).toBe(ST.READY);
    const spa = ringPage(p);
    await bringUp(p, spa);
    expect(read(p, REG.STATUS) & 0x7fff_ffff).toBe(ST.READY | ST.INIT);
    expect(read(p, REG.RBTAIL)).toBe(0);
    expect(p.tmpmRegs().engine).toMatchObject({ initialised: true, ringEntries: 256, ringSpa: BigInt(spa) });
    const caps = await p.tmpmGetCapabilities();
    expect(caps).toMatchObject({ statusName: 'SUCCESS', psmash: true, punsmash: true, fwVersion: '1.0', specVersion: '0.51' });
  });

  it('INIT refuses a bad ring with RB_ERR and an interrupt: size 0 or 17, misaligned, outside memory, under SNP not 2 MB aligned or not Hypervisor-Fixed', async () => {
    const setRing = (p: Platform, spa: number, pages: number) => {
      write(p, REG.RBLOW, spa % 2 ** 32);
      write(p, REG.RBHIGH, Math.floor(spa / 2 ** 32));
      write(p, REG.CDATA, pages);
    };
    const cases: Array<[string, (p: Platform) => void]> = [
      ['CDATA 0', (p) => setRing(p, ringPage(p), 0)],
      ['CDATA 17', (p) => setRing(p, ringPage(p), 17)],
      ['4 KB misaligned', (p) => setRing(p, ringPage(p) + 8, 1)],
      ['outside memory', (p) => setRing(p, 0x100 * 2 ** 32, 1)],
      [
        'not 2 MB aligned under SNP',
        (p) => {
          const spa = ringPage(p) + 0x1000;
          expect(p.rmpUpdate(spa, { assigned: false, pageSize: '4K', immutable: true }).rc).toBe(0);
          setRing(p, spa, 1);
        },
      ],
      ['not Hypervisor-Fixed under SNP', (p) => setRing(p, ringPage(p, false), 1)],
    ];
    for (const [name, setUp] of cases) {
      const p = bare();
      const seen: unknown[] = [];
      p.bus.subscribe(['tmpm'], (_t, _at, data) => seen.push(data));
      setUp(p);
      await control(p, 2);
      expect(read(p, REG.STATUS) & 0x7fff_ffff, name).toBe(ST.READY | ST.RB_ERR);
      expect(seen, name).toContainEqual(expect.objectContaining({ kind: 'interrupt', reason: 'RB_ERR' }));
      expect(p.tmpmRegs().engine.initialised).toBe(false);
    }
  });

  it('without SNP the ring needs only 4 KB alignment', async () => {
    const p = bare({ firmware: { snpInit: false, tioInit: false } });
    const spa = p.m.pool.alloc(1);
    await bringUp(p, spa % MB2 === 0 ? spa + 0x1000 : spa);
    expect(read(p, REG.STATUS) & ST.INIT).toBe(ST.INIT);
  });

  it('RBHEAD at or past the ring size sets WPTR_ERR, raises an interrupt and stops the engine until INIT is cleared and set again', async () => {
    const p = createPlatform();
    const seen: Array<Record<string, unknown>> = [];
    p.bus.subscribe(['tmpm'], (_t, _at, data) => seen.push(data));
    write(p, REG.RBHEAD, 256);
    expect(read(p, REG.STATUS) & ST.WPTR_ERR).toBe(ST.WPTR_ERR);
    expect(seen).toContainEqual(expect.objectContaining({ kind: 'interrupt', reason: 'WPTR_ERR' }));
    await expect(p.tmpmGetCapabilities()).rejects.toThrow(/WPTR_ERR/);
    await control(p, 0);
    expect(read(p, REG.STATUS) & (ST.WPTR_ERR | ST.INIT)).toBe(0);
    await control(p, 2);
    expect(read(p, REG.STATUS) & (ST.WPTR_ERR | ST.INIT)).toBe(ST.INIT);
    expect((await p.tmpmGetCapabilities()).statusName).toBe('SUCCESS');
  });

  it('RBHEAD is ignored while DRIVER_INIT is clear', () => {
    const p = bare();
    write(p, REG.RBHEAD, 5);
    expect(read(p, REG.STATUS)).toBe(ST.READY);
    expect(p.tmpmRegs().engine.head).toBe(0);
  });

  it('runs ring entries one at a time in order, writes the status into status_reg, then advances RBTAIL', async () => {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    const list = Number(p.memAlloc(1).spa);
    // Three NOOPs and a GET_CAPABILITIES, written by hand.
    p.memWrite64(ring, [BigInt(list), 0x1n, BigInt(list), 0x1n, BigInt(list), 0x1n, BigInt(list), 0x0n]);
    write(p, REG.RBHEAD, 4);
    expect(p.tmpmRegs().engine.pending).toBe(4);
    await p.clockAdvance(999);
    expect(read(p, REG.RBTAIL)).toBe(0);
    await p.clockAdvance(1);
    expect(read(p, REG.RBTAIL)).toBe(1);
    expect(p.memRead64(ring + 8, 1).values[0]).toBe(0xf0_0000_0001n);
    await p.clockAdvance(3000);
    expect(read(p, REG.RBTAIL)).toBe(4);
    expect(p.memRead64(ring + 56, 1).values[0]).toBe(0xf0_0000_0000n);
    expect(p.memRead64(list, 2).values).toEqual([0x100_0000_0000_0000n, 0xc0_0033_0000n]);
  });

  it('PAUSE stops new entries from starting; clearing it resumes them', async () => {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    await control(p, 3);
    p.memWrite64(ring, [0n, 0x1n]);
    write(p, REG.RBHEAD, 1);
    await p.clockAdvance(100_000);
    expect(read(p, REG.RBTAIL)).toBe(0);
    await expect(p.tmpmGetCapabilities()).rejects.toThrow(/paused/);
    await control(p, 2);
    await p.clockAdvance(1000);
    expect(read(p, REG.RBTAIL)).toBe(1);
  });

  it('INIT 1 -> 0 drops pending entries and clears DRIVER_INIT', async () => {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    await control(p, 3);
    p.memWrite64(ring, [0n, 0x1n, 0n, 0x1n]);
    write(p, REG.RBHEAD, 2);
    await control(p, 0);
    expect(read(p, REG.STATUS) & ST.INIT).toBe(0);
    expect(p.tmpmRegs().engine.pending).toBe(0);
    await p.clockAdvance(10_000);
    expect(p.memRead64(ring + 8, 1).values[0]).toBe(0x1n);
  });

  it('convenience calls refuse an engine that is not up, and a full ring (the driver -EAGAIN), changing nothing', async () => {
    const p = bare();
    await expect(p.tmpmGetCapabilities()).rejects.toMatchObject({ code: 'EMU_WRONG_MODE' });
    const q = createPlatform();
    await control(q, 3);
    const ring = Number(q.info().tmpm.ringSpa);
    const entries: bigint[] = [];
    for (let i = 0; i < 255; i++) entries.push(0n, 0x1n);
    q.memWrite64(ring, entries);
    write(q, REG.RBHEAD, 255);
    await expect(q.tmpmSubmit({ command: 1, listSpa: 0n })).rejects.toMatchObject({ code: 'EMU_WRONG_MODE' });
    await control(q, 2);
    // 255 entries pending behind a tail of 0: CIRC_SPACE(255, 0, 256) is 0 until they drain.
    const slot255 = q.memRead64(ring + 255 * 16, 2).values;
    await expect(q.tmpmSubmit({ command: 1, listSpa: 0n })).rejects.toMatchObject({ code: 'EMU_LIMIT', message: expect.stringMatching(/ring is full/) });
    expect(q.memRead64(ring + 255 * 16, 2).values).toEqual(slot255);
    await q.clockAdvance(255_000);
    expect(read(q, REG.RBTAIL)).toBe(255);
    expect((await q.tmpmSubmit({ command: 1, listSpa: 0n })).statusName).toBe('SUCCESS');
  });
});

describe('TMPM state', () => {
  it('dumps and reloads mid-command: registers, ring position, pending control writes and the running entry', async () => {
    const p = createPlatform();
    p.tmpmSetStallModel({ jitter: { dist: 'none' } });
    const prep = p.tmpmPreparePsmash(1, 0x20_0000n);
    const list = Number(p.memAlloc(1).spa);
    p.memWrite64(list, [prep.srcPgSpa, prep.smashHpteSpa, prep.srcHpmdSpa, prep.gctxSpa]);
    const ring = Number(p.info().tmpm.ringSpa);
    p.memWrite64(ring, [BigInt(list), 0x5n]);
    write(p, REG.RBHEAD, 1);
    write(p, REG.THRESH, 7);
    write(p, REG.RBCTL, 2);
    await p.clockAdvance(1000);
    const dumped = p.dumpState().state;
    const q = createPlatform();
    q.loadState(JSON.parse(JSON.stringify(dumped)));
    expect(JSON.stringify(q.dumpState().state)).toBe(JSON.stringify(dumped));
    for (const x of [p, q]) await x.clockAdvance(3_000_000);
    expect(JSON.stringify(q.dumpState().state)).toBe(JSON.stringify(p.dumpState().state));
    expect(q.memRead64(ring + 8, 1).values[0]).toBe(0xf0_0000_0005n);
    expect(read(q, REG.RBTAIL)).toBe(1);
  });

  it('a snapshot keeps the engine; revert restores registers and stall model', async () => {
    const p = createPlatform();
    const { snapshotId } = p.snapshot();
    p.tmpmSetStallModel({ baseNs: 5 });
    write(p, REG.THRESH, 9);
    p.revert(snapshotId);
    expect(read(p, REG.THRESH)).toBe(0);
    expect(p.tmpmGetStallModel().baseNs).toBe(2_000_000);
  });

  it('refuses a malformed tmpm section as BAD_DOCUMENT and keeps the old state', () => {
    const p = createPlatform();
    const good = p.dumpState().state;
    const broken = JSON.parse(JSON.stringify(good));
    broken.tmpm.ring.tail = 9999;
    expect(() => p.loadState(broken)).toThrow(/tmpm\.ring\.tail/);
    const noSection = JSON.parse(JSON.stringify(good));
    delete noSection.tmpm;
    expect(() => p.loadState(noSection)).toThrow(/tmpm is missing/);
    expect(JSON.stringify(p.dumpState().state)).toBe(JSON.stringify(good));
  });

  it('refuses an RBCTL write past 64 waiting ones with EMU_LIMIT and changes nothing', async () => {
    const p = createPlatform();
    for (let i = 0; i < 64; i++) write(p, REG.RBCTL, 2);
    const before = JSON.stringify(p.dumpState().state);
    expect(() => write(p, REG.RBCTL, 3)).toThrow(expect.objectContaining({ code: 'EMU_LIMIT' }));
    expect(JSON.stringify(p.dumpState().state)).toBe(before);
    expect(read(p, REG.RBCTL)).toBe(2);
    expect(p.tmpmRegs().engine.pendingControlWrites).toBe(64);
    await p.clockAdvance(2000);
    expect(p.tmpmRegs().engine.pendingControlWrites).toBe(0);
    write(p, REG.RBCTL, 2);
    expect(p.tmpmRegs().engine.pendingControlWrites).toBe(1);
  });
});
