/**
 * trace.export {format: "perfetto-json"}: a recorded trace as the Chrome trace-event
 * JSON that ui.perfetto.dev and chrome://tracing open. Virtual ns are the trace's
 * time (`ts` and `dur` in us, as the format wants, with ns as decimals).
 *
 * Tracks (one "process" each, so they group in the viewer):
 * - TMPM engine: each command a slice from start to end, named by the command,
 *   with its status in args; DMA stalls a slice each on a second thread; interrupts
 *   as instants. Commands come from topic `tmpm` ({kind: "command", index, command,
 *   commandName, status, statusName, startNs, endNs} / {kind: "interrupt", reason}).
 * - SEV firmware: every other `fw` command, an instant with its status.
 * - IOMMU: commands, invalidations (INVALIDATE_* commands and the engine's own
 *   2 MB invalidation at a stall's start), event-log entries: instants.
 * - One per device: DMA counts per bin as counter tracks (issued, held, completed,
 *   faults; timeouts and aborted when any), and each non-ok request an instant.
 *
 * Bounded by the trace's `maxEvents` in everything it builds: the recorded events
 * are at most that many, and the counter samples of all devices together too (the
 * bin is coarsened so each device's track fits its share; past `maxEvents / 3` devices,
 * the devices with the highest IDs get no counter track, and `otherData` says so).
 */
import type { DmaTimeline } from '../dma/dma-timeline.js';
import { TIMELINE_BIN_NS } from '../dma/dma-timeline.js';
import type { TraceSnapshot } from './trace-recorder.js';

/** Counter samples per device at most; a finer binNs is coarsened to fit. */
export const TRACE_MAX_BINS = 20_000;
/** Bins per device when trace.start gave no binNs. */
const AUTO_BINS = 2_000;

const PID = { ENGINE: 1, FIRMWARE: 2, IOMMU: 3 } as const;
const ENGINE_TID = { COMMANDS: 1, STALLS: 2, INTERRUPTS: 3 } as const;
const IOMMU_TID = { COMMANDS: 1, INVALIDATIONS: 2, EVENT_LOG: 3 } as const;
const DEVICE_PID_BASE = 100;

export interface TraceEventJson {
  name: string;
  ph: 'X' | 'i' | 'C' | 'M';
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  s?: 't' | 'p' | 'g';
  cat?: string;
  args?: Record<string, unknown>;
}

export interface PerfettoTrace {
  traceEvents: TraceEventJson[];
  displayTimeUnit: 'ns';
  otherData: Record<string, unknown>;
}

const us = (ns: number): number => ns / 1000;

export function bdf(deviceId: number): string {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h(deviceId >> 8, 2)}:${h((deviceId >> 3) & 0x1f, 2)}.${deviceId & 7}`;
}

/**
 * The bin for counters: trace.start's, else ~AUTO_BINS over the window; a multiple
 * of 10 us, at most `maxBins` (TRACE_MAX_BINS, less when many devices share the
 * trace's counter budget) bins.
 */
export function counterBinNs(requested: number | undefined, windowNs: number, maxBins = TRACE_MAX_BINS): number {
  const fit = (bins: number) => Math.max(1, Math.ceil(windowNs / bins / TIMELINE_BIN_NS)) * TIMELINE_BIN_NS;
  const most = Math.max(1, Math.min(TRACE_MAX_BINS, maxBins));
  if (requested === undefined) return fit(Math.min(AUTO_BINS, most));
  return Math.max(requested, fit(most));
}

/**
 * How the counter budget (the trace's maxEvents samples in all) is shared: the
 * devices that get a track (lowest IDs first) and the bins each may have. One bin
 * more than `bins` is written per device (the closing zero sample), so `bins` is
 * the share less one.
 */
export function counterShare(deviceCount: number, maxEvents: number): { tracked: number; bins: number } {
  // Three samples a device at least: the window in one bin, the bin the start's
  // alignment may add, and the closing zero.
  const budget = Math.max(3, maxEvents);
  const tracked = Math.min(deviceCount, Math.floor(budget / 3));
  return { tracked, bins: tracked === 0 ? TRACE_MAX_BINS : Math.max(1, Math.floor(budget / tracked) - 1) };
}

export function perfettoTrace(t: TraceSnapshot, timeline: DmaTimeline, nowNs: number, meta: Record<string, unknown>): PerfettoTrace {
  const endNs = t.stopNs ?? nowNs;
  const out: TraceEventJson[] = [];
  const name = (pid: number, label: string, sort: number) => {
    out.push({ name: 'process_name', ph: 'M', pid, args: { name: label } });
    out.push({ name: 'process_sort_index', ph: 'M', pid, args: { sort_index: sort } });
  };
  const thread = (pid: number, tid: number, label: string) => out.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name: label } });
  name(PID.ENGINE, 'TMPM engine', 1);
  thread(PID.ENGINE, ENGINE_TID.COMMANDS, 'commands');
  thread(PID.ENGINE, ENGINE_TID.STALLS, 'DMA stalls');
  thread(PID.ENGINE, ENGINE_TID.INTERRUPTS, 'interrupts');
  name(PID.FIRMWARE, 'SEV firmware', 2);
  thread(PID.FIRMWARE, 1, 'commands');
  name(PID.IOMMU, 'IOMMU', 3);
  thread(PID.IOMMU, IOMMU_TID.COMMANDS, 'commands');
  thread(PID.IOMMU, IOMMU_TID.INVALIDATIONS, 'invalidations');
  thread(PID.IOMMU, IOMMU_TID.EVENT_LOG, 'event log');

  const devices = new Set<number>(timeline.deviceIds());
  const stallsSeen = new Set<string>();
  for (const e of t.events) {
    const d = e.data;
    switch (e.topic) {
      case 'tmpm':
        if (d.kind === 'command')
          engineSlice(out, String(d.commandName ?? d.command), num(d.startNs, e.atNs), num(d.endNs, e.atNs), pick(d, ['index', 'command', 'status', 'statusName', 'subStatus', 'stallNs', 'dmaHeld']));
        else out.push({ name: `interrupt${d.reason === undefined ? '' : `: ${String(d.reason)}`}`, ph: 'i', s: 't', pid: PID.ENGINE, tid: ENGINE_TID.INTERRUPTS, ts: us(e.atNs), cat: 'tmpm', args: { ...d } });
        break;
      case 'fw': {
        const command = String(d.command);
        const r = (d.result ?? {}) as Record<string, unknown>;
        const args = { ...pick(r, ['status', 'statusName', 'stallNs', 'dmaHeld', 'rmpSmashed', 'rmpMerged']), ...(isRecord(r.detail) && r.detail.reason !== undefined ? { reason: r.detail.reason } : {}) };
        out.push({ name: `${command} ${String(r.statusName)}`, ph: 'i', s: 't', pid: PID.FIRMWARE, tid: 1, ts: us(e.atNs), cat: 'fw', args });
        break;
      }
      case 'stall': {
        const startNs = num(d.startNs, e.atNs);
        const stallEndNs = num(d.endNs, e.atNs);
        const key = `${startNs}:${stallEndNs}:${String(d.domainId)}`;
        if (stallsSeen.has(key)) break;
        stallsSeen.add(key);
        const scope = d.scope === 'iommu' ? 'whole IOMMU' : `domain ${String(d.domainId)}`;
        out.push({
          name: `stall (${scope})`,
          ph: 'X',
          pid: PID.ENGINE,
          tid: ENGINE_TID.STALLS,
          ts: us(startNs),
          dur: us(stallEndNs - startNs),
          cat: 'stall',
          args: pick(d, ['command', 'domainId', 'iova', 'scope', 'policy', 'startNs', 'endNs']),
        });
        if (d.domainId !== undefined && d.iova !== undefined) {
          out.push({ name: 'engine: invalidate 2 MB', ph: 'i', s: 't', pid: PID.IOMMU, tid: IOMMU_TID.INVALIDATIONS, ts: us(startNs), cat: 'iommu', args: pick(d, ['domainId', 'iova', 'scope']) });
        }
        break;
      }
      case 'iommuCommand': {
        const cmd = String(d.name);
        const args = pick(d, ['opcode', 'effect', 'dropped', 'illegal']);
        out.push({ name: cmd, ph: 'i', s: 't', pid: PID.IOMMU, tid: IOMMU_TID.COMMANDS, ts: us(e.atNs), cat: 'iommu', args });
        if (cmd.startsWith('INVALIDATE_')) out.push({ name: cmd, ph: 'i', s: 't', pid: PID.IOMMU, tid: IOMMU_TID.INVALIDATIONS, ts: us(e.atNs), cat: 'iommu', args });
        break;
      }
      case 'iommu':
        out.push({ name: String(d.typeName), ph: 'i', s: 't', pid: PID.IOMMU, tid: IOMMU_TID.EVENT_LOG, ts: us(e.atNs), cat: 'iommu', args: pick(d, ['seq', 'deviceId', 'domainId', 'address', 'write', 'rmpFlags']) });
        break;
      case 'dma': {
        const deviceId = num(d.deviceId, 0);
        devices.add(deviceId);
        out.push({ name: String(d.outcome), ph: 'i', s: 't', pid: DEVICE_PID_BASE + deviceId, tid: 1, ts: us(e.atNs), cat: 'dma', args: pick(d, ['iova', 'write', 'latencyNs', 'streamId']) });
        break;
      }
      default:
        break;
    }
  }

  const allDevices = [...devices].sort((a, b) => a - b);
  const share = counterShare(allDevices.length, t.maxEvents);
  const sorted = allDevices.slice(0, share.tracked);
  // Aligning the start to the bin adds up to one bin: fit the window in one bin fewer.
  const binNs = counterBinNs(t.binNs, Math.max(endNs - t.startNs, 1), Math.max(1, share.bins - 1));
  const startNs = Math.floor(t.startNs / binNs) * binNs;
  const count = Math.max(1, Math.ceil((endNs - startNs) / binNs));
  sorted.forEach((deviceId, i) => {
    const pid = DEVICE_PID_BASE + deviceId;
    name(pid, `device ${bdf(deviceId)} (0x${deviceId.toString(16).padStart(4, '0')})`, 10 + i);
    thread(pid, 1, 'faults');
    const w = timeline.window(binNs, startNs, count, deviceId);
    const s = w.series;
    const extra = { timeouts: s.timeouts.some((v) => v > 0), aborted: s.aborted.some((v) => v > 0) };
    for (let b = 0; b < count; b++) {
      const args: Record<string, number> = {
        issued: s.issued[b] as number,
        held: s.held[b] as number,
        completed: s.completed[b] as number,
        faults: (s.ioPageFaults[b] as number) + (s.rmpFaults[b] as number),
      };
      if (extra.timeouts) args.timeouts = s.timeouts[b] as number;
      if (extra.aborted) args.aborted = s.aborted[b] as number;
      out.push({ name: `DMA per ${binNs / 1000} us`, ph: 'C', pid, ts: us(startNs + b * binNs), cat: 'dma', args });
    }
    // A closing zero sample so the last bin has a width in the viewer.
    out.push({ name: `DMA per ${binNs / 1000} us`, ph: 'C', pid, ts: us(startNs + count * binNs), cat: 'dma', args: { issued: 0, held: 0, completed: 0, faults: 0 } });
  });

  return {
    traceEvents: out,
    displayTimeUnit: 'ns',
    otherData: {
      ...meta,
      clock: 'virtual ns (ts and dur in us)',
      startNs: t.startNs,
      endNs,
      topics: t.topics,
      events: t.events.length,
      dropped: t.dropped,
      maxEvents: t.maxEvents,
      counterBinNs: binNs,
      counterDevices: sorted.length,
      ...(sorted.length < allDevices.length ? { counterDevicesOmitted: allDevices.length - sorted.length } : {}),
      countersRetainedFromNs: timeline.retainedFromNs(),
    },
  };
}

function engineSlice(out: TraceEventJson[], name: string, startNs: number, endNs: number, args: Record<string, unknown>): void {
  out.push({ name, ph: 'X', pid: PID.ENGINE, tid: ENGINE_TID.COMMANDS, ts: us(startNs), dur: us(Math.max(0, endNs - startNs)), cat: 'engine', args });
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function pick(d: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (d[k] !== undefined) out[k] = d[k];
  return out;
}
