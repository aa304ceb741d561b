/**
 * Moves the virtual clock after the wall clock in realtime mode: virtual time =
 * anchor + (wall - wallAnchor) x speed. Timers are ~1 ms coarse, so it sets a timer
 * to about 1 ms before the next deadline, then spins the last stretch, keeping
 * stalls and stream arrivals accurate to well under a millisecond.
 */
import { MAX_CLOCK_NS, type VirtualClock } from './virtual-clock.js';
import type { WallClock } from './wall-clock.js';

/** How close to a deadline (ms) the driver stops sleeping and spins. */
const SPIN_MS = 1.5;
/** Longest single spin (ms) before yielding to I/O anyway. */
const MAX_SPIN_MS = 2;
/** Events processed before yielding to I/O. */
const CHUNK_EVENTS = 20_000;

export class RealtimeDriver {
  private anchorNs = 0;
  private anchorWallMs = 0;
  private timer: unknown;
  /** Virtual deadline the pending timer was set for (Infinity when none). */
  private timerDeadlineNs = Infinity;
  private running = false;

  constructor(
    private readonly clock: VirtualClock,
    private readonly wall: WallClock,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.anchorNs = this.clock.nowNs;
    this.anchorWallMs = this.wall.nowMs();
    this.clock.onChange = () => {
      // Scheduling is on the hot path: only re-arm when something is due sooner.
      const next = this.clock.nextDeadlineNs();
      if (next !== undefined && next < this.timerDeadlineNs) this.reschedule();
    };
    this.reschedule();
  }

  stop(): void {
    if (!this.running) return;
    // Bring virtual time up to the wall before handing control back.
    this.catchUp();
    this.running = false;
    if (this.timer !== undefined) this.wall.clearTimer(this.timer);
    this.timer = undefined;
    this.timerDeadlineNs = Infinity;
    this.clock.onChange = undefined;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Virtual time the wall clock says it is now. */
  targetNs(): number {
    // Time stops at MAX_CLOCK_NS rather than losing integer precision (issue 14 item 7).
    return Math.min(MAX_CLOCK_NS, this.anchorNs + Math.floor((this.wall.nowMs() - this.anchorWallMs) * 1e6 * this.clock.speed));
  }

  /**
   * Brings virtual time up to the wall clock now (processing what is due). Called
   * before each client call, so calls see the current time even when no event is
   * pending to wake the driver.
   */
  catchUp(): boolean {
    return this.clock.advanceTo(Math.max(this.clock.nowNs, this.targetNs()), CHUNK_EVENTS);
  }

  private reschedule(): void {
    if (!this.running) return;
    if (this.timer !== undefined) this.wall.clearTimer(this.timer);
    this.timer = undefined;
    this.timerDeadlineNs = Infinity;
    const next = this.clock.nextDeadlineNs();
    if (next === undefined) return;
    this.timerDeadlineNs = next;
    const waitMs = (next - this.targetNs()) / 1e6 / this.clock.speed;
    this.timer = this.wall.setTimer(() => this.tick(), Math.max(0, waitMs - SPIN_MS));
  }

  private tick(): void {
    this.timer = undefined;
    this.timerDeadlineNs = Infinity;
    if (!this.running) return;
    const next = this.clock.nextDeadlineNs();
    if (next !== undefined) {
      const spinUntil = this.wall.nowMs() + MAX_SPIN_MS;
      while (this.targetNs() < next && this.wall.nowMs() < spinUntil) {
        // Short spin to land on the deadline with sub-millisecond accuracy.
      }
    }
    const done = this.catchUp();
    if (!done) {
      this.wall.defer(() => this.tick());
      return;
    }
    this.reschedule();
  }
}
