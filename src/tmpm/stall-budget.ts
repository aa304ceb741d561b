/**
 * The work a PSMASH_IO / PUNSMASH_IO stall may cost the emulator (protocol/README.md
 * §1.3): a stall that could move the clock past MAX_CLOCK_NS, or catch more than
 * MAX_REQUESTS_PER_STALL requests of the running poisson streams, is refused. The
 * command table names this check for both commands; a convenience method asks it
 * before writing anything (the platform refuses with EMU_LIMIT), the engine at the
 * command's turn, after its other checks (RESOURCE_NOT_AVAILABLE), unless the
 * convenience method asked for the same entry a moment before.
 */
import type { VirtualClock } from '../clock/virtual-clock.js';
import { MAX_CLOCK_NS } from '../clock/virtual-clock.js';
import type { DmaEngine } from '../dma/dma-engine.js';
import { longestStallNs, MAX_REQUESTS_PER_STALL, type StallModel } from './stall-model.js';

/** What a budget check reads: the clock, the running streams and the stall model in force. */
export interface BudgetInputs {
  readonly clock: VirtualClock;
  readonly dma: Pick<DmaEngine, 'activeStreamRatePerSec'>;
  stallModel(): StallModel;
}

/** Why a command would be too much work: the message and the error's data. */
export interface BudgetRefusal {
  message: string;
  detail: Record<string, unknown>;
}

/** A command's budget check: why `command` (the name a message gives it) would be too much work now, or null. */
export type BudgetCheck = (b: BudgetInputs, command: string) => BudgetRefusal | null;

/** The stall budget of PSMASH_IO and PUNSMASH_IO. */
export const stallBudget: BudgetCheck = (b, command) => {
  // Read in place: setStallModel replaces the model object, it never changes it.
  const model = b.stallModel();
  const nowNs = b.clock.nowNs;
  const longest = longestStallNs(model);
  if (nowNs + longest + model.completionTimeoutNs > MAX_CLOCK_NS) {
    return { message: `${command}'s stall would take the clock past ${MAX_CLOCK_NS} ns (2^53 - 1, the largest time it can hold); it is at ${nowNs} ns: reset the platform or load an earlier state`, detail: { nowNs } };
  }
  // Fixed-rate streams are held as arithmetic runs (a record per run, not per request,
  // and their release runs in chunks that yield): only per-request (poisson) streams count.
  const rate = b.dma.activeStreamRatePerSec(true);
  const requests = Math.ceil((rate * longest) / 1e9);
  if (requests > MAX_REQUESTS_PER_STALL) {
    return {
      message: `${command} refused: its stall (up to ${longest} ns) could catch about ${requests} requests of the running poisson streams (${rate}/s together); the limit is ${MAX_REQUESTS_PER_STALL}. Lower the streams' rate or the stall model`,
      detail: { requests, limit: MAX_REQUESTS_PER_STALL },
    };
  }
  return null;
};
