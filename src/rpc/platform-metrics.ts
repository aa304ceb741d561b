/**
 * The platforms' own figures for GET /metrics (the transport adds calls and
 * latency per method): DMA requests per outcome, stalls and stalled time, the
 * virtual clock, IOTLB size and event-log fill, each with a `platform` label.
 * Gauges read at scrape time, so nothing runs on the DMA hot path.
 */
import { Gauge, Registry } from 'prom-client';
import type { Platform } from '../platform/platform.js';

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
      for (const [name, p] of platforms()) this.set({ platform: name }, p.m.clock.nowNs / 1e9);
    },
  });
  new Gauge({
    name: 'smash_emu_clock_lag_seconds',
    help: 'Realtime mode: how far the virtual clock runs behind the wall clock times speed (0 when keeping up)',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.m.clockLagNs() / 1e9);
    },
  });
  new Gauge({
    name: 'smash_emu_iotlb_entries',
    help: 'Cached IOMMU translations',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.m.iommu.iotlb.size);
    },
  });
  new Gauge({
    name: 'smash_emu_event_log_entries',
    help: 'Entries in the IOMMU event log ring',
    labelNames: ['platform'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, p] of platforms()) this.set({ platform: name }, p.m.iommu.eventLog.length);
    },
  });
  return registry;
}
