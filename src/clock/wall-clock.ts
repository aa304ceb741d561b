/**
 * The one adapter through which wall time enters (ARCHITECTURE.md, value conventions). The server
 * hands `systemWallClock` to platforms for realtime mode; tests can hand a fake.
 */
export interface WallClock {
  /** Monotonic wall time in milliseconds (fractional). */
  nowMs(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Runs fn soon, after pending I/O (used to yield between event chunks). */
  defer(fn: () => void): void;
  /**
   * Whether nowMs() moves by itself, so a caller may busy-wait on it for a few
   * microseconds (the realtime driver's last stretch before a deadline). A wall
   * clock that moves only between turns (a test's) leaves it out.
   */
  readonly ticks?: boolean;
}

export const systemWallClock: WallClock = {
  nowMs: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  defer: (fn) => setImmediate(fn),
  ticks: true,
};
