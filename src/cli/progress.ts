/**
 * Progress of a long call on stderr. The server reports it on topic `clock` as
 * `{phase: "progress", fromNs, nowNs, targetNs}` while a clock.advance (or a
 * firmware or TMPM stall that runs the clock) works through its interval; the CLI
 * prints one line per notification and counts it as a sign of life for --timeout.
 */

/** Methods that can run long enough to report progress: the CLI subscribes only for these. */
export function wantsProgress(method: string): boolean {
  return method === 'clock.advance' || method.startsWith('fw.') || method.startsWith('tmpm.');
}

/** `smash-emu: clock.advance: 42% (virtual time 4.2 s, advancing 0 s -> 10 s)`, or undefined for other data. */
export function progressLine(method: string, data: unknown): string | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const { phase, fromNs, nowNs, targetNs } = data as Record<string, unknown>;
  if (phase !== 'progress' || !isNs(fromNs) || !isNs(nowNs) || !isNs(targetNs)) return undefined;
  const span = targetNs - fromNs;
  const pct = span <= 0 ? 100 : Math.min(100, Math.max(0, Math.floor(((nowNs - fromNs) / span) * 100)));
  return `smash-emu: ${method}: ${pct}% (virtual time ${seconds(nowNs)}, advancing ${seconds(fromNs)} -> ${seconds(targetNs)})`;
}

function isNs(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Nanoseconds as seconds with up to 6 decimals, trailing zeros dropped: 4200000000 -> "4.2 s". */
function seconds(ns: number): string {
  return `${Number((ns / 1e9).toFixed(6))} s`;
}
