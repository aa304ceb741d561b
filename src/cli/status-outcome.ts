/**
 * Whether a `call` result is an emulated failure, for the exit code. Emulated
 * outcomes are results, never JSON-RPC errors, so the CLI reads them: a
 * `statusName` other than SUCCESS (SEV firmware: 0 is SUCCESS; TMPM: 0xF0 is), an
 * `rcName` other than SUCCESS (RMPUPDATE, PSMASH, PVALIDATE), or a PVALIDATE #NPF
 * (`npf`, named NPF). The names are compared, not the numbers, so each code table
 * keeps its own success value.
 */
export interface StatusOutcome {
  /** The status's name: statusName, rcName or NPF. */
  name: string;
  /** Its number (status or rc), when it has one. */
  value: number | undefined;
  /** Whether an --ok-status item names it (by name, or by number in decimal or 0x hex). */
  accepted(ok: readonly string[]): boolean;
}

/** undefined when the result is a success or carries no status at all. */
export function statusOutcome(result: unknown): StatusOutcome | undefined {
  if (result === null || typeof result !== 'object') return undefined;
  const r = result as Record<string, unknown>;
  if (typeof r.statusName === 'string') return r.statusName === 'SUCCESS' ? undefined : outcome(r.statusName, r.status);
  if (typeof r.rcName === 'string') return r.rcName === 'SUCCESS' ? undefined : outcome(r.rcName, r.rc);
  if (r.npf !== null && typeof r.npf === 'object') return outcome('NPF', undefined);
  return undefined;
}

function outcome(name: string, raw: unknown): StatusOutcome {
  const value = typeof raw === 'number' ? raw : undefined;
  return {
    name,
    value,
    accepted: (ok) =>
      ok.some((item) => {
        if (item === name) return true;
        if (value === undefined || !/^(0x[0-9a-f]+|[0-9]+)$/i.test(item)) return false;
        return Number(item) === value;
      }),
  };
}
