/**
 * A point's latency distribution as CDF points (latency ns, percent of completed
 * requests at or below it), read from the stream's HDR histogram: `dma.stats` gives
 * five percentiles, a CDF plot wants the whole curve, tails included.
 */
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { Platform } from '../platform/platform.js';

/** Percentiles sampled: the body in steps of 5, then the tail on a log scale down to 99.999. */
export const CDF_PERCENTILES: readonly number[] = [0, 1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, ...Array.from({ length: 25 }, (_, k) => Number((100 - 10 ** (1 - k / 6)).toFixed(6))), 100];

export interface CdfPoint {
  latencyNs: number;
  percent: number;
}

/** The CDF of completed requests of `streamId` (empty when none completed). */
export function streamLatencyCdf(p: Platform, streamId: string): CdfPoint[] {
  const latency = p.dmaLatencyHistogram({ streamId });
  if (latency.count === 0) return [];
  const h = decodeFromCompressedBase64(latency.encode(), 64, false);
  const maxNs = latency.max;
  const out: CdfPoint[] = [];
  for (const percent of CDF_PERCENTILES) {
    // The histogram reports bucket bounds; the exact maximum caps them (as dma.stats does).
    const latencyNs = percent === 100 ? maxNs : Math.min(h.getValueAtPercentile(Math.max(percent, 1e-9)), maxNs);
    const last = out.at(-1);
    if (last !== undefined && last.latencyNs === latencyNs) last.percent = percent;
    else out.push({ latencyNs, percent });
  }
  return out;
}
