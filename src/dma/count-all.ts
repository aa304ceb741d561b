/**
 * The counter set of one request: every request counts in three views at once (the
 * platform's, its device's and, when a stream sent it, its stream's; dma.stats,
 * protocol/README.md §8). Each function records all three in one call; `own` is
 * null for a lone dma.issue. They allocate nothing: the engine calls them per
 * request, or once for `n` requests on its batched and closed-form paths.
 */
import type { DmaCounters, FinalOutcome } from './dma-stats.js';

export const countAll = {
  /** `n` requests arrived: issued and in flight. */
  arrive(total: DmaCounters, dev: DmaCounters, own: DmaCounters | null, n = 1): void {
    total.issued += n;
    total.inFlight += n;
    dev.issued += n;
    dev.inFlight += n;
    if (own !== null) {
      own.issued += n;
      own.inFlight += n;
    }
  },

  /** `n` requests in flight now wait on a stall: held (ever) and waiting (now). */
  hold(total: DmaCounters, dev: DmaCounters, own: DmaCounters | null, n = 1): void {
    total.held += n;
    total.waiting += n;
    dev.held += n;
    dev.waiting += n;
    if (own !== null) {
      own.held += n;
      own.waiting += n;
    }
  },

  /** `n` held requests stop waiting (released, timed out or aborted); they stay counted as held. */
  unwait(total: DmaCounters, dev: DmaCounters, own: DmaCounters | null, n = 1): void {
    total.waiting -= n;
    dev.waiting -= n;
    if (own !== null) own.waiting -= n;
  },

  /** A request's translation missed the IOTLB (it walked). */
  iotlbMiss(total: DmaCounters, dev: DmaCounters, own: DmaCounters | null): void {
    total.iotlbMisses++;
    dev.iotlbMisses++;
    if (own !== null) own.iotlbMisses++;
  },

  /** A request in flight ends with `outcome` (a completion with a latency is `complete`). */
  finish(total: DmaCounters, dev: DmaCounters, own: DmaCounters | null, outcome: FinalOutcome): void {
    total.finish(outcome);
    dev.finish(outcome);
    if (own !== null) own.finish(outcome);
  },

  /** `count` requests in flight completed with latencies in the bucket of `latencyNs`, the largest `maxNs`. */
  complete(total: DmaCounters, dev: DmaCounters, own: DmaCounters | null, latencyNs: number, count: number, maxNs = latencyNs): void {
    total.completeMany(latencyNs, count, maxNs);
    dev.completeMany(latencyNs, count, maxNs);
    if (own !== null) own.completeMany(latencyNs, count, maxNs);
  },
};
