/**
 * One virtual clock in integer nanoseconds drives the platform (protocol/README.md §9).
 * `virtual` mode: time moves only through advanceTo (clock.advance, a TMPM
 * stall). `realtime` mode: a RealtimeDriver moves it after the wall clock times
 * `speed`. Either way, events fire strictly in (atNs, seq) order and `nowNs` is the
 * time of the event being processed.
 */
import { EventQueue, type ClockEvent, type EventTarget } from './event-queue.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

export type ClockMode = 'virtual' | 'realtime';

/**
 * The latest time the clock may reach: 2^53 - 1 ns (104 days). Past it a double no
 * longer holds every integer, so time would stop moving and a state document with
 * it could not be loaded (protocol/README.md §1.3). Whatever would move the clock past it
 * is refused with EMU_LIMIT; the realtime driver stops there.
 */
export const MAX_CLOCK_NS = Number.MAX_SAFE_INTEGER;
/** Events (or events' worth of batched work) a virtual-mode wait runs before yielding. */
export const VIRTUAL_CHUNK_EVENTS = 50_000;
/**
 * Wall time a chunk may take before it yields, when there is someone to yield to
 * (a server): some work units cost microseconds (a held request released through a
 * walk), so a count alone let one chunk hold the event loop for 150 ms (/healthz
 * must answer within 50 ms during a stall).
 */
export const VIRTUAL_CHUNK_MS = 5;
/** Events between two looks at the wall clock inside a chunk. */
const EVENTS_PER_TIME_CHECK = 256;

interface Waiter {
  atNs: number;
  resolve: () => void;
}

export class VirtualClock {
  /** A waiting chunk's wall time (VIRTUAL_CHUNK_MS; tests set 0 to end every chunk at its first look). */
  static chunkWallMs = VIRTUAL_CHUNK_MS;
  nowNs = 0;
  mode: ClockMode = 'virtual';
  /** Virtual ns per wall ns in realtime mode (default 1). */
  speed = 1;
  readonly queue = new EventQueue();
  /**
   * While advanceTo runs: the time it advances to (events at or before it may fire),
   * else -1. A handler that does the work of many events at once (the DMA engine's
   * batches) must stay within it.
   */
  horizonNs = -1;
  /** Work the running handler did beyond its one event, counted against advanceTo's maxEvents. */
  private extraWork = 0;
  private budget = Infinity;
  /** performance.now() at which the running chunk ends (Infinity: no wall-time bound). */
  private deadlineMs = Infinity;
  /** Set once outOfTime() has found the chunk's wall time used: the chunk ends after the running event. */
  private timeUp = false;
  private waiters: Waiter[] = [];
  /** Called whenever the mode or the queue head may have changed (the realtime driver listens). */
  onChange: (() => void) | undefined;
  /**
   * How a virtual-mode wait yields between chunks of events: the server hands one that
   * lets I/O run (WallClock.defer), so a TMPM stall or an injected delay does not
   * freeze it. Without one (a library caller), chunks follow each other at once.
   */
  yieldFn: (() => Promise<void>) | undefined;

  /** Throws EMU_LIMIT unless the clock can move `ns` further without passing MAX_CLOCK_NS. */
  checkRoom(ns: number, what: string): void {
    if (this.nowNs + ns > MAX_CLOCK_NS) {
      throw new EmuError(ERROR_CODES.LIMIT, `${what} would take the clock past ${MAX_CLOCK_NS} ns (2^53 - 1, the largest time it can hold); it is at ${this.nowNs} ns: reset the platform or load an earlier state`, {
        nowNs: this.nowNs,
        ns,
      });
    }
  }

  schedule(atNs: number, target: EventTarget, kind: number, data: unknown = null, seq?: number): ClockEvent {
    const ev = this.queue.push(Math.max(atNs, this.nowNs), target, kind, data, seq);
    this.onChange?.();
    return ev;
  }

  /**
   * Processes every event due at or before `targetNs`, in order, then sets nowNs to
   * targetNs. Returns false if it stopped early because `maxEvents` were processed
   * (nowNs is then the time of the last event processed).
   */
  advanceTo(targetNs: number, maxEvents = Infinity, maxWallMs = Infinity): boolean {
    if (targetNs < this.nowNs) targetNs = this.nowNs;
    const outer = this.horizonNs;
    const outerBudget = this.budget;
    const outerWork = this.extraWork;
    const outerDeadline = this.deadlineMs;
    const outerTimeUp = this.timeUp;
    this.horizonNs = targetNs;
    this.extraWork = 0;
    this.timeUp = false;
    // Each call has its own bound (a nested call without one runs to its target).
    this.deadlineMs = maxWallMs === Infinity ? Infinity : performance.now() + maxWallMs;
    let n = 0;
    const q = this.queue;
    try {
      for (;;) {
        const head = q.peek();
        if (head === undefined || head.atNs > targetNs) break;
        if (n + this.extraWork >= maxEvents || this.timeUp || (n > 0 && n % EVENTS_PER_TIME_CHECK === 0 && this.outOfTime())) {
          this.releaseWaiters();
          return false;
        }
        q.pop();
        if (head.cancelled) continue;
        this.nowNs = head.atNs;
        this.budget = maxEvents - n - 1;
        head.target.onClockEvent(head);
        n++;
      }
    } finally {
      this.horizonNs = outer;
      this.budget = outerBudget;
      this.extraWork = outerWork;
      this.deadlineMs = outerDeadline;
      this.timeUp = outerTimeUp;
    }
    this.nowNs = targetNs;
    this.releaseWaiters();
    return true;
  }

  /**
   * Whether the running chunk has used its wall time (advanceTo's maxWallMs). A
   * handler that does many units of work in one event (a release of held requests)
   * asks it every few hundred units and, when true, stops as if out of budget.
   */
  outOfTime(): boolean {
    if (!this.timeUp && this.deadlineMs !== Infinity && performance.now() > this.deadlineMs) this.timeUp = true;
    return this.timeUp;
  }

  /** Events' worth of work the running handler may still do in this chunk (>= 1). */
  workLeft(): number {
    return Math.max(1, this.budget - this.extraWork);
  }

  /** The running handler did `units` events' worth of extra work (it counts toward maxEvents). */
  spend(units: number): void {
    this.extraWork += units;
  }

  /**
   * Resolves when virtual time reaches `atNs`. In virtual mode it advances the clock
   * itself (a TMPM stall runs the clock), in chunks of VIRTUAL_CHUNK_EVENTS (or
   * VIRTUAL_CHUNK_MS of wall time, when there is a `yieldFn`) that yield through
   * `yieldFn` between them: events still fire in (atNs, seq) order, the
   * chunking only decides when other work may run. In realtime mode the driver does.
   */
  async waitUntil(atNs: number): Promise<void> {
    if (this.mode === 'virtual') {
      while (!this.advanceTo(Math.max(atNs, this.nowNs), VIRTUAL_CHUNK_EVENTS, this.yieldFn === undefined ? Infinity : VirtualClock.chunkWallMs)) {
        if (this.yieldFn !== undefined) await this.yieldFn();
        // Switched to realtime while yielding: the driver takes over.
        if (this.mode !== 'virtual') return this.waitUntil(atNs);
      }
      return;
    }
    if (atNs <= this.nowNs) return;
    return new Promise((resolve) => {
      this.waiters.push({ atNs, resolve });
      this.onChange?.();
    });
  }

  /** Earliest time anything is waiting for (an event or a waiter). */
  nextDeadlineNs(): number | undefined {
    let t = this.queue.nextAtNs();
    for (const w of this.waiters) if (t === undefined || w.atNs < t) t = w.atNs;
    return t;
  }

  setMode(mode: ClockMode, speed = 1): void {
    if (!(speed > 0) || !Number.isFinite(speed)) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `speed must be a positive finite number, got ${speed}`);
    }
    this.mode = mode;
    this.speed = speed;
    if (mode === 'virtual') this.releaseWaiters(true);
    this.onChange?.();
  }

  private releaseWaiters(all = false): void {
    if (this.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (all && w.atNs > this.nowNs) {
        // Switching back to virtual: the waiter's deadline is reached by advancing.
        keep.push(w);
      } else if (w.atNs <= this.nowNs) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
    if (all) {
      const pending = this.waiters;
      this.waiters = [];
      for (const w of pending) {
        this.advanceTo(w.atNs);
        w.resolve();
      }
    }
  }
}
