/**
 * Model-based tests (issue 6 item 1): seeded random sequences of RMP instructions,
 * IOMMU map/unmap/INVALIDATE commands, firmware smash/unsmash/page-unsmash (with
 * correct and corrupted tables), DMA and clock steps, run in process on the library
 * against the reference model in test/helpers/model.ts. After every step:
 * - the call's outcome is the model's (firmware status, RMP rc, NPF, DMA outcome);
 * - a rejected call changed nothing (the whole emu.dumpState document is equal);
 * - rmp.read of the touched page is the model's entry;
 * - emu.audit reports exactly the violation kinds the model predicts (none while
 *   the sequence kept TEE-IO leaf size == RMP size and invalidated what it unmapped);
 * and at random points snapshot/revert and dumpState/loadState restore exactly.
 * A second property keeps a DMA stream running over the regions while the smash
 * engine splits and merges them: no request ever sees a half-done smash.
 *
 * The seed is the run's (test/helpers/fc-seed.ts: printed, SMASH_EMU_SEED replays
 * it); SMASH_EMU_RUNS_SCALE (4 in .ci/run) runs more sequences, SMASH_EMU_LONG=1 many
 * more and longer ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runs, runSeed } from '../helpers/fc-seed.js';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { encodeInvalidateDomain, encodeInvalidatePages } from '../../src/iommu/command.js';
import { findIopde, gctxOf, prepareSmashTable } from '../helpers/smash.js';
import {
  GUEST_SPA,
  K4,
  MB2,
  MODEL_SCENARIO,
  PAGE_CHOICES,
  PlatformModel,
  REGIONS,
  FOREIGN_GPA_OFFSET,
  TEE_DEV,
  UNTRUSTED_DEV,
  UNTRUSTED_DOMAIN,
  UNTRUSTED_PAGES,
  UNTRUSTED_SPA,
  type Expected,
  type PageState,
  type SmashCorruption,
} from '../helpers/model.js';

const LONG = process.env['SMASH_EMU_LONG'] === '1';
const SEED = runSeed();

const region = fc.nat(REGIONS - 1);
const page = fc.constantFrom(...PAGE_CHOICES);
const upage = fc.nat(UNTRUSTED_PAGES - 1);
const size = fc.constantFrom('4K' as const, '2M' as const);
const corruption = fc.constantFrom<SmashCorruption>('none', 'none', 'none', 'misalignedTable', 'wrongIopde', 'ownedTable', 'badPte');

const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('smash' as const), r: region, c: corruption }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unsmash' as const), r: region, wrong: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rmpUpdate' as const), r: region, k: page, size, target: fc.constantFrom<PageState>('ok', 'ok', 'hv', 'foreign') }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('psmash' as const), r: region }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pageUnsmash' as const), r: region }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('pvalidate' as const), r: region, k: page, size, validate: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('teeDma' as const), r: region, k: page, write: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('untrustedDma' as const), j: upage, write: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unmap' as const), j: upage }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('map' as const), j: upage }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invalidate' as const), j: fc.oneof(upage, fc.constant('all' as const)) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('toggleFirmware' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ns: fc.integer({ min: 0, max: 3_000_000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('roundtrip' as const) }) },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const dump = (p: Platform): string => JSON.stringify(p.dumpState().state);

/**
 * The dump minus what a refused TMPM command does change (protocol/README.md §4.3.5:
 * the first failure writes its status and changes nothing else): the clock's event
 * seq, the engine (tail, counters), its ring page, and pool pages no one holds (the
 * freed command page keeps the statuses the engine wrote there).
 */
function dumpBesidesEngine(p: Platform): string {
  const state = p.dumpState().state as unknown as Record<string, unknown>;
  const ringPfn = Number(p.info().tmpm.ringSpa) / 4096;
  const pool = p.m.pool.getState();
  const held = (pfn: number) => pool.allocated.some(([spa, n]) => pfn >= spa / 4096 && pfn < spa / 4096 + n);
  const inPool = (pfn: number) => pfn >= p.m.pool.baseSpa / 4096;
  const memory = state['memory'] as { pages: Array<[number, unknown]> };
  return JSON.stringify({ ...state, clock: undefined, tmpm: undefined, memory: { pages: memory.pages.filter(([pfn]) => pfn !== ringPfn && !(inPool(pfn) && !held(pfn))) } });
}

const regionSpa = (r: number): number => GUEST_SPA + r * MB2;
const regionIova = (r: number): bigint => BigInt(r * MB2);

/** The outcome of a call in the model's terms, and whether the call left the platform as it was. */
function observed(r: unknown): Expected {
  const o = r as Record<string, unknown>;
  if ('status' in o) return { status: o['status'] as number };
  if ('npf' in o) return { npf: '0x' + (o['npf'] as { errorCode: bigint }).errorCode.toString(16) };
  if ('outcome' in o) return { outcome: o['outcome'] as string };
  return o['noUpdate'] === true ? { rc: o['rc'] as number, noUpdate: true } : { rc: o['rc'] as number };
}

function rejected(e: Expected): boolean {
  return ('status' in e && e.status !== 0 && e.status !== 0xf0) || ('rc' in e && (e.rc !== 0 || e.noUpdate === true)) || 'npf' in e;
}

/** Zeroes and frees a table page the firmware did not keep (the state dump stays small). */
function dropTable(p: Platform, spa: number): void {
  p.memWrite64(spa, new Array<bigint>(512).fill(0n));
  p.memFree(spa, 1);
}

async function smashStep(p: Platform, m: PlatformModel, r: number, c: SmashCorruption): Promise<void> {
  const iova = regionIova(r);
  const { iopdeSpa, iopde } = findIopde(p, TEE_DEV, iova);
  const tableSpa = prepareSmashTable(p, iopde);
  if (c === 'ownedTable') expect(p.rmpUpdate(tableSpa, { assigned: true, pageSize: '4K', asid: 1, gpa: 0x3000_0000 }).rc).toBe(0);
  if (c === 'badPte') p.memWrite64(tableSpa + 7 * 8, [p.m.memory.word(tableSpa + 7 * 8) ^ (1n << 61n)]);
  const args = {
    srcPgSpa: BigInt(regionSpa(r)),
    smashHpteSpa: BigInt(c === 'misalignedTable' ? tableSpa + 8 : tableSpa),
    srcHpmdSpa: BigInt(c === 'wrongIopde' ? iopdeSpa + 8 : iopdeSpa),
    gctxSpa: gctxOf(p),
  };
  const before = dumpBesidesEngine(p);
  const got = observed(await p.tmpmPsmashIo(args));
  const want = m.smash(r, c);
  expect(got, `smash region ${r} corruption ${c}`).toEqual(want);
  if (rejected(got)) {
    expect(dumpBesidesEngine(p), 'a refused PSMASH_IO changed more than its statuses').toBe(before);
    if (c === 'ownedTable') expect(p.rmpUpdate(tableSpa, { assigned: false, pageSize: '4K' }).rc).toBe(0);
    dropTable(p, tableSpa);
  }
}

async function unsmashStep(p: Platform, m: PlatformModel, r: number, wrong: boolean): Promise<void> {
  const iova = regionIova(r);
  const { iopdeSpa } = findIopde(p, TEE_DEV, iova);
  const before = dumpBesidesEngine(p);
  const res = await p.tmpmPunsmashIo({ srcPgSpa: BigInt(regionSpa(r)), srcHpmdSpa: BigInt(wrong ? iopdeSpa + 8 : iopdeSpa), gctxSpa: gctxOf(p) });
  const got = observed(res);
  expect(got, `unsmash region ${r}${wrong ? ' (wrong srcHpmdSpa)' : ''}`).toEqual(m.unsmash(r, wrong));
  if (rejected(got)) expect(dumpBesidesEngine(p), 'a refused PUNSMASH_IO changed more than its statuses').toBe(before);
  else dropTable(p, Number(res.hpteSpa));
}

/**
 * The dump minus what a refused firmware command changes through the mailbox: the
 * clock (each command runs psp.cmdNs), the mailbox registers and counters, and the
 * freed command-buffer page.
 */
function dumpBesidesMailbox(p: Platform): string {
  const state = p.dumpState().state as unknown as Record<string, unknown>;
  const psp = state['psp'] as { device: Record<string, unknown> };
  const pool = p.m.pool.getState();
  const held = (pfn: number) => pool.allocated.some(([spa, n]) => pfn >= spa / 4096 && pfn < spa / 4096 + n);
  const inPool = (pfn: number) => pfn >= p.m.pool.baseSpa / 4096;
  const memory = state['memory'] as { pages: Array<[number, unknown]> };
  return JSON.stringify({
    ...state,
    clock: undefined,
    psp: { ...psp, device: { ...psp.device, regs: undefined, nextSeq: undefined, commands: undefined } },
    memory: { pages: memory.pages.filter(([pfn]) => !(inPool(pfn) && !held(pfn))) },
  });
}

/** Checks a call's outcome and, when the model says it was refused or changed nothing, that the dump is unchanged. */
async function checked(p: Platform, label: string, want: Expected, call: () => unknown): Promise<void> {
  const snap = label.startsWith('fw.') ? dumpBesidesMailbox : dump;
  // A mailbox command takes virtual time: let DMA in flight finish first, so only the command can change the dump.
  if (label.startsWith('fw.')) await p.clockAdvance(100_000);
  const before = rejected(want) ? snap(p) : undefined;
  const got = observed(await call());
  expect(got, label).toEqual(want);
  if (before !== undefined) expect(snap(p), `${label}: refused, yet the platform changed`).toBe(before);
}

async function roundtrip(p: Platform): Promise<void> {
  const j1 = dump(p);
  const { snapshotId } = p.snapshot();
  // Change a lot, then come back.
  await p.clockAdvance(12_345);
  p.rmpUpdate(regionSpa(REGIONS), { assigned: false, pageSize: '2M' });
  await p.dmaIssue({ deviceId: UNTRUSTED_DEV, iova: 0x5000n, bytes: 8, write: true });
  p.revert(snapshotId);
  expect(dump(p), 'emu.revert did not restore the snapshot exactly').toBe(j1);
  const other = createPlatform(MODEL_SCENARIO);
  other.loadState(JSON.parse(j1));
  expect(dump(other), 'emu.loadState(emu.dumpState()) is not exact').toBe(j1);
  other.dispose();
  p.loadState(JSON.parse(j1));
  expect(dump(p)).toBe(j1);
}

async function runStep(p: Platform, m: PlatformModel, s: Step): Promise<void> {
  switch (s.op) {
    case 'smash':
      return smashStep(p, m, s.r, s.c);
    case 'unsmash':
      return unsmashStep(p, m, s.r, s.wrong);
    case 'rmpUpdate': {
      const spa = regionSpa(s.r) + (s.size === '4K' ? s.k * K4 : 0);
      const gpa = s.r * MB2 + (s.size === '4K' ? s.k * K4 : 0) + (s.target === 'foreign' ? FOREIGN_GPA_OFFSET : 0);
      const input = s.target === 'hv' ? { assigned: false, pageSize: s.size } : { assigned: true, pageSize: s.size, asid: 1, gpa };
      return checked(p, `rmp.update ${JSON.stringify(s)}`, m.rmpUpdate(s.r, s.k, s.size, s.target), () => p.rmpUpdate(spa, input));
    }
    case 'psmash':
      return checked(p, `rmp.psmash ${s.r}`, m.psmash(s.r), () => p.rmpPsmash(regionSpa(s.r)));
    case 'pageUnsmash':
      return checked(p, `fw.pageUnsmash ${s.r}`, m.pageUnsmash(s.r), () => p.fwPageUnsmash(regionSpa(s.r)));
    case 'pvalidate': {
      const gpa = s.r * MB2 + (s.size === '4K' ? s.k * K4 : 0);
      return checked(p, `guest.pvalidate ${JSON.stringify(s)}`, m.pvalidate(s.r, s.k, s.size, s.validate), () => p.guestPvalidate({ asid: 1, gpa, pageSize: s.size, validate: s.validate }));
    }
    case 'teeDma': {
      const r = await p.dmaIssue({ deviceId: TEE_DEV, iova: regionIova(s.r) + BigInt(s.k * K4 + 64), bytes: 64, write: s.write });
      expect(observed(r), `TEE-IO dma ${JSON.stringify(s)}`).toEqual(m.teeDma(s.r, s.k));
      return;
    }
    case 'untrustedDma': {
      const r = await p.dmaIssue({ deviceId: UNTRUSTED_DEV, iova: BigInt(s.j * K4), bytes: 8, write: s.write });
      expect(observed(r), `untrusted dma ${JSON.stringify(s)}`).toEqual(m.untrustedDma(s.j));
      if (r.outcome === 'ok') expect(r.spa).toBe(BigInt(UNTRUSTED_SPA + s.j * K4));
      return;
    }
    case 'unmap': {
      const want = m.unmap(s.j);
      expect(p.iommuUnmap({ domainId: UNTRUSTED_DOMAIN, iova: BigInt(s.j * K4), length: K4 }).unmapped).toBe(BigInt(want));
      return;
    }
    case 'map': {
      const before = dump(p);
      const args = { domainId: UNTRUSTED_DOMAIN, iova: BigInt(s.j * K4), spa: UNTRUSTED_SPA + s.j * K4, length: K4, sizeLg2: 12, read: true, write: true };
      if (m.map(s.j)) p.iommuMap(args);
      else {
        expect(() => p.iommuMap(args)).toThrow(/already mapped/);
        expect(dump(p), 'a refused iommu.map changed the platform').toBe(before);
      }
      return;
    }
    case 'invalidate': {
      m.invalidate(s.j);
      const [q0, q1] = s.j === 'all' ? encodeInvalidateDomain(UNTRUSTED_DOMAIN) : encodeInvalidatePages(UNTRUSTED_DOMAIN, BigInt(s.j * K4), 12, false);
      expect(p.iommuCommand(q0, q1).illegal).toBe(false);
      return;
    }
    case 'toggleFirmware': {
      const r = m.fwInit ? await p.fwShutdown() : await p.fwInit();
      expect(r.status).toBe(0);
      if (!m.fwInit) {
        // Firmware back up: connect and bind device 0x0100 again, as a VMM would.
        expect((await p.tioConnect(0x100)).status).toBe(0);
        expect((await p.fwTdiBind(0x100, 1)).status).toBe(0);
      }
      m.toggleFirmware();
      return;
    }
    case 'advance':
      await p.clockAdvance(s.ns);
      return;
    case 'roundtrip':
      return roundtrip(p);
  }
}

function checkInvariants(p: Platform, m: PlatformModel, s: Step): void {
  const audit = p.audit();
  const kinds = [...new Set(audit.violations.map((v) => v.kind))].sort();
  expect(kinds, `audit after ${JSON.stringify(s)}: ${JSON.stringify(audit.violations.slice(0, 2), (_k, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v))}`).toEqual(m.auditKinds());
  if ('r' in s) {
    for (const k of PAGE_CHOICES) {
      const e = p.rmpRead(regionSpa(s.r) + k * K4);
      expect({ assigned: e.assigned, pageSize: e.pageSize, validated: e.validated, asid: e.asid, gpa: e.gpa }, `rmp.read region ${s.r} page ${k}`).toEqual(m.rmpEntry(s.r, k));
    }
  }
  const st = p.dmaStats({});
  expect(st.issued).toBe(st.completed + st.ioPageFaults + st.rmpFaults + st.timeouts + st.aborted + st.inFlight);
}

describe('model-based: RMP, IOMMU, firmware and DMA against the reference model', () => {
  it('every step matches the model; refusals change nothing; the audit is what the model predicts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: LONG ? 150 : 50, size: 'max' }), async (steps) => {
        const p = createPlatform(MODEL_SCENARIO);
        const m = new PlatformModel();
        try {
          expect(p.audit().violations).toEqual([]);
          for (const s of steps) {
            await runStep(p, m, s);
            checkInvariants(p, m, s);
          }
        } finally {
          p.dispose();
        }
      }),
      { seed: SEED, numRuns: LONG ? 2000 : runs(25), endOnFailure: !LONG },
    );
  });
});

const streamStep = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('smash' as const), r: region, c: corruption }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unsmash' as const), r: region, wrong: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ns: fc.integer({ min: 0, max: 2_000_000 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('stall' as const), jitter: fc.constantFrom('none' as const, 'uniform' as const, 'lognormal' as const), scope: fc.constantFrom('domain' as const, 'iommu' as const) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('roundtrip' as const) }) },
);

describe('model-based: a DMA stream over the regions while the engine smashes and unsmashes them', () => {
  it('no request ever sees a half-done smash: rmpFaults and ioPageFaults stay 0, the audit stays clean', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(streamStep, { minLength: 1, maxLength: LONG ? 60 : 16, size: 'max' }), fc.constantFrom('random' as const, 'sequential' as const), async (steps, pattern) => {
        const p = createPlatform(MODEL_SCENARIO);
        const m = new PlatformModel();
        try {
          const { streamId } = p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: 0n, length: REGIONS * MB2, ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5, pattern, arrival: 'poisson' });
          for (const s of steps) {
            if (s.op === 'stall') p.tmpmSetStallModel({ jitter: { dist: s.jitter, spreadNs: 400_000 }, scope: s.scope });
            else await runStep(p, m, s);
            expect(m.teeConsistent()).toBe(true);
            const st = p.dmaStats({ streamId });
            expect(st.rmpFaults, `after ${JSON.stringify(s)}`).toBe(0);
            expect(st.ioPageFaults).toBe(0);
            expect(st.issued).toBe(st.completed + st.ioPageFaults + st.rmpFaults + st.timeouts + st.aborted + st.inFlight);
            expect(p.audit().violations).toEqual([]);
          }
          await p.clockAdvance(3_000_000);
          const st = p.dmaStats({ streamId });
          expect(st.rmpFaults).toBe(0);
          expect(st.issued).toBeGreaterThan(0);
        } finally {
          p.dispose();
        }
      }),
      { seed: SEED + 1, numRuns: LONG ? 400 : runs(12), endOnFailure: !LONG },
    );
  });
});
