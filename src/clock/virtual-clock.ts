/**
 * One virtual clock in integer nanoseconds drives the platform (DESIGN.md "Clock").
 * `virtual` mode: time moves only through advanceTo (clock.advance, a firmware
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
 * it could not be loaded (issue 14 item 7). Whatever would move the clock past it
 * is refused with EMU_LIMIT; the realtime driver stops there.
 */
export const MAX_CLOCK_NS = Number.MAX_SAFE_INTEGER;

interface Waiter {
  atNs: number;
  resolve: () => void;
}

export class VirtualClock {
  nowNs = 0;
  mode: ClockMode = 'virtual';
  /** Virtual ns per wall ns in realtime mode (default 1). */
  speed = 1;
  readonly queue = new EventQueue();
  private waiters: Waiter[] = [];
  /** Called whenever the mode or the queue head may have changed (the realtime driver listens). */
  onChange: (() => void) | undefined;

  /** Throws EMU_LIMIT unless the clock can move `ns` further without passing MAX_CLOCK_NS. */
  checkRoom(ns: number, what: string): void {
    if (this.nowNs + ns > MAX_CLOCK_NS) {
      throw new EmuError(ERROR_CODES.LIMIT, `${what} would take the clock past ${MAX_CLOCK_NS} ns (2^53 - 1, the largest time it can hold); it is at ${this.nowNs} ns: reset the platform or load an earlier state`, { nowNs: this.nowNs, ns });
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
  advanceTo(targetNs: number, maxEvents = Infinity): boolean {
    if (targetNs < this.nowNs) targetNs = this.nowNs;
    let n = 0;
    const q = this.queue;
    for (;;) {
      const head = q.peek();
      if (head === undefined || head.atNs > targetNs) break;
      if (n >= maxEvents) {
        this.releaseWaiters();
        return false;
      }
      q.pop();
      if (head.cancelled) continue;
      this.nowNs = head.atNs;
      head.target.onClockEvent(head);
      n++;
    }
    this.nowNs = targetNs;
    this.releaseWaiters();
    return true;
  }

  /**
   * Resolves when virtual time reaches `atNs`. In virtual mode it advances the clock
   * itself (a firmware stall runs the clock); in realtime mode the driver does.
   */
  waitUntil(atNs: number): Promise<void> {
    if (this.mode === 'virtual') {
      this.advanceTo(atNs);
      return Promise.resolve();
    }
    if (atNs <= this.nowNs) return Promise.resolve();
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
