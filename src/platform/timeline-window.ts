/**
 * dma.timeline's window over the DMA engine's per-bin counts, and the bin-width
 * rule it shares with trace.start (protocol/README.md §8).
 */
import { TIMELINE_BIN_NS, TIMELINE_MAX_BINS, type DmaTimeline } from '../dma/dma-timeline.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';

export interface TimelineWindowParams {
  binNs: number;
  startNs?: number;
  endNs?: number;
  deviceId?: number;
}

/** A bin width must be a positive multiple of the timeline's 10 us bin (-32602 otherwise). */
export function checkBinNs(binNs: number): void {
  if (!Number.isSafeInteger(binNs) || binNs < TIMELINE_BIN_NS || binNs % TIMELINE_BIN_NS !== 0) {
    throw invalidArgument(`binNs must be a positive multiple of ${TIMELINE_BIN_NS} ns, got ${binNs}`, { path: ['binNs'] });
  }
}

/**
 * Counts per bin of binNs over [startNs, endNs) (defaults: the earliest bin held,
 * and now), for one device or all; at most TIMELINE_MAX_BINS bins. `tl` must have
 * the completions due by now counted (DmaEngine.settle).
 */
export function timelineWindow(tl: DmaTimeline, nowNs: number, p: TimelineWindowParams) {
  const endNs = p.endNs ?? nowNs;
  const from = p.startNs ?? tl.retainedFromNs() ?? endNs;
  if (endNs < from) throw invalidArgument(`endNs ${endNs} is before startNs ${from}`, { path: ['endNs'] });
  const startNs = Math.floor(from / p.binNs) * p.binNs;
  const count = Math.max(1, Math.ceil((endNs - startNs) / p.binNs));
  if (count > TIMELINE_MAX_BINS) {
    throw new EmuError(ERROR_CODES.LIMIT, `the window holds ${count} bins of ${p.binNs} ns, more than ${TIMELINE_MAX_BINS}: use a larger binNs or a shorter window`, { bins: count });
  }
  const w = tl.window(p.binNs, startNs, count, p.deviceId);
  return { binNs: w.binNs, startNs: w.startNs, endNs: startNs + count * p.binNs, count: w.count, retainedFromNs: w.retainedFromNs, nowNs, ...w.series };
}
