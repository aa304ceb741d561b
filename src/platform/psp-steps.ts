/**
 * The host side of a firmware sequence written once, run two ways: a generator that
 * yields each mailbox command it issues ({command, spa}) and is handed back what the
 * command did. `runAsync` drives it through PspDevice.issue (the conveniences: the
 * clock runs, or waits in realtime mode); `runSync` through PspDevice.issueNow (the
 * scenario build, which must finish in one step on a virtual clock). Either way every
 * command goes through the mailbox registers, so the firmware sees the same thing.
 */
import type { Machine } from './machine.js';
import type { PspCommandDone } from '../psp/psp-device.js';

export interface PspIssue {
  command: number;
  /** The command buffer's SPA (0: a command without one). */
  spa: number;
}

/** A host-side sequence of mailbox commands ending with T. */
export type PspSteps<T> = Generator<PspIssue, T, PspCommandDone>;

/** One command: `yield*` it inside a sequence. */
export function* issue(command: number, spa: number): PspSteps<PspCommandDone> {
  return yield { command, spa };
}

/** Runs a sequence through the mailbox, waiting for each command. */
export async function runAsync<T>(m: Machine, steps: PspSteps<T>): Promise<T> {
  let step = steps.next();
  while (step.done !== true) {
    let done: PspCommandDone;
    try {
      done = await m.psp.issue(step.value.command, step.value.spa);
    } catch (e) {
      step = steps.throw(e);
      continue;
    }
    step = steps.next(done);
  }
  return step.value;
}

/** Runs a sequence through the mailbox at once: each command's time passes on the (virtual) clock before the next. */
export function runSync<T>(m: Machine, steps: PspSteps<T>): T {
  let step = steps.next();
  while (step.done !== true) {
    let done: PspCommandDone;
    try {
      done = m.psp.issueNow(step.value.command, step.value.spa);
    } catch (e) {
      step = steps.throw(e);
      continue;
    }
    step = steps.next(done);
  }
  return step.value;
}
