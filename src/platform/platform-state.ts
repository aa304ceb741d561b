/**
 * emu.dumpState / emu.loadState: a versioned JSON document of the whole platform
 * (memory, RMP, IOMMU caches and event log, guests, firmware and stall model, DMA
 * streams and in-flight requests, fault rules, clock, PRNG), round-trip exact.
 * Snapshots are not included. Memory is stored as the non-zero words of backed
 * pages; the RMP as runs of equal regions.
 * Loading builds a new Machine and only then replaces the old one, so a bad
 * document (wrong version, truncated, absurd counts) changes nothing.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { WallClock } from '../clock/wall-clock.js';
import type { RngState } from '../util/rng.js';
import type { PagePoolState } from '../memory/page-pool.js';
import { PAGE_BYTES, WORDS_PER_PAGE, type PageStore } from '../memory/host-memory.js';
import type { FirmwareState } from '../firmware/firmware.js';
import { validateStallModel } from '../tmpm/stall-model.js';
import { checkTmpmState, type TmpmState } from '../tmpm/tmpm-state.js';
import type { PspState } from '../psp/psp-device.js';
import type { DoeDeviceState } from '../psp/spdm-device.js';
import { checkPspState } from '../psp/psp-state.js';
import type { TioHostDevice } from './tio-host.js';
import type { Guest } from '../firmware/guests.js';
import type { FaultInjectorState } from './fault-injector.js';
import type { EventBus } from '../observe/event-bus.js';
import { Machine, MAX_ADVANCE_LIMIT_NS, type MachineSettings } from './machine.js';
import { MAX_IOTLB_ENTRIES, MIN_IOTLB_ENTRIES } from '../iommu/iotlb.js';
import { runSteps, sortSteps, type Steps } from '../util/steps.js';

export const STATE_FORMAT = 'smash-emu-state';
/** 2: the TMPM engine (`tmpm`), guest context pages, the stall model moved to the engine. */
export const STATE_VERSION = 2;

/** A backed page: its PFN and its non-zero words as [index, "0x..."] pairs. */
export type PageDoc = [number, Array<[number, string]>];

export interface PlatformState {
  format: typeof STATE_FORMAT;
  version: typeof STATE_VERSION;
  scenarioName: string;
  settings: MachineSettings;
  clock: { nowNs: number; mode: 'virtual' | 'realtime'; speed: number; nextSeq: number };
  rng: RngState;
  memory: { pages: PageDoc[] };
  pool: PagePoolState;
  rmp: unknown;
  iommu: unknown;
  guests: Guest[];
  firmware: FirmwareState;
  tmpm: TmpmState;
  /** The PSP: registers, a running command, SEV-TIO state, the devices' DOE state and the TIO convenience's buffers. */
  psp: { device: PspState; doe: Array<[number, DoeDeviceState]>; host: TioHostDevice[] };
  dma: unknown;
  faults: FaultInjectorState;
}

/**
 * Each page's encoded words, by page store. dumpMachine shares the memory's pages
 * (freezing them: a later write copies the page it changes), so a store seen by an
 * earlier dump has not changed and its encoding is reused: the memory part of a
 * dump costs a map entry per page plus the encoding of the pages written since the
 * last dump (protocol/README.md §1.3). The arrays are shared between documents:
 * treat a dumped document as read-only.
 */
const PAGE_WORDS_CACHE = new WeakMap<PageStore, Array<[number, string]>>();

function encodePage(page: PageStore): Array<[number, string]> {
  let nz = PAGE_WORDS_CACHE.get(page);
  if (nz !== undefined) return nz;
  nz = [];
  if (page instanceof BigUint64Array) {
    for (let i = 0; i < WORDS_PER_PAGE; i++) {
      const w = page[i] as bigint;
      if (w !== 0n) nz.push([i, '0x' + w.toString(16)]);
    }
  } else {
    for (const [i, w] of [...page.entries()].sort((a, b) => a[0] - b[0])) nz.push([i, '0x' + w.toString(16)]);
  }
  PAGE_WORDS_CACHE.set(page, nz);
  return nz;
}

/** The memory's pages as a state document lists them (pfn order, non-zero words only). */
export function encodePages(shared: ReadonlyMap<number, PageStore>): PageDoc[] {
  return runSteps(encodePageSteps(shared));
}

/** Pages encoded between two yields of encodePageSteps (a page is up to 512 words). */
const PAGES_PER_STEP = 16;

function* encodePageSteps(shared: ReadonlyMap<number, PageStore>): Steps<PageDoc[]> {
  const pages: PageDoc[] = [];
  const pfns = yield* sortSteps([...shared.keys()], (a, b) => a - b);
  for (let k = 0; k < pfns.length; k++) {
    const pfn = pfns[k] as number;
    const nz = encodePage(shared.get(pfn) as PageStore);
    if (nz.length > 0) pages.push([pfn, nz]);
    if ((k + 1) % PAGES_PER_STEP === 0) yield;
  }
  return pages;
}

/** The state document; `withMemory` false leaves `memory.pages` empty (a snapshot keeps the shared pages instead). */
export function dumpMachine(m: Machine, scenarioName: string, withMemory = true): PlatformState {
  return runSteps(dumpSteps(m, scenarioName, withMemory));
}

/**
 * dumpMachine in steps (yields between components, inside the IOTLB listing and the
 * memory): the machine must not change until the last step (Platform holds its
 * other calls meanwhile).
 */
export function* dumpSteps(m: Machine, scenarioName: string, withMemory = true): Steps<PlatformState> {
  const pages: PageDoc[] = withMemory ? yield* encodePageSteps(m.memory.sharePages()) : [];
  const head = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    scenarioName,
    settings: { ...m.settings, timing: { ...m.settings.timing } },
    clock: { nowNs: m.clock.nowNs, mode: m.clock.mode, speed: m.clock.speed, nextSeq: m.clock.queue.nextSeq },
    rng: m.rng.getState(),
    memory: { pages },
    pool: m.pool.getState(),
  } as const;
  yield;
  const rmp = m.rmp.getState();
  yield;
  const iommu = yield* m.iommu.stateSteps();
  yield;
  const guests = m.guests.getState();
  const firmware = m.firmware.getState();
  const tmpm = m.tmpm.getState();
  const psp = { device: m.psp.getState(), doe: m.doe.getState(), host: m.tioHost.getState() };
  yield;
  const dma = m.dma.getState();
  yield;
  return { ...head, rmp, iommu, guests, firmware, tmpm, psp, dma, faults: m.faults.getState() };
}

/**
 * Builds a machine from a state document. `sharedPages` (a snapshot's) replaces
 * the document's memory, shared rather than copied.
 */
export function loadMachine(doc: unknown, bus: EventBus, wall: WallClock | undefined, sharedPages?: ReadonlyMap<number, PageStore>): Machine {
  return runSteps(loadSteps(doc, bus, wall, sharedPages));
}

/**
 * loadMachine in steps (yields while decoding memory, inserting IOTLB entries and
 * between components). Nothing outside the new machine changes before the last
 * step, so stopping or failing midway leaves everything as it was; the machine's
 * realtime driver starts only at the end.
 */
export function* loadSteps(doc: unknown, bus: EventBus, wall: WallClock | undefined, sharedPages?: ReadonlyMap<number, PageStore>): Steps<Machine> {
  const s = checkEnvelope(doc);
  let m: Machine;
  try {
    const pages = sharedPages ?? (yield* decodePageSteps(s.memory.pages, s.settings.memoryBytes));
    m = new Machine(s.settings, bus, wall);
    m.clock.nowNs = s.clock.nowNs;
    m.clock.queue.nextSeq = s.clock.nextSeq;
    m.rng.setState(s.rng);
    m.memory.restoreShared(pages);
    m.pool.setState(s.pool);
    yield;
    m.rmp.setState(s.rmp);
    yield;
    yield* m.iommu.setStateSteps(s.iommu as Parameters<typeof m.iommu.setState>[0]);
    m.guests.setState(s.guests);
    for (const g of m.guests.list()) {
      for (const r of g.ranges) if (r.spa + r.length > m.pool.baseSpa) throw bad(`guest ${g.asid} has a range beyond memory or inside the page pool`);
    }
    m.firmware.setState(s.firmware);
    const tmpm = checkTmpmState(s.tmpm, s.settings.memoryBytes);
    validateStallModel(tmpm.stallModel);
    const psp = checkPspState(s.psp, s.settings.memoryBytes);
    m.psp.setState(psp.device);
    m.doe.setState(psp.doe);
    m.tioHost.setState(psp.host as TioHostDevice[]);
    m.faults.setState(s.faults);
    if (m.faults.list().some((r) => (r.delayNs ?? 0) > s.settings.maxAdvanceNs)) throw bad('a fault rule delays by more than settings.maxAdvanceNs');
    yield;
    m.dma.setState(s.dma);
    // After the DMA engine: a running smash links to the stalls it began.
    m.tmpm.setState(tmpm, (id) => m.dma.activeStall(id));
    if (m.clock.queue.liveEvents().some((e) => e.seq >= s.clock.nextSeq)) throw bad('an event seq is not below clock.nextSeq');
  } catch (e) {
    if (e instanceof EmuError && e.code === ERROR_CODES.BAD_DOCUMENT) throw e;
    throw bad(e instanceof Error ? e.message : String(e));
  }
  if (s.clock.mode === 'realtime') m.setClockMode('realtime', s.clock.speed);
  else m.clock.setMode('virtual', s.clock.speed);
  return m;
}

function bad(message: string): EmuError {
  return new EmuError(ERROR_CODES.BAD_DOCUMENT, `state document rejected: ${message}; the platform is unchanged`);
}

const MAX_MEMORY_BYTES = 2 ** 52;

/** Checks what this file itself reads; each component validates its own part. */
function checkEnvelope(doc: unknown): PlatformState {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('expected an object produced by emu.dumpState');
  const d = doc as Record<string, unknown>;
  if (d['format'] !== STATE_FORMAT) throw bad(`format must be "${STATE_FORMAT}"`);
  if (d['version'] !== STATE_VERSION) throw bad(`version ${JSON.stringify(d['version'])} is not supported (this build reads version ${STATE_VERSION})`);
  for (const key of ['settings', 'clock', 'memory', 'pool', 'rmp', 'iommu', 'firmware', 'tmpm', 'psp', 'dma', 'faults']) {
    if (typeof d[key] !== 'object' || d[key] === null) throw bad(`${key} is missing`);
  }
  const st = d['settings'] as Record<string, unknown>;
  const mem = st['memoryBytes'];
  if (typeof mem !== 'number' || !Number.isSafeInteger(mem) || mem <= 0 || mem % PAGE_BYTES !== 0 || mem > MAX_MEMORY_BYTES) throw bad('settings.memoryBytes must be a positive multiple of 4 KB below 2^52');
  for (const k of ['seed', 'eventLogEntries', 'serviceNs', 'maxAdvanceNs']) {
    const v = st[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`settings.${k} must be a non-negative integer`);
  }
  const iotlb = st['iotlbEntries'];
  if (iotlb !== undefined && (typeof iotlb !== 'number' || !Number.isSafeInteger(iotlb) || iotlb < MIN_IOTLB_ENTRIES || iotlb > MAX_IOTLB_ENTRIES || (iotlb & (iotlb - 1)) !== 0)) {
    throw bad(`settings.iotlbEntries must be a power of two in ${MIN_IOTLB_ENTRIES}..${MAX_IOTLB_ENTRIES}`);
  }
  if ((st['maxAdvanceNs'] as number) > MAX_ADVANCE_LIMIT_NS) throw bad(`settings.maxAdvanceNs must be at most ${MAX_ADVANCE_LIMIT_NS}`);
  const cBit = st['cBit'];
  if (cBit !== null && (typeof cBit !== 'number' || !Number.isInteger(cBit) || cBit < 12 || cBit > 51)) throw bad('settings.cBit must be null or an integer 12..51');
  if ((st['eventLogEntries'] as number) < 1 || (st['eventLogEntries'] as number) > 1 << 20) throw bad('settings.eventLogEntries must be 1..1048576');
  if (st['rmpSizeRule'] !== 'equal' && st['rmpSizeRule'] !== 'not-larger') throw bad('settings.rmpSizeRule must be equal or not-larger');
  const c = d['clock'] as Record<string, unknown>;
  if (typeof c['nowNs'] !== 'number' || !Number.isSafeInteger(c['nowNs']) || c['nowNs'] < 0) throw bad('clock.nowNs must be a non-negative integer');
  if (typeof c['nextSeq'] !== 'number' || !Number.isSafeInteger(c['nextSeq']) || c['nextSeq'] < 0) throw bad('clock.nextSeq must be a non-negative integer');
  if (c['mode'] !== 'virtual' && c['mode'] !== 'realtime') throw bad('clock.mode must be virtual or realtime');
  if (typeof c['speed'] !== 'number' || !(c['speed'] > 0) || !Number.isFinite(c['speed'])) throw bad('clock.speed must be a positive number');
  const rng = d['rng'];
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) throw bad('rng must be four 32-bit integers');
  if (!Array.isArray(d['guests'])) throw bad('guests must be an array');
  if (typeof d['scenarioName'] !== 'string' || d['scenarioName'].length > 256) throw bad('scenarioName must be a string of at most 256 characters');
  const mem2 = d['memory'] as Record<string, unknown>;
  if (!Array.isArray(mem2['pages'])) throw bad('memory.pages must be an array');
  return d as unknown as PlatformState;
}

/** The document's memory as pages for HostMemory.restoreShared, in steps; a page listed twice is refused. */
function* decodePageSteps(pages: PageDoc[], memoryBytes: number): Steps<Map<number, BigUint64Array>> {
  const out = new Map<number, BigUint64Array>();
  const maxPfn = memoryBytes / PAGE_BYTES;
  for (let k = 0; k < pages.length; k++) {
    const [pfn, arr] = decodePage(pages[k] as PageDoc, maxPfn);
    if (out.has(pfn)) throw bad(`memory page ${pfn} is listed twice`);
    out.set(pfn, arr);
    if ((k + 1) % PAGES_PER_STEP === 0) yield;
  }
  return out;
}

function decodePage(p: PageDoc, maxPfn: number): [number, BigUint64Array] {
  if (!Array.isArray(p) || p.length !== 2) throw bad('memory.pages entries must be [pfn, words]');
  const [pfn, words] = p;
  if (!Number.isSafeInteger(pfn) || pfn < 0 || pfn >= maxPfn) throw bad(`memory page ${String(pfn)} is outside memory`);
  if (!Array.isArray(words) || words.length > WORDS_PER_PAGE) throw bad(`memory page ${pfn} must list at most 512 words`);
  const arr = new BigUint64Array(WORDS_PER_PAGE);
  for (const w of words) {
    if (!Array.isArray(w) || w.length !== 2 || !Number.isInteger(w[0]) || w[0] < 0 || w[0] >= WORDS_PER_PAGE || typeof w[1] !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(w[1])) {
      throw bad(`memory page ${pfn} has a malformed word`);
    }
    arr[w[0]] = BigInt(w[1]);
  }
  return [pfn, arr];
}
