/**
 * VirtualClock.advanceTo's wall-time bound (issue 10): a chunk ends once a handler
 * (or the clock's own look every 256 events) finds its wall time used; events still
 * fire in (atNs, seq) order and the next call goes on from there. A call without a
 * bound, nested inside a bounded one, runs to its target.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock/virtual-clock.js';
import type { ClockEvent, EventTarget } from '../../src/clock/event-queue.js';

describe('VirtualClock wall-time chunks', () => {
  it('ends a bounded chunk after the event whose handler found the time used, and resumes in order', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    const target: EventTarget = {
      onClockEvent(ev: ClockEvent) {
        fired.push(ev.atNs);
        // A handler doing much work in one event asks, as the DMA release does.
        if (ev.atNs === 30) expect(clock.outOfTime()).toBe(true);
      },
    };
    for (let t = 10; t <= 100; t += 10) clock.schedule(t, target, 0);
    // A 0 ms bound: the first look finds the time used.
    expect(clock.advanceTo(100, Infinity, 0)).toBe(false);
    expect(fired).toEqual([10, 20, 30]);
    expect(clock.nowNs).toBe(30);
    expect(clock.advanceTo(100)).toBe(true);
    expect(fired).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(clock.nowNs).toBe(100);
    // Outside a bounded chunk the time is never up.
    expect(clock.outOfTime()).toBe(false);
  });

  it('lets a call without a bound, nested in a bounded one, run to its target', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    let nested: boolean | undefined;
    const target: EventTarget = {
      onClockEvent(ev: ClockEvent) {
        fired.push(ev.atNs);
        if (ev.atNs === 10) {
          expect(clock.outOfTime()).toBe(true);
          // Past the clock's own look at event 256: it must not end this call.
          nested = clock.advanceTo(5000);
        }
      },
    };
    for (let t = 10; t <= 6000; t += 10) clock.schedule(t, target, 0);
    expect(clock.advanceTo(6000, Infinity, 0)).toBe(false);
    expect(nested).toBe(true);
    expect(fired).toHaveLength(500);
    expect(clock.nowNs).toBe(5000);
  });
});
