/**
 * Socket tests: a trace recorded through the real server around a smash under a
 * DMA stream, exported as Chrome/Perfetto JSON, written to a file and parsed back:
 * its counter tracks must add up to dma.stats, and the engine's slice must be the
 * command's own start, stall and status.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useTestApp, type UntypedCall } from '../helpers/app.js';
import { ENGINE_SLICE_NAME, smashAgainOverWire, smashOverWire } from '../helpers/engine-command.js';
import { testOutputPath } from '../helpers/browser.js';
import type { TraceEventJson } from '../../src/observe/perfetto-trace.js';

const app = useTestApp();
const call: UntypedCall = (method, params) => app().call(method, params);

/** An exported event, its args read freely. */
type Ev = Omit<TraceEventJson, 'args'> & { args?: Record<string, any> };

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('trace.export (perfetto-json) through the server', () => {
  it('writes a trace whose counters match dma.stats and whose engine slice is the command result', async () => {
    await call('trace.start', { binNs: 100_000 });
    await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x400000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    await call('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x100000', ratePerSec: 200_000, accessBytes: 64, writeRatio: 0.5 });
    await call('clock.advance', { ns: 1_000_000 });
    // A fault on the untrusted device (its IOVA past 64 MiB is unmapped) and an IOMMU command.
    expect((await call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: true })).outcome).toBe('io_page_fault');
    await call('iommu.command', { qwords: ['0x3000000000000000', '0x0'] });
    await call('clock.advance', { ns: 500_000 });
    const r = await smashOverWire(app().client);
    expect(r.statusName).toBe('SUCCESS');
    const refused = await smashAgainOverWire(app().client);
    expect(refused.statusName).not.toBe('SUCCESS');
    await call('clock.advance', { ns: 500_000 });
    const streams = ['s1', 's2'];
    for (const s of streams) await call('dma.stopStream', { streamId: s });
    await call('clock.advance', { ns: 100_000 });
    const stopped = await call('trace.stop');
    expect(stopped).toMatchObject({ ok: true, dropped: 0 });

    const exported = await call('trace.export', { format: 'perfetto-json' });
    const file = testOutputPath('smash-under-dma.trace.json');
    writeFileSync(file, JSON.stringify(exported.trace));
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Ev[]; displayTimeUnit: string; otherData: Record<string, any> };
    expect(doc.displayTimeUnit).toBe('ns');
    const events = doc.traceEvents;
    const procs = new Map(events.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => [e.pid, e.args!.name as string]));
    const pidOf = (label: string) => [...procs].find(([, n]) => n.startsWith(label))![0];
    expect([...procs.values()]).toEqual(expect.arrayContaining(['TMPM engine', 'SEV firmware', 'IOMMU', 'device 01:00.0 (0x0100)', 'device 02:00.0 (0x0200)']));

    // Counter tracks of each device add up to dma.stats of that device.
    for (const [deviceId, label] of [
      [0x100, 'device 01:00.0'],
      [0x200, 'device 02:00.0'],
    ] as const) {
      const stats = await call('dma.stats', { deviceId });
      const counters = events.filter((e) => e.ph === 'C' && e.pid === pidOf(label));
      expect(counters.length).toBeGreaterThan(10);
      expect(sum(counters.map((e) => e.args!.issued))).toBe(stats.issued);
      expect(sum(counters.map((e) => e.args!.completed))).toBe(stats.completed);
      expect(sum(counters.map((e) => e.args!.held))).toBe(stats.held);
      expect(sum(counters.map((e) => e.args!.faults))).toBe(stats.ioPageFaults + stats.rmpFaults);
      expect(stats.inFlight).toBe(0);
    }
    const dev1 = await call('dma.stats', { deviceId: 0x100 });
    expect(dev1.held).toBe(r.dmaHeld);
    expect(dev1.held).toBeGreaterThan(1000);

    // The engine's slice: the command, from its start to its end, with its status; the refused one too.
    const engine = pidOf('TMPM engine');
    const commands = events.filter((e) => e.pid === engine && e.tid === 1 && e.ph !== 'M');
    expect(commands.map((e) => e.args!.statusName)).toEqual(['SUCCESS', refused.statusName]);
    const ok = commands[0]!;
    expect(ok).toMatchObject({ ph: 'X', name: ENGINE_SLICE_NAME, args: { status: r.status, statusName: 'SUCCESS' } });
    expect(ok.ts).toBeCloseTo(r.startNs! / 1000, 6);
    expect(ok.dur).toBeCloseTo((r.endNs! - r.startNs!) / 1000, 6);
    expect(commands[1]!.args).toMatchObject({ status: refused.status });
    const stall = events.filter((e) => e.pid === engine && e.ph === 'X' && e.tid === 2);
    expect(stall).toHaveLength(1);
    expect(stall[0]).toMatchObject({ name: 'stall (domain 1)', ts: r.startNs! / 1000, dur: (r.endNs! - r.startNs!) / 1000 });
    // No held request completed before the stall ended: the first completion after the hold is in its end bin.
    const dev1Counters = events.filter((e) => e.ph === 'C' && e.pid === pidOf('device 01:00.0'));
    const during = dev1Counters.filter((e) => e.ts! * 1000 >= r.startNs! + 100_000 && e.ts! * 1000 + 100_000 <= r.endNs!);
    expect(during.length).toBeGreaterThan(5);
    for (const e of during) expect(e.args).toMatchObject({ completed: 0 });
    expect(during.every((e) => e.args!.held === e.args!.issued)).toBe(true);

    // The device fault as an instant, the IOMMU event-log entry and command.
    const iommu = pidOf('IOMMU');
    expect(events.filter((e) => e.pid === pidOf('device 02:00.0') && e.ph === 'i').map((e) => e.name)).toEqual(['io_page_fault']);
    expect(events.filter((e) => e.pid === iommu && e.tid === 3 && e.ph !== 'M').map((e) => e.name)).toEqual(['IO_PAGE_FAULT']);
    expect(events.filter((e) => e.pid === iommu && e.tid === 1 && e.ph !== 'M').map((e) => e.name)).toEqual(['INVALIDATE_IOMMU_PAGES']);
    expect(events.filter((e) => e.pid === iommu && e.tid === 2 && e.ph !== 'M').map((e) => e.name)).toEqual(['INVALIDATE_IOMMU_PAGES', 'engine: invalidate 2 MB']);
    // SEV firmware: nothing but the engine ran.
    expect(events.filter((e) => e.pid === pidOf('SEV firmware') && e.ph !== 'M')).toEqual([]);
    expect(doc.otherData).toMatchObject({ startNs: stopped.startNs, endNs: stopped.stopNs, dropped: 0, counterBinNs: 100_000 });
  });

  it('keeps at most maxEvents and counts the rest as dropped', async () => {
    await call('trace.start', { topics: ['dma'], maxEvents: 3 });
    for (let i = 0; i < 5; i++) await call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 8, write: false });
    const stopped = await call('trace.stop');
    expect(stopped).toMatchObject({ events: 3, dropped: 2 });
    const { trace } = await call('trace.export', { format: 'perfetto-json' });
    expect(trace.traceEvents.filter((e: Ev) => e.ph === 'i')).toHaveLength(3);
    expect(trace.otherData).toMatchObject({ events: 3, dropped: 2, maxEvents: 3 });
  });

  it('refuses bad input and changes nothing', async () => {
    await expect(call('trace.export', { format: 'perfetto-json' })).rejects.toMatchObject({ code: -32001 });
    await expect(call('trace.stop')).rejects.toMatchObject({ code: -32001 });
    await expect(call('trace.start', { maxEvents: 0 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('trace.start', { maxEvents: 1_000_001 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('trace.start', { topics: ['rmp'] })).rejects.toMatchObject({ code: -32602 });
    await expect(call('trace.start', { binNs: 15_000 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('trace.export', { format: 'json' })).rejects.toMatchObject({ code: -32602 });
    await expect(call('trace.export', { format: 'perfetto-json' })).rejects.toMatchObject({ code: -32001 });
  });
});

describe('dma.histogram and dma.timeline through the server', () => {
  it('returns buckets that add up to dma.stats and a timeline whose bins add up too', async () => {
    await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x400000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    await call('clock.advance', { ns: 1_000_000 });
    const r = await smashOverWire(app().client);
    await call('dma.stopStream', { streamId: 's1' });
    await call('clock.advance', { ns: 1_000_000 });
    const stats = await call('dma.stats', { streamId: 's1' });
    const hist = await call('dma.histogram', { streamId: 's1' });
    expect(hist.count).toBe(stats.completed);
    expect(sum(hist.buckets.map((b: { count: number }) => b.count))).toBe(stats.completed);
    expect(hist.maxNs).toBe(stats.latencyNs.max);
    const last = hist.buckets[hist.buckets.length - 1];
    expect(last.valueNs).toBe(stats.latencyNs.max);
    for (const b of hist.buckets) expect(b.fromNs).toBeLessThanOrEqual(b.valueNs);
    // The held requests waited up to the stall: the slowest took about the stall's length.
    expect(hist.maxNs).toBeGreaterThan(r.stallNs! * 0.99);

    const tl = await call('dma.timeline', { binNs: 100_000, deviceId: 0x100 });
    expect(tl.startNs).toBe(0);
    expect(sum(tl.issued)).toBe(stats.issued);
    expect(sum(tl.completed)).toBe(stats.completed);
    expect(sum(tl.held)).toBe(stats.held);
    const all = await call('dma.timeline', { binNs: 100_000 });
    expect(all.issued).toEqual(tl.issued);
    const window = await call('dma.timeline', { binNs: 20_000, startNs: r.startNs, endNs: r.endNs });
    // Inside the stall nothing completes on the stalled domain (bins that start after the last pre-stall completion).
    expect(window.completed.slice(1, -1).every((v: number) => v === 0)).toBe(true);
    expect(sum(window.held)).toBe(r.dmaHeld);

    await expect(call('dma.timeline', { binNs: 15_000 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('dma.timeline', { binNs: 10_000, startNs: 0, endNs: 1_000_000_000 })).rejects.toMatchObject({ code: -32003 });
    await expect(call('dma.timeline', { binNs: 10_000, startNs: 5000, endNs: 10 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('dma.histogram', { deviceId: 0x100, streamId: 's1' })).rejects.toMatchObject({ code: -32602 });
    await expect(call('dma.histogram', { streamId: 'nope' })).rejects.toMatchObject({ code: -32001 });
    await call('dma.resetStats');
    expect((await call('dma.histogram', {})).buckets).toEqual([]);
    expect(sum((await call('dma.timeline', { binNs: 100_000 })).issued)).toBe(0);
  });
});

describe("trace.export stays within the trace's maxEvents", () => {
  it('256 devices with one faulting dma.issue each: counter samples of all devices together at most maxEvents, the answer small', async () => {
    const maxEvents = 1000;
    await call('trace.start', { maxEvents, binNs: 10_000 });
    // Devices with no DTE: each request faults (one dma event, one counter track each).
    for (let i = 0; i < 256; i++) {
      expect((await call('dma.issue', { deviceId: 0x1000 + i, iova: '0x1000', bytes: 64, write: false })).outcome).toBe('io_page_fault');
      await call('clock.advance', { ns: 1_000_000 });
    }
    const { trace } = await call('trace.export', { format: 'perfetto-json' });
    const events = trace.traceEvents as Ev[];
    const counters = events.filter((e) => e.ph === 'C');
    expect(counters.length).toBeGreaterThan(0);
    expect(counters.length).toBeLessThanOrEqual(maxEvents);
    // Every recorded event, the counters and each tracked device's three metadata events: bounded by maxEvents.
    expect(events.length).toBeLessThanOrEqual(3 * maxEvents + 20);
    expect(JSON.stringify(trace).length).toBeLessThan(400 * maxEvents);
    // A tracked device's counters still add up to its dma.stats (the last one: the
    // timeline's retained chunks, shared by the devices, have dropped the first ones').
    const pids = new Set(counters.map((e) => e.pid));
    expect(trace.otherData.counterDevices).toBe(pids.size);
    const one = Math.max(...pids);
    const stats = await call('dma.stats', { deviceId: one - 100 });
    expect(sum(counters.filter((e) => e.pid === one).map((e) => e.args!.issued))).toBe(stats.issued);
  });

  it('more devices than maxEvents / 3: the devices with the highest IDs get no counter track and otherData says how many', async () => {
    await call('trace.start', { maxEvents: 20 });
    for (let i = 0; i < 30; i++) await call('dma.issue', { deviceId: 0x1000 + i, iova: '0x1000', bytes: 64, write: false });
    await call('clock.advance', { ns: 100_000 });
    const { trace } = await call('trace.export', { format: 'perfetto-json' });
    const counters = (trace.traceEvents as Ev[]).filter((e) => e.ph === 'C');
    expect(counters.length).toBeLessThanOrEqual(20);
    expect(trace.otherData).toMatchObject({ counterDevices: 6, counterDevicesOmitted: 24 });
    expect(new Set(counters.map((e) => e.pid))).toEqual(new Set(Array.from({ length: 6 }, (_, i) => 100 + 0x1000 + i)));
  });
});
