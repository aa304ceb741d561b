/**
 * Moves the virtual clock after the wall clock in realtime mode: virtual time =
 * anchor + (wall - wallAnchor) x speed. Timers are ~1 ms coarse (libuv counts whole
 * milliseconds, and a timer may fire a millisecond late), so it sets a timer to
 * SPIN_MS before the next deadline, then polls the wall clock once per event-loop
 * turn (WallClock.defer: I/O, other clients and /healthz run between two looks).
 * A deadline is met within an event-loop turn (microseconds) on an idle machine; the cost is one core busy for up to SPIN_MS
 * before each deadline (a 2 ms stall is polled for all its length). Within BUSY_WAIT_MS of
 * the deadline a poll busy-waits for it (a wall clock that ticks by itself only), so
 * the deadline is not missed by the length of a turn (other clients' I/O, a timer);
 * nothing else runs for those few microseconds.
 */
import { MAX_CLOCK_NS, type VirtualClock } from './virtual-clock.js';
import type { WallClock } from './wall-clock.js';

/** How close to a deadline (ms) the driver stops sleeping on a timer and polls once per event-loop turn. */
export const SPIN_MS = 2;
/**
 * How close to a deadline (ms) a poll stops yielding and busy-waits for it: about
 * one event-loop turn, so the deadline is met to the microsecond instead of a turn
 * late, and /healthz waits at most this long.
 */
export const BUSY_WAIT_MS = 0.05;
/** Events processed between two looks at the wall clock while catching up. */
const CHUNK_EVENTS = 2_000;
/**
 * Wall time (ms) one slice of catching up may take before yielding to I/O. Before
 * the slices, with a stream faster than the simulator (3e6/s at speed 1) the driver
 * never caught up, every timer started one more chain of 20,000-event chunks, and
 * the server stopped answering anything (SIGTERM and /healthz included) for 60+ s.
 * Now one chain of slices runs while behind; calls meanwhile see the clock where it
 * is, with the lag reported (lagNs).
 */
const SLICE_MS = 10;

export class RealtimeDriver {
  private anchorNs = 0;
  private anchorWallMs = 0;
  private timer: unknown;
  /** Virtual deadline the pending timer or poll was set for (Infinity when none). */
  private timerDeadlineNs = Infinity;
  /** Bumped whenever the wake-up is re-armed: a deferred poll of an older generation does nothing. */
  private pollGen = 0;
  private running = false;
  /** Set while virtual time is behind the wall and a continuation is deferred: the one chain catching up. */
  private behind = false;

  constructor(
    private readonly clock: VirtualClock,
    private readonly wall: WallClock,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.behind = false;
    this.anchorNs = this.clock.nowNs;
    this.anchorWallMs = this.wall.nowMs();
    this.clock.onChange = () => {
      // Scheduling is on the hot path: only re-arm when something is due sooner.
      if (this.behind) return;
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
    this.behind = false;
    this.cancelWake();
    this.clock.onChange = undefined;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Virtual time the wall clock says it is now. */
  targetNs(): number {
    // Time stops at MAX_CLOCK_NS rather than losing integer precision (protocol/README.md §1.3).
    return Math.min(MAX_CLOCK_NS, this.anchorNs + Math.floor((this.wall.nowMs() - this.anchorWallMs) * 1e6 * this.clock.speed));
  }

  /**
   * How far virtual time is behind the wall clock, in virtual ns: 0 unless the
   * simulation cannot keep up (then the driver works through the backlog in
   * slices and the clock runs late by this much).
   */
  lagNs(): number {
    return this.behind ? Math.max(0, this.targetNs() - this.clock.nowNs) : 0;
  }

  /**
   * Brings virtual time up to the wall clock now (processing what is due), for at
   * most one slice. Called before each client call, so calls see the current time
   * even when no event is pending to wake the driver. While the driver is behind
   * it does nothing: the catching-up chain owns that work, and a call must not add
   * a slice of its own (1,000 calls would be 1,000 slices).
   */
  catchUp(): boolean {
    if (this.behind) return false;
    return this.slice();
  }

  /** Processes what is due up to the wall clock for at most SLICE_MS; true when caught up. */
  private slice(): boolean {
    const deadline = this.wall.nowMs() + SLICE_MS;
    for (;;) {
      if (this.clock.advanceTo(Math.max(this.clock.nowNs, this.targetNs()), CHUNK_EVENTS)) return true;
      if (this.wall.nowMs() >= deadline) return false;
    }
  }

  /** One slice of the catching-up chain; defers the next one until caught up. */
  private readonly continueCatchUp = (): void => {
    if (!this.running) return;
    if (!this.slice()) {
      this.wall.defer(this.continueCatchUp);
      return;
    }
    this.behind = false;
    this.reschedule();
  };

  private reschedule(): void {
    // While behind, the chain re-arms the timer once it has caught up.
    if (!this.running || this.behind) return;
    this.cancelWake();
    const next = this.clock.nextDeadlineNs();
    if (next === undefined) return;
    this.arm(next);
  }

  /** No timer and no poll pending. */
  private cancelWake(): void {
    if (this.timer !== undefined) this.wall.clearTimer(this.timer);
    this.timer = undefined;
    this.pollGen++;
    this.timerDeadlineNs = Infinity;
  }

  /** Wakes for `next`: a timer SPIN_MS before it, or (closer) a poll on the next event-loop turn. */
  private arm(next: number): void {
    const waitMs = (next - this.targetNs()) / 1e6 / this.clock.speed;
    if (waitMs > SPIN_MS) {
      if (this.timer !== undefined) this.wall.clearTimer(this.timer);
      this.timerDeadlineNs = next;
      this.pollGen++;
      this.timer = this.wall.setTimer(this.onTimer, waitMs - SPIN_MS);
      return;
    }
    // Polled each turn, and a timer at the deadline too: a wall clock that moves
    // only by firing its timers (a test's) still wakes the driver on time. A poll
    // that finds the same deadline keeps its timer (no timer churn per turn).
    if (this.timer === undefined || next !== this.timerDeadlineNs || this.pollGen !== this.polling) {
      if (this.timer !== undefined) this.wall.clearTimer(this.timer);
      this.timer = this.wall.setTimer(this.onTimer, Math.max(0, waitMs));
    }
    this.timerDeadlineNs = next;
    const gen = ++this.pollGen;
    this.polling = gen;
    this.wall.defer(() => {
      if (gen === this.pollGen) this.wake();
    });
  }

  /** The generation of the poll deferred last: while it is current, the timer set with it stands. */
  private polling = -1;

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.wake();
  };

  /** A timer or a poll: process what is due if the deadline has come, else wait again. */
  private wake(): void {
    if (!this.running) return;
    const next = this.clock.nextDeadlineNs();
    if (next !== undefined && this.targetNs() < next && !this.busyWait(next)) {
      // Not yet: wait again (a poll is one event-loop turn; only the last BUSY_WAIT_MS
      // is a blocking wait, and only on a wall clock that ticks by itself).
      this.arm(next);
      return;
    }
    this.timerDeadlineNs = Infinity;
    if (this.behind) return;
    if (!this.slice()) {
      this.behind = true;
      this.wall.defer(this.continueCatchUp);
      return;
    }
    this.reschedule();
  }

  /** Within BUSY_WAIT_MS of `next` (wall clocks that tick only): waits for it here; true once it has come. */
  private busyWait(next: number): boolean {
    if (this.wall.ticks !== true) return false;
    const untilMs = this.wall.nowMs() + (next - this.targetNs()) / 1e6 / this.clock.speed;
    if (untilMs - this.wall.nowMs() > BUSY_WAIT_MS) return false;
    // Bounded by the wall clock itself, BUSY_WAIT_MS at most.
    while (this.targetNs() < next && this.wall.nowMs() < untilMs + BUSY_WAIT_MS);
    return this.targetNs() >= next;
  }
}
