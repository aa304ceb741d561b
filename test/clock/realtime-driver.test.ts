/**
 * The realtime driver against a fake wall clock: it sleeps on a timer until
 * SPIN_MS before a deadline, then polls once per event-loop turn (defer, with a
 * timer at the deadline itself as well) and
 * processes the event when the wall clock reaches it, never before; a deadline
 * that comes sooner while it waits re-arms it, and the old wake-up does nothing.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock/virtual-clock.js';
import { BUSY_WAIT_MS, RealtimeDriver, SPIN_MS } from '../../src/clock/realtime-driver.js';
import type { WallClock } from '../../src/clock/wall-clock.js';
import type { ClockEvent, EventTarget } from '../../src/clock/event-queue.js';

class FakeWall implements WallClock {
  now = 0;
  timers: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  deferred: Array<() => void> = [];
  nowMs(): number {
    return this.now;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const t = { fn, ms, cleared: false };
    this.timers.push(t);
    return t;
  }
  clearTimer(handle: unknown): void {
    (handle as { cleared: boolean }).cleared = true;
  }
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }
  /** One event-loop turn's worth of deferred functions. */
  turn(): void {
    const fns = this.deferred.splice(0);
    for (const fn of fns) fn();
  }
  liveTimers() {
    return this.timers.filter((t) => !t.cleared);
  }
}

/** A wall clock that moves by itself: every read moves it on by `step` ms. */
class TickingWall extends FakeWall {
  readonly ticks = true;
  reads = 0;
  constructor(private readonly step: number) {
    super();
  }
  override nowMs(): number {
    this.reads++;
    this.now += this.step;
    return this.now;
  }
}

function setup(wall: FakeWall = new FakeWall()) {
  const clock = new VirtualClock();
  const fired: number[] = [];
  const target: EventTarget = {
    onClockEvent(ev: ClockEvent) {
      fired.push(ev.atNs);
    },
  };
  clock.setMode('realtime', 1);
  const driver = new RealtimeDriver(clock, wall);
  driver.start();
  return { clock, wall, fired, target, driver };
}

describe('RealtimeDriver near a deadline', () => {
  it('sleeps until SPIN_MS before it, then polls each turn and fires the event when the wall clock reaches it', () => {
    const { clock, wall, fired, target, driver } = setup();
    clock.schedule(5_000_000, target, 1);
    const [timer] = wall.liveTimers();
    expect(timer?.ms).toBeCloseTo(5 - SPIN_MS, 9);
    expect(wall.deferred).toHaveLength(0);
    // The timer fires (early, as libuv's may): still SPIN_MS away, so it polls.
    wall.now = 3.5;
    wall.timers.splice(0);
    timer?.fn();
    expect(wall.deferred).toHaveLength(1);
    expect(fired).toEqual([]);
    wall.now = 4.9;
    wall.turn();
    expect(fired).toEqual([]);
    expect(wall.deferred).toHaveLength(1);
    wall.now = 5.000001;
    wall.turn();
    expect(fired).toEqual([5_000_000]);
    expect(clock.nowNs).toBeGreaterThanOrEqual(5_000_000);
    // Nothing left to wait for: no timer, no poll.
    expect(wall.deferred).toHaveLength(0);
    expect(wall.liveTimers()).toHaveLength(0);
    driver.stop();
  });

  it('polls at once for a deadline closer than SPIN_MS', () => {
    const { clock, wall, fired, target, driver } = setup();
    clock.schedule(1_000_000, target, 1);
    // A poll on the next turn, and a timer at the deadline itself (for a wall clock that moves only by its timers).
    expect(wall.deferred).toHaveLength(1);
    expect(wall.liveTimers().map((x) => x.ms)).toEqual([1]);
    wall.now = 1;
    wall.turn();
    expect(fired).toEqual([1_000_000]);
    driver.stop();
  });

  it('keeps its timer while polling for the same deadline (no timer per turn)', () => {
    const { clock, wall, target, driver } = setup();
    clock.schedule(1_000_000, target, 1);
    const timers = wall.timers.length;
    for (const now of [0.2, 0.4, 0.6]) {
      wall.now = now;
      wall.turn();
    }
    expect(wall.timers.length).toBe(timers);
    expect(wall.deferred).toHaveLength(1);
    driver.stop();
  });

  it('on a wall clock that ticks by itself, waits out the last BUSY_WAIT_MS in the poll and fires on time, never before', () => {
    const wall = new TickingWall(0.001);
    const { clock, fired, target, driver } = setup(wall);
    clock.schedule(1_000_000, target, 1);
    // Further than BUSY_WAIT_MS: a poll per turn, no busy wait.
    wall.now = 0.5;
    wall.turn();
    expect(fired).toEqual([]);
    expect(wall.deferred).toHaveLength(1);
    // Within it: this turn's poll waits for the deadline and fires the event.
    wall.now = 1 - BUSY_WAIT_MS / 2;
    const reads = wall.reads;
    wall.turn();
    expect(fired).toEqual([1_000_000]);
    expect(wall.now).toBeGreaterThanOrEqual(1);
    expect(wall.now).toBeLessThan(1 + BUSY_WAIT_MS);
    expect(wall.reads - reads).toBeGreaterThan(1);
    driver.stop();
  });

  it('re-arms for a sooner deadline while polling; the older poll does nothing', () => {
    const { clock, wall, fired, target, driver } = setup();
    clock.schedule(1_500_000, target, 1);
    expect(wall.deferred).toHaveLength(1);
    const stale = wall.deferred[0] as () => void;
    clock.schedule(1_000_000, target, 2);
    expect(wall.deferred).toHaveLength(2);
    wall.now = 1.2;
    stale();
    // The stale poll neither fired anything nor queued another.
    expect(fired).toEqual([]);
    expect(wall.deferred).toHaveLength(2);
    wall.deferred.splice(0, 1);
    wall.turn();
    expect(fired).toEqual([1_000_000]);
    wall.now = 1.6;
    wall.turn();
    expect(fired).toEqual([1_000_000, 1_500_000]);
    driver.stop();
  });
});
