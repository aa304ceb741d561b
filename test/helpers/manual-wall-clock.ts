/**
 * A wall clock the test moves (src/clock/wall-clock.ts's adapter): time stands still
 * until `advance(ms)`, which fires the timers due on the way, each at its own time.
 * Inside a timer callback every read of the clock moves it on by READ_STEP_MS, as
 * a running callback takes time: the realtime driver's short spin towards a
 * deadline (realtime-driver.ts) ends instead of waiting forever. `defer` runs after
 * pending I/O, as the system clock's does, so sockets keep working.
 */
import type { WallClock } from '../../src/clock/wall-clock.js';

/** How far one read of the clock moves it inside a timer callback, ms. */
const READ_STEP_MS = 0.01;

interface Timer {
  atMs: number;
  fn: () => void;
}

export class ManualWallClock implements WallClock {
  private t = 0;
  private timers: Timer[] = [];
  private firing = false;

  nowMs(): number {
    if (this.firing) this.t += READ_STEP_MS;
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const timer: Timer = { atMs: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }

  /** Timers set and not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves wall time on by `ms`, firing each timer due on the way at its time, letting I/O run after each. */
  async advance(ms: number): Promise<void> {
    const endMs = this.t + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers) if (t.atMs <= endMs && (next === undefined || t.atMs < next.atMs)) next = t;
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.t = Math.max(this.t, next.atMs);
      this.firing = true;
      try {
        next.fn();
      } finally {
        this.firing = false;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.t = Math.max(this.t, endMs);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
