import fc from 'fast-check';
import { runs } from '../helpers/fc-seed.js';
import { describe, expect, it } from 'vitest';
// Codes from hardware.md §1.4-§1.6 as the tests read them, not src/'s table.
import { SPEC_NPF, SPEC_RMP_RC as RMP_RC } from '../helpers/spec.js';
import { RmpTable } from '../../src/rmp/rmp-table.js';

const K4 = 0x1000;
const M2 = 0x200000;
const REGIONS = 4;
const SIZE = REGIONS * M2;

/** Naive model: every page's authoritative entry, as read() reports it, in a Map (default: absent). */
interface ModelEntry {
  entryPfn: number;
  large: boolean;
  assigned: boolean;
  immutable: boolean;
  validated: boolean;
  asid: number;
  gpaPfn: number;
}
type Model = Map<number, ModelEntry>;
const zero = (pfn: number): ModelEntry => ({ entryPfn: pfn, large: false, assigned: false, immutable: false, validated: false, asid: 0, gpaPfn: 0 });
const at = (m: Model, pfn: number): ModelEntry => m.get(pfn) ?? zero(pfn);

function modelUpdate(m: Model, pfn: number, large: boolean, assigned: boolean, asid: number, gpaPfn: number, immutable: boolean): number {
  const base = pfn - (pfn % 512);
  const e = at(m, pfn);
  if (large) {
    // A 2 MB Hypervisor-Fixed entry is not modelled.
    if (!assigned && immutable) return RMP_RC.FAIL_INPUT;
    for (let k = 0; k < 512; k++) if (at(m, base + k).assigned && !at(m, base + k).large) return RMP_RC.FAIL_OVERLAP;
    for (let k = 0; k < 512; k++) if (at(m, base + k).immutable) return RMP_RC.FAIL_PERMISSION;
    for (let k = 0; k < 512; k++) {
      m.set(base + k, { entryPfn: base, large: true, assigned, immutable: assigned && immutable, validated: false, asid: assigned ? asid : 0, gpaPfn: assigned ? gpaPfn : 0 });
    }
    return RMP_RC.SUCCESS;
  }
  if (e.large && e.assigned) return RMP_RC.FAIL_OVERLAP;
  if (e.immutable) return RMP_RC.FAIL_PERMISSION;
  if (e.large) for (let k = 0; k < 512; k++) m.delete(base + k);
  if (assigned) m.set(pfn, { entryPfn: pfn, large: false, assigned, immutable, validated: false, asid, gpaPfn });
  // Assigned 0, Immutable 1: a Hypervisor-Fixed page.
  else if (immutable) m.set(pfn, { ...zero(pfn), immutable: true });
  else m.delete(pfn);
  return RMP_RC.SUCCESS;
}

function modelPsmash(m: Model, base: number): number {
  const e = at(m, base);
  if (!e.large || !e.assigned) return RMP_RC.FAIL_BADADDR;
  for (let k = 0; k < 512; k++) m.set(base + k, { ...e, entryPfn: base + k, large: false, gpaPfn: e.gpaPfn + k });
  return RMP_RC.SUCCESS;
}

function modelCanUnsmash(m: Model, base: number): boolean {
  const e0 = at(m, base);
  if (e0.large || (e0.assigned && e0.gpaPfn % 512 !== 0)) return false;
  for (let k = 0; k < 512; k++) {
    const e = at(m, base + k);
    if (!e.assigned && e.immutable) return false;
    if (e.assigned !== e0.assigned || e.immutable !== e0.immutable || e.validated !== e0.validated || e.asid !== e0.asid) return false;
    if (e.assigned && e.gpaPfn !== e0.gpaPfn + k) return false;
  }
  return true;
}

/**
 * PVALIDATE (hardware.md §1.6): a page not assigned to the caller's ASID at that GPA
 * is an #NPF (RMP); a 2 MB request over 4 KB entries returns FAIL_SIZEMISMATCH; a
 * 4 KB request over a 2 MB entry is an #NPF (RMP | SIZEM); Validated already as asked
 * returns 0 with no update (CF); else Validated flips, for all 512 pages of a 2 MB entry.
 */
type PvalidateOutcome = { rc: number; noUpdate?: true } | { npf: { errorCode: bigint } };
function modelPvalidate(m: Model, pfn: number, large: boolean, asid: number, gpaPfn: number, validate: boolean): PvalidateOutcome {
  const e = at(m, pfn);
  const pageGpaPfn = e.large ? e.gpaPfn + (pfn - e.entryPfn) : e.gpaPfn;
  if (!e.assigned || e.asid !== asid || pageGpaPfn !== gpaPfn) return { npf: { errorCode: SPEC_NPF.RMP } };
  if (large && !e.large) return { rc: RMP_RC.FAIL_SIZEMISMATCH };
  if (!large && e.large) return { npf: { errorCode: SPEC_NPF.RMP | SPEC_NPF.SIZEM } };
  if (e.validated === validate) return { rc: RMP_RC.SUCCESS, noUpdate: true };
  if (e.large) for (let k = 0; k < 512; k++) m.set(e.entryPfn + k, { ...at(m, e.entryPfn + k), validated: validate });
  else m.set(pfn, { ...e, validated: validate });
  return { rc: RMP_RC.SUCCESS };
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('update' as const),
    region: fc.nat(REGIONS - 1),
    page: fc.constantFrom(0, 1, 7, 511),
    large: fc.boolean(),
    assigned: fc.boolean(),
    asid: fc.nat(3),
    gpaRegion: fc.nat(8),
    immutable: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('psmash' as const), region: fc.nat(REGIONS - 1) }),
  fc.record({
    kind: fc.constant('validate' as const),
    region: fc.nat(REGIONS - 1),
    page: fc.constantFrom(0, 1, 7, 511),
    large: fc.boolean(),
    validate: fc.boolean(),
    // Mostly the page's own owner and GPA (so the size rules are reached), else a wrong one.
    caller: fc.constantFrom('owner' as const, 'owner' as const, 'owner' as const, 'otherAsid' as const, 'otherGpa' as const),
  }),
  fc.record({ kind: fc.constant('unsmash' as const), region: fc.nat(REGIONS - 1) }),
);

describe('RmpTable model', () => {
  it('keeps read() consistent with a naive per-page model over random RMPUPDATE / PSMASH / PVALIDATE / PAGE_UNSMASH', () => {
    /** PVALIDATE outcomes the runs met. */
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40, size: 'max' }), (ops) => {
        const t = new RmpTable(SIZE);
        const m: Model = new Map();
        for (const o of ops) {
          const base = o.region * 512;
          if (o.kind === 'update') {
            const pfn = o.large ? base : base + o.page;
            const gpaPfn = o.gpaRegion * 512 + (o.large ? 0 : o.page);
            const rc = t.rmpUpdate(pfn * K4, { assigned: o.assigned, pageSize: o.large ? '2M' : '4K', asid: o.asid, gpa: gpaPfn * K4, immutable: o.immutable });
            expect(rc).toBe(modelUpdate(m, pfn, o.large, o.assigned, o.asid, gpaPfn, o.immutable));
          } else if (o.kind === 'psmash') {
            expect(t.psmash(base * K4)).toBe(modelPsmash(m, base));
          } else if (o.kind === 'validate') {
            const pfn = o.large ? base : base + o.page;
            const e = at(m, pfn);
            const ownGpaPfn = e.large ? e.gpaPfn + (pfn - e.entryPfn) : e.gpaPfn;
            const asid = o.caller === 'otherAsid' ? (e.asid + 1) % 4 : e.asid;
            // A wrong GPA keeps the request's alignment (a misaligned one is FAIL_INPUT, not modelled here).
            const gpaPfn = o.caller === 'otherGpa' ? ownGpaPfn + 8 * 512 : ownGpaPfn;
            const r = t.pvalidate(pfn * K4, { asid, gpa: gpaPfn * K4, pageSize: o.large ? '2M' : '4K', validate: o.validate });
            const want = modelPvalidate(m, pfn, o.large, asid, gpaPfn, o.validate);
            expect(r).toEqual(want);
            seen.add(JSON.stringify(want, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)));
          } else {
            const r = t.pageUnsmash(base * K4);
            expect(r.ok).toBe(modelCanUnsmash(m, base));
            if (r.ok) {
              const e = at(m, base);
              for (let k = 0; k < 512; k++) m.set(base + k, { ...e, entryPfn: base, large: true });
            }
          }
        }
        const bad: number[] = [];
        for (let pfn = 0; pfn < SIZE / K4; pfn++) {
          const e = at(m, pfn);
          const r = t.read(pfn * K4);
          const same =
            r.entrySpa === e.entryPfn * K4 &&
            (r.pageSize === '2M') === e.large &&
            r.assigned === e.assigned &&
            r.immutable === e.immutable &&
            r.validated === e.validated &&
            r.asid === e.asid &&
            r.gpa === e.gpaPfn * K4 &&
            t.isAssigned(pfn) === e.assigned;
          if (!same) bad.push(pfn);
        }
        expect(bad).toEqual([]);
        const assigned = [...m.values()].filter((e) => e.assigned).length;
        expect(t.assignedPageCount()).toBe(assigned);
        const u = new RmpTable(SIZE);
        u.setState(t.getState());
        expect(u.getState()).toEqual(t.getState());
      }),
      { numRuns: runs(150) },
    );
    // Every PVALIDATE outcome was compared, refusals included.
    expect([...seen].sort()).toEqual(
      [{ rc: 0 }, { rc: 0, noUpdate: true }, { rc: RMP_RC.FAIL_SIZEMISMATCH }, { npf: { errorCode: SPEC_NPF.RMP } }, { npf: { errorCode: SPEC_NPF.RMP | SPEC_NPF.SIZEM } }]
        .map((o) => JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)))
        .sort(),
    );
  });
});
