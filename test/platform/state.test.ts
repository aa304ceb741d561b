import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { EmuError } from '../../src/util/emu-error.js';
import { psmashArgs } from '../helpers/smash.js';

const json = (p: Platform) => JSON.stringify(p.dumpState().state);

async function busyPlatform(): Promise<Platform> {
  const p = createPlatform();
  p.dmaStartStream({ deviceId: 0x100, iovaBase: 0n, length: 8 * 2 ** 20, ratePerSec: 200_000, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'poisson' });
  p.dmaStartStream({ deviceId: 0x200, iovaBase: 0n, length: 2 ** 20, ratePerSec: 50_000, accessBytes: 4096, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
  await p.clockAdvance(300_000);
  await p.tmpmPsmashIo(psmashArgs(p, 0x100, 0x20_0000n));
  await p.dmaIssue({ deviceId: 0x200, iova: 0x1000_0000n, bytes: 8, write: true }); // IO page fault: an event
  p.faultAdd({ method: 'fw.init', status: 0x3a, nth: 2 });
  await p.clockAdvance(100_000);
  return p;
}

describe('emu.dumpState / emu.loadState', () => {
  it('round-trips exactly: a loaded document dumps to the same document', async () => {
    const p = await busyPlatform();
    const doc = p.dumpState().state;
    const q = createPlatform();
    q.loadState(JSON.parse(JSON.stringify(doc)));
    expect(json(q)).toBe(JSON.stringify(doc));
  });

  it('continues identically: the same stats, events and RMP after the same calls', async () => {
    const a = await busyPlatform();
    const doc = JSON.parse(json(a));
    const b = createPlatform();
    b.loadState(doc);
    for (const p of [a, b]) await p.clockAdvance(2_000_000);
    expect(b.dmaStats({})).toEqual(a.dmaStats({}));
    expect(b.iommuEvents({})).toEqual(a.iommuEvents({}));
    expect(json(b)).toBe(json(a));
  });

  it('refuses a bad document with BAD_DOCUMENT and keeps the old state', async () => {
    const p = await busyPlatform();
    const before = json(p);
    const good = JSON.parse(before);
    const hostile: unknown[] = [
      null,
      [],
      { ...good, version: 1 },
      { ...good, version: 3 },
      { ...good, tmpm: { ...good.tmpm, regs: { ...good.tmpm.regs, rbctl: -1 } } },
      { ...good, tmpm: { ...good.tmpm, config: { ...good.tmpm.config, pdeAccess: 'dma' } } },
      { ...good, guests: [{ ...good.guests[0], gctxSpa: 3 }] },
      { ...good, format: 'other' },
      { ...good, memory: { pages: [[1e12, []]] } },
      { ...good, settings: { ...good.settings, memoryBytes: -4096 } },
      { ...good, rmp: { ...good.rmp, entries: [{ spa: 0, pageSize: '2M', count: 1e9, assigned: true, immutable: false, validated: true, vmsa: false, asid: 1, gpa: 0 }] } },
      { ...good, dma: { truncated: true } },
      { ...good, settings: { ...good.settings, cBit: 70 } },
      { ...good, settings: { ...good.settings, maxAdvanceNs: 2 ** 53 - 1 } },
      Object.fromEntries(Object.entries(good).slice(0, 8)), // truncated: the later parts missing
    ];
    for (const doc of hostile) {
      expect(() => p.loadState(doc)).toThrow(EmuError);
      expect(json(p)).toBe(before);
    }
  });
});

describe('emu.snapshot / emu.revert', () => {
  it('restores a snapshot, keeps it usable after a revert and drops newer ones', async () => {
    const p = createPlatform();
    const s1 = p.snapshot().snapshotId;
    const at1 = json(p);
    await p.clockAdvance(1000);
    const s2 = p.snapshot().snapshotId;
    await p.clockAdvance(1000);
    p.revert(s1);
    expect(json(p)).toBe(at1);
    await p.clockAdvance(5000);
    p.revert(s1);
    expect(json(p)).toBe(at1);
    expect(() => p.revert(s2)).toThrow(/no snapshot/);
  });
});
