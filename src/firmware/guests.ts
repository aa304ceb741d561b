/**
 * SNP guests known to the firmware: an ASID and its GPA -> SPA ranges (the nested
 * page tables, reduced to what the emulator needs to act as the guest for PVALIDATE).
 */
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';

const PAGE_BYTES = 4096;
/** SPAs and GPAs stay below 2^52 (ARCHITECTURE.md). */
const MAX_ADDRESS = 2 ** 52;

export interface GuestRange {
  gpa: number;
  spa: number;
  length: number;
}

export interface Guest {
  asid: number;
  ranges: GuestRange[];
  /**
   * The guest context page the firmware keeps for it (RMP Assigned 1, Immutable 1,
   * ASID 0): PSMASH_IO names the guest by it. -1 while it has none.
   */
  gctxSpa: number;
}

export class GuestTable {
  private readonly guests = new Map<number, Guest>();

  add(asid: number, ranges: GuestRange[], gctxSpa = -1): void {
    if (!Number.isInteger(asid) || asid < 1 || asid > 1023) throw invalidArgument(`guest ASID must be 1..1023, got ${asid}`);
    if (this.guests.has(asid)) throw invalidArgument(`guest ASID ${asid} already exists`);
    this.guests.set(asid, { asid, ranges: ranges.map((r) => ({ ...r })), gctxSpa });
  }

  /** The guest whose context page is at `spa`, if any. */
  byContextPage(spa: number): Guest | undefined {
    if (spa < 0) return undefined;
    for (const g of this.guests.values()) if (g.gctxSpa === spa) return g;
    return undefined;
  }

  has(asid: number): boolean {
    return this.guests.has(asid);
  }

  get(asid: number): Guest | undefined {
    return this.guests.get(asid);
  }

  list(): Guest[] {
    return [...this.guests.values()].map((g) => ({ asid: g.asid, ranges: g.ranges.map((r) => ({ ...r })), gctxSpa: g.gctxSpa }));
  }

  /** SPA backing `gpa` in guest `asid`, or -1 when the GPA is outside the guest. */
  gpaToSpa(asid: number, gpa: number): number {
    const g = this.guests.get(asid);
    if (g === undefined) return -1;
    for (const r of g.ranges) if (gpa >= r.gpa && gpa < r.gpa + r.length) return r.spa + (gpa - r.gpa);
    return -1;
  }

  getState(): Guest[] {
    return this.list();
  }

  /** Restores dumped guests; a malformed one throws BAD_DOCUMENT before anything changes. */
  setState(guests: Guest[]): void {
    const bad = (why: string) => new EmuError(ERROR_CODES.BAD_DOCUMENT, `guests: ${why}`);
    if (!Array.isArray(guests)) throw bad('must be an array');
    const seen = new Set<number>();
    for (const g of guests as unknown[]) {
      const asid = (g as Guest | null)?.asid;
      if (typeof g !== 'object' || g === null || !Number.isInteger(asid) || (asid as number) < 1 || (asid as number) > 1023) throw bad(`each guest needs an ASID 1..1023, got ${JSON.stringify(asid)}`);
      if (seen.has(asid as number)) throw bad(`ASID ${asid} appears twice`);
      seen.add(asid as number);
      const gctxSpa: unknown = (g as Guest).gctxSpa;
      if (!Number.isSafeInteger(gctxSpa) || (gctxSpa as number) < -1 || (gctxSpa as number) >= MAX_ADDRESS || ((gctxSpa as number) >= 0 && (gctxSpa as number) % PAGE_BYTES !== 0)) {
        throw bad(`guest ${asid}: gctxSpa must be -1 or a 4 KB-aligned address below 2^52`);
      }
      const ranges: unknown = (g as Guest).ranges;
      if (!Array.isArray(ranges)) throw bad(`guest ${asid}: ranges must be an array`);
      for (const r of ranges as unknown[]) {
        const { gpa, spa, length } = (r ?? {}) as Partial<GuestRange>;
        const field = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) % PAGE_BYTES === 0 && (v as number) < MAX_ADDRESS;
        if (!field(gpa) || !field(spa) || !field(length) || (length as number) === 0 || (gpa as number) + (length as number) > MAX_ADDRESS || (spa as number) + (length as number) > MAX_ADDRESS) {
          throw bad(`guest ${asid}: a range must have 4 KB-aligned gpa, spa and a non-zero length below 2^52, got ${JSON.stringify(r)?.slice(0, 120)}`);
        }
      }
    }
    this.guests.clear();
    for (const g of guests) this.guests.set(g.asid, { asid: g.asid, ranges: g.ranges.map((r) => ({ gpa: r.gpa, spa: r.spa, length: r.length })), gctxSpa: g.gctxSpa });
  }
}
