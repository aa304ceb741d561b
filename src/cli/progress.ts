/**
 * Progress of a long call on stderr. The server reports it on topic `clock` as
 * `{phase: "progress", fromNs, nowNs, targetNs}` while a clock.advance (or a
 * firmware or TMPM stall that runs the clock) works through its interval; each
 * notification counts as a sign of life for --timeout, but a line is printed only
 * for work that lasts in wall time: how far the virtual interval has got says
 * nothing about that (a 100 µs advance under a dense stream reports chunks too).
 */

/**
 * When a line is printed (ms of wall time; every default here): the call has run
 * `afterMs`, the expected total (elapsed / fraction done) is at least `minTotalMs`
 * (with no fraction yet: the call has run that long), and `everyMs` passed since the
 * last line.
 */
export const PROGRESS_RULES = { afterMs: 500, minTotalMs: 2000, everyMs: 1000 } as const;

/** Methods that can run long enough to report progress: the CLI subscribes only for these. */
export function wantsProgress(method: string): boolean {
  return method === 'clock.advance' || method.startsWith('fw.') || method.startsWith('tmpm.');
}

/** One call's progress: decides, from the wall clock, which notifications deserve a line. */
export class ProgressReporter {
  private readonly startMs: number;
  private lastLineMs: number | undefined;

  constructor(
    private readonly method: string,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.startMs = nowMs();
  }

  /** The line for this notification, or undefined (not progress, not long work, or too soon after the last). */
  line(data: unknown): string | undefined {
    const p = progressOf(data);
    if (p === undefined) return undefined;
    const now = this.nowMs();
    const elapsed = now - this.startMs;
    if (elapsed < PROGRESS_RULES.afterMs) return undefined;
    if (this.lastLineMs !== undefined && now - this.lastLineMs < PROGRESS_RULES.everyMs) return undefined;
    const expectedTotal = p.fraction > 0 ? elapsed / p.fraction : undefined;
    if ((expectedTotal ?? elapsed) < PROGRESS_RULES.minTotalMs) return undefined;
    this.lastLineMs = now;
    const left = expectedTotal === undefined ? '' : `; about ${Math.max(1, Math.round((expectedTotal - elapsed) / 1000))} s left`;
    return `${progressLine(this.method, data)}${left}`;
  }
}

/** `smash-emu: clock.advance: 42% (virtual time 4.2 s, advancing 0 s -> 10 s)`, or undefined for other data. */
export function progressLine(method: string, data: unknown): string | undefined {
  const p = progressOf(data);
  if (p === undefined) return undefined;
  const pct = Math.floor(p.fraction * 100);
  return `smash-emu: ${method}: ${pct}% (virtual time ${seconds(p.nowNs)}, advancing ${seconds(p.fromNs)} -> ${seconds(p.targetNs)})`;
}

function progressOf(data: unknown): { fromNs: number; nowNs: number; targetNs: number; fraction: number } | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const { phase, fromNs, nowNs, targetNs } = data as Record<string, unknown>;
  if (phase !== 'progress' || !isNs(fromNs) || !isNs(nowNs) || !isNs(targetNs)) return undefined;
  const span = targetNs - fromNs;
  const fraction = span <= 0 ? 1 : Math.min(1, Math.max(0, (nowNs - fromNs) / span));
  return { fromNs, nowNs, targetNs, fraction };
}

function isNs(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Nanoseconds as seconds with up to 6 decimals, trailing zeros dropped: 4200000000 -> "4.2 s". */
function seconds(ns: number): string {
  return `${Number((ns / 1e9).toFixed(6))} s`;
}
