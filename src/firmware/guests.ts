/**
 * SNP guests known to the firmware: an ASID and its GPA -> SPA ranges (the nested
 * page tables, reduced to what the emulator needs to act as the guest for PVALIDATE).
 */
import { invalidArgument } from '../util/emu-error.js';

export interface GuestRange {
  gpa: number;
  spa: number;
  length: number;
}

export interface Guest {
  asid: number;
  ranges: GuestRange[];
}

export class GuestTable {
  private readonly guests = new Map<number, Guest>();

  add(asid: number, ranges: GuestRange[]): void {
    if (!Number.isInteger(asid) || asid < 1 || asid > 1023) throw invalidArgument(`guest ASID must be 1..1023, got ${asid}`);
    if (this.guests.has(asid)) throw invalidArgument(`guest ASID ${asid} already exists`);
    this.guests.set(asid, { asid, ranges: ranges.map((r) => ({ ...r })) });
  }

  has(asid: number): boolean {
    return this.guests.has(asid);
  }

  get(asid: number): Guest | undefined {
    return this.guests.get(asid);
  }

  list(): Guest[] {
    return [...this.guests.values()].map((g) => ({ asid: g.asid, ranges: g.ranges.map((r) => ({ ...r })) }));
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

  setState(guests: Guest[]): void {
    this.guests.clear();
    for (const g of guests) this.guests.set(g.asid, { asid: g.asid, ranges: g.ranges.map((r) => ({ ...r })) });
  }
}
