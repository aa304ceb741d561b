/**
 * The DMA engine's state document (`emu.dumpState`, snapshots; protocol/README.md §12:
 * state documents include streams). JSON-safe: 64-bit IOVAs as hex
 * strings, histograms as HDR compressed base64, every time an integer ns.
 *
 * The reader validates the whole document and builds fresh objects before the engine
 * swaps anything in, so a bad document throws BAD_DOCUMENT and changes nothing.
 * Pending clock events carry the `seq` they had, so the engine re-schedules them in
 * their original relative order (events due at the same ns fire in seq order).
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { CompletionQueue, type CompletionSink } from './completion-queue.js';
import { DmaCounters, type DmaCountersDoc, type StallWindow } from './dma-stats.js';
import { DmaStream, checkStreamParams, type StreamParams } from './dma-stream.js';
import { LatencyHistogram } from './latency-histogram.js';
import { Stall, StallGate } from './stall-gate.js';
import type { HeldRequest } from './held-request.js';
import { heldInInsertionOrder } from './held-runs.js';

export const DMA_STATE_VERSION = 1;

export interface WindowDoc {
  startNs: number;
  endNs: number;
  scope: 'domain' | 'iommu';
  domainId: number;
}
/** `windows`: indices into DmaEngineState.windows. */
export type CountersEntryDoc = DmaCountersDoc & { windows: number[] };
export interface HeldDoc {
  deviceId: number;
  streamId: string | null;
  iovaPfn: number;
  pageOff: number;
  write: boolean;
  arrivalNs: number;
  order: number;
  timeoutNs: number;
}
export interface StreamDoc {
  streamId: string;
  deviceId: number;
  /** Hex string. */
  iovaBase: string;
  length: number;
  ratePerSec: number;
  accessBytes: number;
  writeRatio: number;
  pattern: 'random' | 'sequential';
  arrival: 'fixed' | 'poisson';
  active: boolean;
  /** Both null once stopped. */
  nextArrivalNs: number | null;
  seq: number | null;
  cursor: number;
  acc: number;
  counters: DmaCountersDoc;
}
export interface StallDoc {
  id: number;
  scope: 'domain' | 'iommu';
  domainId: number;
  startNs: number;
  endNs: number;
  policy: 'hold' | 'abort';
  completionTimeoutNs: number;
  heldCount: number;
  window: number;
  seq: number;
  held: HeldDoc[];
}
export interface CompletionDoc {
  doneNs: number;
  latencyNs: number;
  spanNs: number;
  deviceId: number;
  streamId: string | null;
}

export interface DmaEngineState {
  version: number;
  serviceNs: number;
  nextStreamNum: number;
  nextStallId: number;
  heldOrder: number;
  windows: WindowDoc[];
  total: CountersEntryDoc;
  devices: { deviceId: number; counters: CountersEntryDoc }[];
  streams: StreamDoc[];
  completions: CompletionDoc[];
  stalls: StallDoc[];
  timeouts: (HeldDoc & { atNs: number; seq: number })[];
}

/** The engine's internals, as written and as rebuilt. */
export interface EngineParts {
  serviceNs: number;
  nextStreamNum: number;
  heldOrder: number;
  total: DmaCounters;
  slots: DmaCounters[];
  deviceSlots: Map<number, number>;
  streams: Map<string, DmaStream>;
  gate: StallGate;
  completions: CompletionQueue;
  timeouts: Set<HeldRequest>;
}

export interface RestoredEvent {
  atNs: number;
  kind: 'arrival' | 'release' | 'timeout';
  data: DmaStream | Stall | HeldRequest;
  seq: number;
}

export function writeDmaState(p: EngineParts): DmaEngineState {
  const windows: StallWindow[] = [];
  const windowIndex = new Map<StallWindow, number>();
  const indexOf = (w: StallWindow): number => {
    let i = windowIndex.get(w);
    if (i === undefined) {
      i = windows.push(w) - 1;
      windowIndex.set(w, i);
    }
    return i;
  };
  const entry = (c: DmaCounters): CountersEntryDoc => ({ ...c.toDoc(), windows: c.stalls.map(indexOf) });
  const slotDevice: number[] = [];
  for (const [deviceId, slot] of p.deviceSlots) slotDevice[slot] = deviceId;
  const slotStream: string[] = [];
  for (const s of p.streams.values()) slotStream[s.streamSlot] = s.id;
  const held = (r: HeldRequest): HeldDoc => ({
    deviceId: r.deviceId,
    streamId: r.stream === null ? null : r.stream.id,
    iovaPfn: r.iovaPfn,
    pageOff: r.pageOff,
    write: r.write,
    arrivalNs: r.arrivalNs,
    order: r.order,
    timeoutNs: r.timeoutNs,
  });
  const doc: DmaEngineState = {
    version: DMA_STATE_VERSION,
    serviceNs: p.serviceNs,
    nextStreamNum: p.nextStreamNum,
    nextStallId: p.gate.nextId,
    heldOrder: p.heldOrder,
    windows: [],
    total: entry(p.total),
    devices: [...p.deviceSlots].map(([deviceId, slot]) => ({ deviceId, counters: entry(p.slots[slot] as DmaCounters) })),
    streams: [...p.streams.values()].map((s) => ({
      streamId: s.id,
      deviceId: s.params.deviceId,
      iovaBase: `0x${s.params.iovaBase.toString(16)}`,
      length: s.params.length,
      ratePerSec: s.params.ratePerSec,
      accessBytes: s.params.accessBytes,
      writeRatio: s.params.writeRatio,
      pattern: s.params.pattern,
      arrival: s.params.arrival,
      active: s.active,
      nextArrivalNs: s.event === null ? null : s.nextArrivalNs,
      seq: s.event === null ? null : s.event.seq,
      cursor: s.cursor,
      acc: s.acc,
      counters: s.counters.toDoc(),
    })),
    completions: p.completions.entries().map((e) => ({
      doneNs: e.doneNs,
      latencyNs: e.latencyNs,
      spanNs: e.spanNs,
      deviceId: slotDevice[e.deviceSlot] as number,
      streamId: e.streamSlot < 0 ? null : (slotStream[e.streamSlot] as string),
    })),
    stalls: p.gate.active.map((s) => ({
      id: s.id,
      scope: s.scope,
      domainId: s.domainId,
      startNs: s.startNs,
      endNs: s.endNs,
      policy: s.policy,
      completionTimeoutNs: s.completionTimeoutNs,
      heldCount: s.heldCount,
      window: indexOf(s.window),
      seq: s.releaseEvent === null ? 0 : s.releaseEvent.seq,
      held: heldOf(s).map(held),
    })),
    timeouts: [...p.timeouts].map((r) => ({
      ...held(r),
      atNs: r.timeoutEvent === null ? r.arrivalNs + r.timeoutNs : r.timeoutEvent.atNs,
      seq: r.timeoutEvent === null ? 0 : r.timeoutEvent.seq,
    })),
  };
  doc.windows = windows.map((w) => ({ startNs: w.startNs, endNs: w.endNs, scope: w.scope, domainId: w.domainId }));
  return doc;
}

/**
 * A stall's held requests as the one-object-per-request engine keeps them: in
 * insertion order (runs expanded), or, part-way through a release, what is left in
 * release order.
 */
function heldOf(s: Stall): HeldRequest[] {
  if (s.merge !== null) {
    const m = s.merge.clone();
    const out: HeldRequest[] = [];
    // A run's members come in one reused record (HeldMerge.next): keep copies.
    for (let r = m.next(); r !== undefined; r = m.next()) out.push(m.isScratch(r) ? { ...r } : r);
    return out;
  }
  if (s.releasedUpTo > 0) return s.held.slice(s.releasedUpTo);
  return s.runs.length === 0 ? s.held : [...heldInInsertionOrder(s.held, s.runs)];
}

// ---- reading ------------------------------------------------------------------

const MAX_HISTOGRAM_CHARS = 1 << 20;

function fail(path: string, rule: string): never {
  throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `DMA state: ${path} ${rule}`, { path });
}
function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  return v as Record<string, unknown>;
}
function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  return v;
}
function int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(path, `must be an integer in ${min}..${max}`);
  return v;
}
function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'must be a boolean');
  return v;
}
function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) fail(path, `must be one of ${values.join(', ')}`);
  return v as T;
}

function readCounters(v: unknown, path: string): DmaCounters {
  const o = obj(v, path);
  const n = (k: keyof DmaCountersDoc): number => int(o[k], `${path}.${k}`);
  const d = {
    issued: n('issued'),
    completed: n('completed'),
    held: n('held'),
    waiting: n('waiting'),
    ioPageFaults: n('ioPageFaults'),
    rmpFaults: n('rmpFaults'),
    timeouts: n('timeouts'),
    aborted: n('aborted'),
    inFlight: n('inFlight'),
    maxNs: n('maxNs'),
    histogram: '',
    // Absent in documents written before the IOTLB was bounded.
    iotlbMisses: o['iotlbMisses'] === undefined ? 0 : n('iotlbMisses'),
  };
  if (d.issued !== d.completed + d.ioPageFaults + d.rmpFaults + d.timeouts + d.aborted + d.inFlight) {
    fail(path, 'breaks issued = completed + ioPageFaults + rmpFaults + timeouts + aborted + inFlight');
  }
  if (d.waiting > d.inFlight || d.waiting > d.held) fail(`${path}.waiting`, 'must not exceed inFlight or held');
  const h = o['histogram'];
  if (typeof h !== 'string' || h.length > MAX_HISTOGRAM_CHARS) fail(`${path}.histogram`, 'must be an HDR compressed base64 string');
  let latency: LatencyHistogram;
  try {
    latency = LatencyHistogram.decode(h, d.maxNs);
  } catch {
    fail(`${path}.histogram`, 'is not a valid HDR compressed base64 histogram');
  }
  if (latency.count !== d.completed) fail(`${path}.histogram`, `must hold exactly completed (${d.completed}) values`);
  return DmaCounters.fromDoc(d, latency, []);
}

/** Validates `doc` against the clock's current time and builds fresh engine parts. */
export function readDmaState(doc: unknown, nowNs: number, sink: CompletionSink): EngineParts & { events: RestoredEvent[] } {
  const d = obj(doc, 'state');
  if (d['version'] !== DMA_STATE_VERSION) fail('state.version', `must be ${DMA_STATE_VERSION}`);
  const serviceNs = int(d['serviceNs'], 'state.serviceNs');
  const nextStreamNum = int(d['nextStreamNum'], 'state.nextStreamNum', 1);
  const nextStallId = int(d['nextStallId'], 'state.nextStallId', 1);
  const heldOrder = int(d['heldOrder'], 'state.heldOrder');

  const windows: StallWindow[] = arr(d['windows'], 'state.windows').map((v, i) => {
    const p = `state.windows[${i}]`;
    const w = obj(v, p);
    const startNs = int(w['startNs'], `${p}.startNs`);
    return {
      startNs,
      endNs: int(w['endNs'], `${p}.endNs`, startNs),
      scope: oneOf(w['scope'], `${p}.scope`, ['domain', 'iommu'] as const),
      domainId: int(w['domainId'], `${p}.domainId`, -1),
    };
  });
  const entry = (v: unknown, path: string): DmaCounters => {
    const c = readCounters(v, path);
    c.stalls = arr(obj(v, path)['windows'], `${path}.windows`).map((i, k) => windows[int(i, `${path}.windows[${k}]`, 0, windows.length - 1)] as StallWindow);
    return c;
  };

  const total = entry(d['total'], 'state.total');
  const slots: DmaCounters[] = [];
  const deviceSlots = new Map<number, number>();
  arr(d['devices'], 'state.devices').forEach((v, i) => {
    const p = `state.devices[${i}]`;
    const o = obj(v, p);
    const deviceId = int(o['deviceId'], `${p}.deviceId`, 0, 0xffff);
    if (deviceSlots.has(deviceId)) fail(`${p}.deviceId`, `repeats device ${deviceId}`);
    deviceSlots.set(deviceId, slots.push(entry(o['counters'], `${p}.counters`)) - 1);
  });

  const streams = new Map<string, DmaStream>();
  const events: RestoredEvent[] = [];
  arr(d['streams'], 'state.streams').forEach((v, i) => {
    const p = `state.streams[${i}]`;
    const o = obj(v, p);
    const id = o['streamId'];
    if (typeof id !== 'string' || !/^s[1-9][0-9]{0,15}$/.test(id) || Number(id.slice(1)) >= nextStreamNum) {
      fail(`${p}.streamId`, `must be "s<n>" with n < nextStreamNum (${nextStreamNum})`);
    }
    if (streams.has(id)) fail(`${p}.streamId`, `repeats ${id}`);
    if (typeof o['iovaBase'] !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(o['iovaBase'])) fail(`${p}.iovaBase`, 'must be a hex string "0x..." below 2^64');
    let params: Required<StreamParams>;
    try {
      params = checkStreamParams({
        deviceId: o['deviceId'] as number,
        iovaBase: BigInt(o['iovaBase']),
        length: o['length'] as number,
        ratePerSec: o['ratePerSec'] as number,
        accessBytes: o['accessBytes'] as number,
        writeRatio: o['writeRatio'] as number,
        pattern: o['pattern'] as 'random',
        arrival: o['arrival'] as 'fixed',
      });
    } catch (e) {
      fail(p, `has bad stream parameters: ${(e as Error).message}`);
    }
    const deviceSlot = deviceSlots.get(params.deviceId);
    if (deviceSlot === undefined) fail(`${p}.deviceId`, `names device ${params.deviceId}, absent from state.devices`);
    const counters = readCounters(o['counters'], `${p}.counters`);
    const streamSlot = slots.push(counters) - 1;
    const s = new DmaStream(id, params, counters, slots[deviceSlot] as DmaCounters, streamSlot, deviceSlot);
    const cur = { cursor: o['cursor'] as number, acc: o['acc'] as number };
    if (!s.cursorFits(cur)) fail(p, "has a cursor or acc outside the stream's range");
    s.cursor = cur.cursor;
    s.acc = cur.acc;
    s.active = bool(o['active'], `${p}.active`);
    if (s.active) {
      s.nextArrivalNs = int(o['nextArrivalNs'], `${p}.nextArrivalNs`, nowNs);
      events.push({ atNs: s.nextArrivalNs, kind: 'arrival', data: s, seq: int(o['seq'], `${p}.seq`) });
    } else if (o['nextArrivalNs'] !== null || o['seq'] !== null) {
      fail(p, 'is stopped: nextArrivalNs and seq must be null');
    }
    streams.set(id, s);
  });

  // Requests in flight, counted per view to check every inFlight / waiting counter.
  const inFlight = new Map<DmaCounters, number>();
  const waiting = new Map<DmaCounters, number>();
  const bump = (m: Map<DmaCounters, number>, c: DmaCounters): void => {
    m.set(c, (m.get(c) ?? 0) + 1);
  };
  const owners = (deviceId: unknown, streamId: unknown, p: string): { deviceSlot: number; stream: DmaStream | null } => {
    const id = int(deviceId, `${p}.deviceId`, 0, 0xffff);
    const deviceSlot = deviceSlots.get(id);
    if (deviceSlot === undefined) fail(`${p}.deviceId`, `names device ${id}, absent from state.devices`);
    let stream: DmaStream | null = null;
    if (streamId !== null) {
      stream = typeof streamId === 'string' ? (streams.get(streamId) ?? null) : null;
      if (stream === null || stream.params.deviceId !== id) fail(`${p}.streamId`, `must be null or a stream of device ${id}`);
    }
    for (const c of [total, slots[deviceSlot] as DmaCounters, ...(stream === null ? [] : [stream.counters])]) bump(inFlight, c);
    return { deviceSlot, stream };
  };

  const completions = new CompletionQueue(sink);
  const lastDone = new Map<number, number>();
  arr(d['completions'], 'state.completions').forEach((v, i) => {
    const p = `state.completions[${i}]`;
    const o = obj(v, p);
    const { deviceSlot, stream } = owners(o['deviceId'], o['streamId'], p);
    const doneNs = int(o['doneNs'], `${p}.doneNs`);
    const spanNs = int(o['spanNs'], `${p}.spanNs`);
    if (doneNs < (lastDone.get(spanNs) ?? 0)) fail(`${p}.doneNs`, 'must not decrease among completions of one spanNs');
    lastDone.set(spanNs, doneNs);
    completions.restore({ doneNs, spanNs, latencyNs: int(o['latencyNs'], `${p}.latencyNs`), deviceSlot, streamSlot: stream === null ? -1 : stream.streamSlot });
  });

  const orders = new Set<number>();
  const heldRequest = (v: unknown, p: string): HeldRequest => {
    const o = obj(v, p);
    const { deviceSlot, stream } = owners(o['deviceId'], o['streamId'], p);
    const device = slots[deviceSlot] as DmaCounters;
    for (const c of [total, device, ...(stream === null ? [] : [stream.counters])]) bump(waiting, c);
    const order = int(o['order'], `${p}.order`, 0, heldOrder - 1);
    if (orders.has(order)) fail(`${p}.order`, `repeats ${order}`);
    orders.add(order);
    return {
      deviceId: o['deviceId'] as number,
      deviceSlot,
      stream,
      device,
      order,
      iovaPfn: int(o['iovaPfn'], `${p}.iovaPfn`, 0, 2 ** 52 - 1),
      pageOff: int(o['pageOff'], `${p}.pageOff`, 0, 4095),
      write: bool(o['write'], `${p}.write`),
      arrivalNs: int(o['arrivalNs'], `${p}.arrivalNs`, 0, nowNs),
      timeoutNs: int(o['timeoutNs'], `${p}.timeoutNs`),
      resolve: null,
      timeoutEvent: null,
    };
  };

  const gate = new StallGate();
  gate.nextId = nextStallId;
  const stallIds = new Set<number>();
  arr(d['stalls'], 'state.stalls').forEach((v, i) => {
    const p = `state.stalls[${i}]`;
    const o = obj(v, p);
    const id = int(o['id'], `${p}.id`, 1, nextStallId - 1);
    if (stallIds.has(id)) fail(`${p}.id`, `repeats ${id}`);
    stallIds.add(id);
    const startNs = int(o['startNs'], `${p}.startNs`, 0, nowNs);
    const endNs = int(o['endNs'], `${p}.endNs`, nowNs);
    const scope = oneOf(o['scope'], `${p}.scope`, ['domain', 'iommu'] as const);
    const domainId = int(o['domainId'], `${p}.domainId`, -1);
    const w = windows[int(o['window'], `${p}.window`, 0, windows.length - 1)] as StallWindow;
    if (w.startNs !== startNs || w.endNs !== endNs || w.scope !== scope || w.domainId !== domainId) fail(`${p}.window`, "must name this stall's own window");
    if (gate.active.some((s) => s.window === w)) fail(`${p}.window`, 'is shared with another stall');
    const s = new Stall(id, scope, domainId, startNs, endNs, oneOf(o['policy'], `${p}.policy`, ['hold', 'abort'] as const), int(o['completionTimeoutNs'], `${p}.completionTimeoutNs`), w);
    s.held = arr(o['held'], `${p}.held`).map((h, k) => heldRequest(h, `${p}.held[${k}]`));
    s.heldCount = int(o['heldCount'], `${p}.heldCount`, s.held.length);
    gate.active.push(s);
    events.push({ atNs: endNs, kind: 'release', data: s, seq: int(o['seq'], `${p}.seq`) });
  });

  const timeouts = new Set<HeldRequest>();
  arr(d['timeouts'], 'state.timeouts').forEach((v, i) => {
    const p = `state.timeouts[${i}]`;
    const r = heldRequest(v, p);
    const o = v as Record<string, unknown>;
    const atNs = int(o['atNs'], `${p}.atNs`, Math.max(nowNs, r.arrivalNs));
    timeouts.add(r);
    events.push({ atNs, kind: 'timeout', data: r, seq: int(o['seq'], `${p}.seq`) });
  });

  for (const c of [total, ...slots]) {
    if (c.inFlight !== (inFlight.get(c) ?? 0) || c.waiting !== (waiting.get(c) ?? 0)) {
      fail('state', 'has inFlight or waiting counters that differ from the pending completions, held requests and timeouts it lists');
    }
  }
  events.sort((a, b) => a.seq - b.seq);
  return { serviceNs, nextStreamNum, heldOrder, total, slots, deviceSlots, streams, gate, completions, timeouts, events };
}
