/**
 * The host driver's side of the TMPM ring, for the convenience methods
 * (protocol/README.md §4.3.7): write one entry at the head last written, ring
 * RBHEAD, and wait until the engine has finished it (virtual mode: run the clock to
 * its end; realtime: wait for it). Misuse the engine could not be given (not
 * initialised, stopped, paused, a full ring, a bad command or page count) is refused
 * before anything changes. The engine (tmpm-engine.ts) owns this object and hands it
 * a narrow port; it reports each finished or dropped entry back.
 */
import { VirtualClock, VIRTUAL_CHUNK_EVENTS } from '../clock/virtual-clock.js';
import type { HostMemory } from '../memory/host-memory.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { circSpace, encodeRingEntry, RING_ENTRY_BYTES } from './ring.js';
import type { EntryOutcome } from './tmpm-config.js';

/** What the driver sees of the engine. */
export interface RingPort {
  readonly clock: VirtualClock;
  readonly memory: HostMemory;
  /** Why an entry written now would not run (not initialised, stopped on WPTR_ERR, paused), or null. */
  blocked(): string | null;
  /** The ring: its base, size, tail and the head last written. */
  ring(): { readonly baseSpa: number; readonly entries: number; readonly tail: number; readonly lastHead: number };
  /**
   * RBHEAD written with `head`. The caller asked the budget check of the entry at
   * `checkedIndex` (-1: none) a moment ago: if the engine starts that entry at once,
   * it does not ask again.
   */
  writeHead(head: number, checkedIndex: number): void;
  /** When the running entry ends, ns, or undefined when none runs. */
  runningEndNs(): number | undefined;
}

/** A convenience call waiting for its ring entry: the engine fills one of the two. */
interface EntryWaiter {
  outcome: EntryOutcome | undefined;
  error: Error | undefined;
}

export class HostDriver {
  /** Calls waiting for the entry at a ring index. */
  private readonly waiters = new Map<number, EntryWaiter>();

  constructor(private readonly port: RingPort) {}

  /** The engine finished the entry at `index`: its waiter (if any) gets the outcome. */
  entryDone(index: number, outcome: EntryOutcome): void {
    const w = this.waiters.get(index);
    if (w !== undefined) {
      this.waiters.delete(index);
      w.outcome = outcome;
    }
  }

  /** RBCTL.INIT was cleared: every waiting entry was dropped. */
  entriesDropped(): void {
    for (const [index, w] of this.waiters) {
      w.error = new EmuError(ERROR_CODES.WRONG_MODE, `the ring entry at index ${index} was dropped: RBCTL.INIT was cleared before it ran`);
      this.waiters.delete(index);
    }
  }

  /**
   * One entry through the ring, without a promise when none is needed: in virtual
   * mode, when the clock reaches the entry's end within one chunk of work
   * (VirtualClock.waitUntil's first chunk), the outcome comes back as a plain value,
   * so a server call answers at once (no promise chain, no microtask hops). The
   * clock does exactly what waitUntil would: the same advanceTo calls, and a yield
   * (yieldFn) before any further chunk. `budgetChecked`: the caller asked the
   * command's budget check a moment ago.
   */
  submit(command: number, listPaddr: bigint, pages: number, budgetChecked: boolean): EntryOutcome | Promise<EntryOutcome> {
    const head = this.enqueue(command, listPaddr, pages, budgetChecked);
    const waiter = this.waiters.get(head) as EntryWaiter;
    const clock = this.port.clock;
    while (clock.mode === 'virtual' && waiter.outcome === undefined && waiter.error === undefined) {
      const until = this.port.runningEndNs();
      if (until === undefined) break;
      if (!clock.advanceTo(Math.max(until, clock.nowNs), VIRTUAL_CHUNK_EVENTS, clock.yieldFn === undefined ? Infinity : VirtualClock.chunkWallMs)) {
        // More than one chunk: let the server run, then go on as waitUntil would.
        return this.waitFor(head, waiter, clock.yieldFn !== undefined);
      }
    }
    if (clock.mode !== 'virtual' && waiter.outcome === undefined && waiter.error === undefined) return this.waitFor(head, waiter, false);
    return this.settled(head, waiter);
  }

  /** Checks, writes the entry at the head and rings RBHEAD; the index of the entry, whose waiter is registered. */
  private enqueue(command: number, listPaddr: bigint, pages: number, budgetChecked: boolean): number {
    const blocked = this.port.blocked();
    if (blocked !== null) throw new EmuError(ERROR_CODES.WRONG_MODE, blocked);
    if (!Number.isInteger(command) || command < 0 || command > 0xff) throw invalidArgument(`command must be 0..0xff, got ${command}`, { path: ['command'] });
    if (!Number.isInteger(pages) || pages < 0 || pages > 0xfff) throw invalidArgument(`pages must be 0..0xfff, got ${pages}`, { path: ['pages'] });
    const ring = this.port.ring();
    const head = ring.lastHead;
    if (circSpace(head, ring.tail, ring.entries) === 0) {
      throw new EmuError(ERROR_CODES.LIMIT, `the ring is full (head ${head}, tail ${ring.tail}, ${ring.entries} entries): the driver's -EAGAIN; retry when entries finish`);
    }
    const [q0, q1] = encodeRingEntry({ listPaddr, command, pages, status: 0 });
    const at = ring.baseSpa + head * RING_ENTRY_BYTES;
    this.port.memory.setWord(at, q0);
    this.port.memory.setWord(at + 8, q1);
    const waiter: EntryWaiter = { outcome: undefined, error: undefined };
    this.waiters.set(head, waiter);
    this.port.writeHead((head + 1) % ring.entries, budgetChecked ? head : -1);
    return head;
  }

  /** The entry's wait, asynchronously: the clock runs (virtual) or is waited for (realtime) until it finishes. */
  private async waitFor(head: number, waiter: EntryWaiter, yieldFirst: boolean): Promise<EntryOutcome> {
    const clock = this.port.clock;
    if (yieldFirst) await clock.yieldFn?.();
    while (waiter.outcome === undefined && waiter.error === undefined) {
      const until = this.port.runningEndNs();
      if (until === undefined) break;
      if (clock.mode === 'realtime' && until <= clock.nowNs) {
        // The clock is at the entry's end but the realtime driver has not run its
        // event yet (a chunk of work ended there): let the driver run, never spin.
        await (clock.yieldFn?.() ?? new Promise<void>((resolve) => queueMicrotask(resolve)));
        continue;
      }
      await clock.waitUntil(until);
    }
    return this.settled(head, waiter);
  }

  /** The waiter's outcome, or its error thrown; an entry that could not run (paused, stopped, de-initialised) throws. */
  private settled(head: number, waiter: EntryWaiter): EntryOutcome {
    if (waiter.outcome === undefined && waiter.error === undefined) {
      this.waiters.delete(head);
      throw new EmuError(ERROR_CODES.WRONG_MODE, `the ring entry at index ${head} did not run: the engine was paused, stopped or de-initialised meanwhile`);
    }
    if (waiter.error !== undefined) throw waiter.error;
    return waiter.outcome as EntryOutcome;
  }
}
