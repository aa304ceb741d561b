/**
 * The platforms' own figures for GET /metrics (the transport adds calls and
 * latency per method): DMA requests per outcome, stalls and stalled time, the
 * virtual clock, IOTLB size and event-log fill, TMPM commands by status and
 * interrupts, each with a `platform` label.
 * Gauges read at scrape time, so nothing runs on the DMA hot path.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Platform } from '../../platform/platform.js';
import { STALL_BUCKETS_SECONDS } from '../event-tally.js';
import { ScrapedHistogram, type HistogramSeries } from '../scraped-histogram.js';
import { commandLabel, statusLabel } from './status-labels.js';

/** DMA latency bucket bounds, seconds: an IOTLB hit (550 ns) and walks (700-1100 ns) up to held requests (ms). */
export const DMA_LATENCY_BUCKETS_SECONDS = [5e-7, 6e-7, 7e-7, 8e-7, 1e-6, 1.5e-6, 2e-6, 5e-6, 1e-5, 1e-4, 5e-4, 1e-3, 1.5e-3, 2e-3, 2.5e-3, 3e-3, 5e-3, 1e-2, 5e-2];

export function platformMetrics(platforms: () => Map<string, Platform>): Registry {
  const registry = new Registry();
  const outcomes = ['completed', 'ioPageFaults', 'rmpFaults', 'timeouts', 'aborted', 'inFlight'] as const;
  new Gauge({
    name: 'smash_emu_dma_requests',
    help: 'DMA requests since the last dma.resetStats, by outcome (inFlight: not finished yet)',
    labelNames: ['platform', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) {
        const s = p.dmaStats({});
        for (const o of outcomes) this.set({ platform: name, outcome: o }, s[o]);
        this.set({ platform: name, outcome: 'held' }, s.held);
      }
    },
  });
  new Gauge({
    name: 'smash_emu_stalls',
    help: 'Firmware DMA stalls recorded since the last dma.resetStats',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.dmaStats({}).stalls.length);
    },
  });
  new Gauge({
    name: 'smash_emu_stall_seconds',
    help: 'Total virtual time DMA was stalled, seconds',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) {
        const ns = p.dmaStats({}).stalls.reduce((sum, w) => sum + (w.endNs - w.startNs), 0);
        this.set({ platform: name }, ns / 1e9);
      }
    },
  });
  new Gauge({
    name: 'smash_emu_virtual_time_seconds',
    help: 'The platform virtual clock',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.nowNs / 1e9);
    },
  });
  new Gauge({
    name: 'smash_emu_clock_lag_seconds',
    help: 'Realtime mode: how far the virtual clock runs behind the wall clock times speed (0 when keeping up)',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.readings().clockLagNs / 1e9);
    },
  });
  new Gauge({
    name: 'smash_emu_iotlb_entries',
    help: 'Cached IOMMU translations',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.readings().iotlbEntries);
    },
  });
  new Gauge({
    name: 'smash_emu_event_log_entries',
    help: 'Entries in the IOMMU event log ring',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.readings().eventLogEntries);
    },
  });
  new Counter({
    name: 'smash_emu_commands_total',
    help: 'SEV firmware conveniences (source="fw"), PSP mailbox commands (source="psp") and TMPM engine (source="tmpm") commands by command and status name, however they were issued',
    labelNames: ['platform', 'source', 'command', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) {
        for (const c of p.tally.commandCounts()) {
          this.inc({ platform: name, source: c.source, command: commandLabel(c.source, c.command), status: statusLabel(c.statusName) }, c.count);
        }
      }
    },
  });
  new ScrapedHistogram('smash_emu_stall_duration_seconds', 'DMA stalls of the smash engine by duration (virtual time)', STALL_BUCKETS_SECONDS, function* (): Iterable<HistogramSeries> {
    for (const [name, p] of platforms()) yield { labels: { platform: name }, buckets: p.tally.stallBuckets, count: p.tally.stallCount, sum: p.tally.stallSumSeconds };
  }).register(registry);
  new ScrapedHistogram(
    'smash_emu_dma_latency_seconds',
    'Latency of completed DMA requests since the last dma.resetStats (virtual time; from the HDR histogram, 3 significant digits)',
    DMA_LATENCY_BUCKETS_SECONDS,
    function* (): Iterable<HistogramSeries> {
      for (const [name, p] of platforms()) yield dmaLatencySeries(name, p);
    },
  ).register(registry);
  new Counter({
    name: 'smash_emu_iotlb_lookups_total',
    help: 'DMA translations answered by the IOTLB (result="hit") or by a page walk (result="miss"), since the platform was last built (emu.reset, emu.revert, emu.loadState)',
    labelNames: ['platform', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) {
        const r = p.readings();
        this.inc({ platform: name, result: 'hit' }, r.iotlbHits);
        this.inc({ platform: name, result: 'miss' }, r.iotlbMisses);
      }
    },
  });
  new Gauge({
    name: 'smash_emu_iotlb_hit_ratio',
    help: 'IOTLB hits / DMA translations (0 before any)',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) {
        const r = p.readings();
        const total = r.iotlbHits + r.iotlbMisses;
        this.set({ platform: name }, total === 0 ? 0 : r.iotlbHits / total);
      }
    },
  });
  new Gauge({
    name: 'smash_emu_tmpm_interrupts',
    help: 'TMPM interrupts since the platform was built, by reason (RB_ERR, WPTR_ERR)',
    labelNames: ['platform', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) for (const [reason, n] of p.readings().tmpmInterrupts) this.set({ platform: name, reason }, n);
    },
  });
  new Gauge({
    name: 'smash_emu_tmpm_ring_pending',
    help: 'TMPM ring entries between the tail and the head (the running one included)',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.readings().tmpmPendingEntries);
    },
  });
  return registry;
}

/** The platform's HDR latency buckets (ns) folded into the fixed bounds (s). */
function dmaLatencySeries(name: string, p: Platform): HistogramSeries {
  const h = p.dmaHistogram({});
  const buckets = new Float64Array(DMA_LATENCY_BUCKETS_SECONDS.length);
  let sum = 0;
  for (const b of h.buckets) {
    const seconds = b.valueNs / 1e9;
    sum += seconds * b.count;
    let i = 0;
    while (i < DMA_LATENCY_BUCKETS_SECONDS.length && seconds > (DMA_LATENCY_BUCKETS_SECONDS[i] as number)) i++;
    if (i < buckets.length) buckets[i] = (buckets[i] as number) + b.count;
  }
  return { labels: { platform: name }, buckets, count: h.count, sum };
}
