/**
 * What AMD's TMPM driver and an adversarial pass found in the engine's control and
 * state handling (protocol/README.md §4.3.2): control writes apply between entries,
 * INIT written 0 clears the error bits whatever came before, a re-INIT while an old
 * entry runs leaves that entry on its own ring, the platform's own dump always loads
 * back, a state document's ring must lie inside memory, and a running smash resumes
 * identically after a snapshot or a dump.
 */
import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

const REG = { RBCTL: 0x00, RBTAIL: 0x04, RBHEAD: 0x08, CDATA: 0x0c, RBLOW: 0x10, RBHIGH: 0x14, STATUS: 0x1c } as const;
const ST = { READY: 1, INIT: 2, RB_ERR: 2 ** 25, WPTR_ERR: 2 ** 26, TOGGLE: 2 ** 31 } as const;
const MB2 = 0x20_0000;

const read = (p: Platform, off: number) => p.tmpmReadReg(off).value;
const write = (p: Platform, off: number, value: number) => p.tmpmWriteReg(off, value);

function bare(): Platform {
  return createPlatform({ ...DEFAULT_SCENARIO, tmpm: { ...DEFAULT_SCENARIO.tmpm, initialised: false } });
}

/** A 2 MB-aligned run of pool pages whose first page is Hypervisor-Fixed, as AMD's driver prepares its ring. */
function ringPages(p: Platform, pages: number): number {
  const spa = p.m.pool.alloc(pages, MB2);
  expect(p.rmpUpdate(spa, { assigned: false, pageSize: '4K', immutable: true }).rc).toBe(0);
  return spa;
}

function setRing(p: Platform, spa: number, pages: number): void {
  write(p, REG.RBLOW, spa % 2 ** 32);
  write(p, REG.RBHIGH, Math.floor(spa / 2 ** 32));
  write(p, REG.CDATA, pages);
}

/** A PSMASH_IO command page for the second 2 MB of domain 1, without jitter (2 ms stall). */
function psmashPage(p: Platform): number {
  p.tmpmSetStallModel({ jitter: { dist: 'none' } });
  const prep = p.tmpmPreparePsmash(1, 0x20_0000n);
  const list = Number(p.memAlloc(1).spa);
  p.memWrite64(list, [prep.srcPgSpa, prep.smashHpteSpa, prep.srcHpmdSpa, prep.gctxSpa]);
  return list;
}

/** The platform's own dump loads back on a fresh platform and dumps identically. */
function roundTrips(p: Platform): void {
  const dumped = JSON.parse(JSON.stringify(p.dumpState().state));
  const q = createPlatform();
  expect(() => q.loadState(dumped)).not.toThrow();
  expect(JSON.stringify(q.dumpState().state)).toBe(JSON.stringify(dumped));
}

describe('control writes apply between entries', () => {
  it('INIT cleared while a PSMASH_IO runs: the entry writes its status and RBTAIL reaches the head before INIT clears and TOGGLE flips', async () => {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    const list = psmashPage(p);
    p.memWrite64(ring, [BigInt(list), 0x5n]);
    write(p, REG.RBHEAD, 1);
    expect(p.tmpmRegs().engine.running).toMatchObject({ index: 0, commandName: 'PSMASH_IO' });
    const toggle0 = read(p, REG.STATUS) >= ST.TOGGLE;
    // The driver's teardown: clear INIT, then wait for the ring to drain.
    write(p, REG.RBCTL, 0);
    await p.clockAdvance(2000);
    // Due, but the entry runs: held, nothing applied yet.
    expect(read(p, REG.STATUS)).toBe(ST.READY + ST.INIT + (toggle0 ? ST.TOGGLE : 0));
    expect(p.tmpmRegs().engine.heldControlWrites).toBe(1);
    roundTrips(p);
    await p.clockAdvance(2_000_000);
    // Status written, tail advanced to the head, then INIT applied.
    expect(p.memRead64(ring + 8, 1).values[0]).toBe(0xf0_0000_0005n);
    expect(read(p, REG.RBTAIL)).toBe(1);
    expect(read(p, REG.STATUS)).toBe(ST.READY + (toggle0 ? 0 : ST.TOGGLE));
    expect(p.tmpmRegs().engine).toMatchObject({ heldControlWrites: 0, pending: 0, initialised: false });
    roundTrips(p);
  });

  it('PAUSE written while an entry runs applies after it; later entries wait for PAUSE 0', async () => {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    const list = psmashPage(p);
    const noop = Number(p.memAlloc(1).spa);
    p.memWrite64(ring, [BigInt(list), 0x5n, BigInt(noop), 0x1n]);
    write(p, REG.RBHEAD, 2);
    write(p, REG.RBCTL, 3);
    await p.clockAdvance(2_100_000);
    expect(read(p, REG.RBTAIL)).toBe(1);
    expect(p.tmpmRegs().engine).toMatchObject({ paused: true, running: null, pending: 1 });
    write(p, REG.RBCTL, 2);
    await p.clockAdvance(3000);
    expect(read(p, REG.RBTAIL)).toBe(2);
  });
});

describe('INIT written 0 clears RB_ERR and WPTR_ERR whatever came before', () => {
  it('after a refused INIT (RB_ERR), INIT 0 clears RB_ERR', async () => {
    const p = bare();
    setRing(p, 0x1000, 0); // 0 pages: refused
    write(p, REG.RBCTL, 2);
    await p.clockAdvance(2000);
    expect(read(p, REG.STATUS)).toBe(ST.READY + ST.RB_ERR + ST.TOGGLE);
    write(p, REG.RBCTL, 0);
    await p.clockAdvance(2000);
    expect(read(p, REG.STATUS)).toBe(ST.READY);
    // And a good ring is accepted after it.
    setRing(p, ringPages(p, 1), 1);
    write(p, REG.RBCTL, 2);
    await p.clockAdvance(2000);
    expect(read(p, REG.STATUS)).toBe(ST.READY + ST.INIT + ST.TOGGLE);
  });

  it('after WPTR_ERR, INIT 0 clears it and DRIVER_INIT', async () => {
    const p = createPlatform();
    write(p, REG.RBHEAD, 300);
    expect(read(p, REG.STATUS) & ST.WPTR_ERR).toBe(ST.WPTR_ERR);
    write(p, REG.RBCTL, 0);
    await p.clockAdvance(2000);
    expect(read(p, REG.STATUS) & (ST.WPTR_ERR | ST.RB_ERR | ST.INIT)).toBe(0);
  });
});

describe('re-INIT on a new, smaller ring while an entry of the old ring runs', () => {
  it('the old entry finishes on the old ring; the new ring starts empty at 0; every dump on the way loads back', async () => {
    const p = bare();
    const oldRing = ringPages(p, 2);
    setRing(p, oldRing, 2);
    write(p, REG.RBCTL, 2);
    await p.clockAdvance(2000);
    expect(p.tmpmRegs().engine.ringEntries).toBe(512);
    // 300 NOOPs, then a PSMASH_IO at index 300 (past the end of a one-page ring).
    const noop = Number(p.memAlloc(1).spa);
    const words: bigint[] = [];
    for (let i = 0; i < 300; i++) words.push(BigInt(noop), 0x1n);
    const list = psmashPage(p);
    words.push(BigInt(list), 0x5n);
    p.memWrite64(oldRing, words);
    write(p, REG.RBHEAD, 301);
    await p.clockAdvance(300_000);
    expect(p.tmpmRegs().engine.running).toMatchObject({ index: 300, commandName: 'PSMASH_IO' });
    const toggle0 = read(p, REG.STATUS) >= ST.TOGGLE;

    // The driver re-initialises on a one-page ring.
    const newRing = ringPages(p, 1);
    write(p, REG.RBCTL, 0);
    setRing(p, newRing, 1);
    write(p, REG.RBCTL, 2);
    await p.clockAdvance(4000);
    expect(p.tmpmRegs().engine).toMatchObject({ heldControlWrites: 2, ringEntries: 512 });
    roundTrips(p);
    await p.clockAdvance(2_000_000);

    expect(p.memRead64(oldRing + 300 * 16 + 8, 1).values[0]).toBe(0xf0_0000_0005n);
    expect(p.tmpmRegs().engine).toMatchObject({ initialised: true, ringEntries: 256, ringSpa: BigInt(newRing), head: 0, pending: 0, running: null, heldControlWrites: 0 });
    expect(read(p, REG.RBTAIL)).toBe(0);
    expect(read(p, REG.STATUS)).toBe(ST.READY + ST.INIT + (toggle0 ? ST.TOGGLE : 0));
    // Nothing was written into the new ring's page or past it.
    expect(p.memRead64(newRing, 512).values.every((v) => v === 0n)).toBe(true);
    expect(p.memRead64(newRing + 4096, 512).values.every((v) => v === 0n)).toBe(true);
    roundTrips(p);
    // The new ring works.
    p.memWrite64(newRing, [BigInt(noop), 0x1n]);
    write(p, REG.RBHEAD, 1);
    await p.clockAdvance(1000);
    expect(read(p, REG.RBTAIL)).toBe(1);
    expect(p.audit().clean).toBe(true);
  });
});

describe('emu.loadState checks the whole ring', () => {
  it('a tmpm.ring that runs past the end of memory is refused, naming it, and nothing changes', () => {
    const p = createPlatform();
    const good = p.dumpState().state;
    const doc = JSON.parse(JSON.stringify(good));
    const memoryBytes = doc.settings.memoryBytes as number;
    // The base is inside memory, the 16-page (4096-entry) ring is not.
    doc.tmpm.ring.baseSpa = memoryBytes - 4096;
    doc.tmpm.ring.entries = 4096;
    doc.tmpm.regs.cdata = 16;
    expect(() => p.loadState(doc)).toThrow(/tmpm\.ring runs past the end of memory/);
    const misaligned = JSON.parse(JSON.stringify(good));
    misaligned.tmpm.ring.baseSpa += 8;
    expect(() => p.loadState(misaligned)).toThrow(/tmpm\.ring\.baseSpa must be 4 KB aligned/);
    const oddEntries = JSON.parse(JSON.stringify(good));
    oddEntries.tmpm.ring.entries = 300;
    expect(() => p.loadState(oddEntries)).toThrow(/tmpm\.ring\.entries/);
    expect(JSON.stringify(p.dumpState().state)).toBe(JSON.stringify(good));
  });
});

describe('a hand-rung PSMASH_IO stalled across a snapshot or a dump resumes identically', () => {
  async function stalledSmash() {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    const list = psmashPage(p);
    // Fixed-rate DMA of device 01:00.0 (domain 1): held while the stall lasts.
    p.dmaStartStream({ deviceId: 0x100, iovaBase: 0n, length: 0x4000_0000, ratePerSec: 1e6, accessBytes: 64, writeRatio: 0, pattern: 'random', arrival: 'fixed' });
    p.memWrite64(ring, [BigInt(list), 0x5n]);
    write(p, REG.RBHEAD, 1);
    await p.clockAdvance(1_000_000);
    return { p, ring };
  }

  function record(p: Platform) {
    const seen: Array<{ topic: string; data: Record<string, unknown> }> = [];
    p.bus.subscribe(['stall', 'tmpm'], (topic, _atNs, data) => seen.push({ topic, data: data as Record<string, unknown> }));
    return seen;
  }

  const ends = (seen: Array<{ topic: string; data: Record<string, unknown> }>) => ({
    stallEnd: seen.filter((e) => e.topic === 'stall' && e.data['phase'] === 'end').map((e) => ({ endNs: e.data['endNs'], srcPgSpa: e.data['srcPgSpa'], domains: e.data['domains'] })),
    commands: seen.filter((e) => e.topic === 'tmpm' && e.data['kind'] === 'command').map((e) => ({ status: e.data['status'], dmaHeld: e.data['dmaHeld'], endNs: e.data['endNs'] })),
  });

  it('emu.revert: the stall end event comes and dmaHeld counts the requests held before and after the snapshot', async () => {
    const { p } = await stalledSmash();
    const { snapshotId } = p.snapshot();
    const seen = record(p);
    await p.clockAdvance(2_000_000);
    const first = ends(seen);
    expect(first.stallEnd).toHaveLength(1);
    expect(first.commands).toHaveLength(1);
    expect(first.commands[0]?.dmaHeld).toBeGreaterThan(1000);
    const after = JSON.stringify(p.dumpState().state);
    seen.length = 0;
    p.revert(snapshotId);
    await p.clockAdvance(2_000_000);
    expect(ends(seen)).toEqual(first);
    expect(JSON.stringify(p.dumpState().state)).toBe(after);
  });

  it('emu.dumpState / emu.loadState: the same', async () => {
    const { p } = await stalledSmash();
    const dumped = JSON.parse(JSON.stringify(p.dumpState().state));
    expect(dumped.tmpm.running.smash).toMatchObject({ srcPgSpa: 0x100200000, reaches: [{ domainId: 1, iova: '0x200000' }] });
    const seen = record(p);
    await p.clockAdvance(2_000_000);
    const first = ends(seen);
    const q = createPlatform();
    const seenQ = record(q);
    q.loadState(dumped);
    await q.clockAdvance(2_000_000);
    expect(ends(seenQ)).toEqual(first);
    expect(JSON.stringify(q.dumpState().state)).toBe(JSON.stringify(p.dumpState().state));
  });
});

describe('emu.loadState over the wire: a ring past the end of memory', () => {
  it('is -32602 naming tmpm.ring, and the platform is unchanged', async () => {
    const { startTestApp } = await import('../helpers/app.js');
    const t = await startTestApp();
    try {
      await t.call('clock.advance', { ns: 1000 });
      const { state } = await t.call('emu.dumpState');
      const doc = JSON.parse(JSON.stringify(state));
      doc.tmpm.ring.baseSpa = doc.settings.memoryBytes - 4096;
      doc.tmpm.ring.entries = 4096;
      await expect(t.call('emu.loadState', { state: doc })).rejects.toMatchObject({ code: -32602, message: expect.stringMatching(/tmpm\.ring runs past the end of memory/) });
      expect(JSON.stringify((await t.call('emu.dumpState')).state)).toBe(JSON.stringify(state));
    } finally {
      await t.stop();
    }
  });
});
