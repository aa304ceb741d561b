/**
 * Return codes of RMPUPDATE, PSMASH and PVALIDATE (EAX), with the names
 * protocol/README.md §5 fixes (7 is our name for PSMASH's "page does not meet
 * requirements for expansion", hardware.md §1.4).
 */
export const RMP_RC = {
  SUCCESS: 0,
  FAIL_INPUT: 1,
  FAIL_PERMISSION: 2,
  FAIL_INUSE: 3,
  FAIL_OVERLAP: 4,
  FAIL_SIZEMISMATCH: 6,
  FAIL_BADADDR: 7,
} as const;

const NAMES = new Map<number, string>(Object.entries(RMP_RC).map(([name, rc]) => [rc, name]));

/** The code's name, or "UNKNOWN_0x.." for a number outside the table (e.g. an injected rc). */
export function rmpRcName(rc: number): string {
  return NAMES.get(rc) ?? `UNKNOWN_0x${(rc >>> 0).toString(16)}`;
}

/**
 * #NPF error-code bits a PVALIDATE can raise instead of returning (hardware.md §1.6):
 * RMP (bit 31) for a page not assigned to the caller at that GPA, RMP|SIZEM (bit 35)
 * for a 4 KB request over a 2 MB entry.
 */
export const NPF_ERROR = {
  RMP: 1n << 31n,
  SIZEM: 1n << 35n,
} as const;
