/**
 * A Platform is one emulated machine as clients see it: the library's public API,
 * one method per wire method (the JSON-RPC layer only parses and formats). Results
 * carry addresses and 64-bit values as bigint; the wire shows them as hex.
 * The Machine behind it is replaced whole by reset, revert and loadState.
 */
import { fwTdiBind, fwTdiUnbind, tioFenceClear, tioFenceStatus } from './platform-tdi.js';
import type { WallClock } from '../clock/wall-clock.js';
import { VIRTUAL_CHUNK_EVENTS, VirtualClock } from '../clock/virtual-clock.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { rmpRcName } from '../rmp/return-codes.js';
import type { RmpPageSize } from '../rmp/rmp-entry.js';
import { NPF_ERROR } from '../rmp/return-codes.js';
import type { StallModelPatch } from '../tmpm/stall-model.js';
import { tmpmRegsView } from '../tmpm/regs-view.js';
import { tmpmGetCapabilities, tmpmPreparePsmash, tmpmPsmashIo, tmpmPunsmashIo, tmpmSubmit, type PsmashIoParams } from './platform-tmpm.js';
import { bytesToHex, fwInit, fwPageReclaim, fwPageUnsmash, fwPlatformStatus, hexToBytes, pciDoe, tioConnect } from './platform-psp.js';
import { fwShutdown, tioDisconnect } from './platform-teardown.js';
import type { DoeFeature } from '../psp/spdm-device.js';
import { encodeDte } from '../iommu/dte.js';
import { stripCBit } from '../iommu/pte.js';
import type { DteFields } from '../iommu/dte.js';
import type { StreamParams } from '../dma/dma-stream.js';
import { EventBus } from '../observe/event-bus.js';
import type { FaultDecision, FaultRuleSpec } from './fault-injector.js';
import type { LatencyHistogram } from '../dma/latency-histogram.js';
import { readingsOf, type MachineReadings } from './readings.js';
import { platformInfo } from './platform-info.js';
import type { Machine } from './machine.js';
import { MachineSlot } from './machine-slot.js';
import type { Scenario } from './scenario.js';
import { DEFAULT_SCENARIO } from './scenario.js';
import { auditMachine, type AuditViolation } from './audit.js';
import type { PlatformState } from './platform-state.js';
import type { SnapshotBudget, SnapshotLimits } from './snapshot-store.js';
import { dteView, eventView, iotlbEntryView, rmpEntryView, walkView } from './views.js';
import { EventTally } from '../observe/event-tally.js';
import { TraceRecorder, type TraceStartOptions } from '../observe/trace-recorder.js';
import { perfettoTrace } from '../observe/perfetto-trace.js';
import { checkBinNs, timelineWindow, type TimelineWindowParams } from './timeline-window.js';
import { VERSION } from './version.js';

export { VERSION };

export interface PlatformOptions {
  /** The wall-clock adapter for realtime mode (the server passes systemWallClock). */
  wall?: WallClock;
  /** Overrides the scenario's C-bit (stripped from IOMMU addresses; null = none). */
  cBit?: number | null;
  /** Name shown in emu.info (the server's platform path). */
  name?: string;
  /** Bounds of emu.snapshot (default DEFAULT_SNAPSHOT_LIMITS: 256 snapshots, 1 GiB). */
  snapshotLimits?: SnapshotLimits;
  /** A snapshot byte budget shared with other platforms (a server's); default none. */
  snapshotBudget?: SnapshotBudget;
}

/** Events processed per chunk of clock.advance before yielding to the server (or VIRTUAL_CHUNK_MS of wall time). */
const ADVANCE_CHUNK_EVENTS = VIRTUAL_CHUNK_EVENTS;

export class Platform {
  readonly bus = new EventBus();
  /** Command statuses and stall durations for GET /metrics (a bus tap). */
  readonly tally: EventTally;
  private readonly tracer: TraceRecorder;
  /** The running machine, what it was built from, and its snapshots (reset, revert, loadState replace it). */
  private readonly slot: MachineSlot;

  constructor(
    scenario: Scenario = DEFAULT_SCENARIO,
    private readonly options: PlatformOptions = {},
  ) {
    this.slot = new MachineSlot(scenario, this.bus, options);
    this.tally = new EventTally(this.bus);
    this.tracer = new TraceRecorder(this.bus);
  }

  /** The machine running now: its components, for library users and tests that reach below the API. */
  get m(): Machine {
    return this.slot.machine;
  }

  /** Virtual time now, ns (cheap: the server stamps every call with it). */
  get nowNs(): number {
    return this.slot.machine.clock.nowNs;
  }

  /** The running figures GET /metrics scrapes. */
  readings(): MachineReadings {
    return readingsOf(this.m);
  }

  // ---- emu.* (the machine's lifecycle: machine-slot.ts) ---------------------

  info() {
    return platformInfo(this.m, this.options.name ?? '', this.slot.scenarioName);
  }
  /** Rebuilds from `scenario` (default: the one in use); a bad one changes nothing. */
  reset(scenario?: Scenario): { ok: true; scenario: string } {
    return this.slot.reset(scenario);
  }
  /** True while a sliced state operation holds the platform (calls wait: whenFree). */
  get busy(): boolean {
    return this.slot.busy;
  }
  /** Runs `call` now, or once the sliced state operation holding the platform has ended; the server routes every call through this. */
  whenFree<T>(call: () => T): T | Promise<T> {
    return this.slot.whenFree(call);
  }
  /** Stores the state in memory (copy-on-write pages); EMU_LIMIT past the snapshot limits. */
  snapshot(): { snapshotId: string } {
    return this.slot.snapshot();
  }
  // The *Sliced forms run in slices (`yieldFn` between them) while the platform's other calls wait (machine-slot.ts).
  snapshotSliced(yieldFn: () => Promise<void>, sliceMs: number): Promise<{ snapshotId: string }> {
    return this.slot.snapshotSliced(yieldFn, sliceMs);
  }
  /** Restores a snapshot; it stays usable, newer ones are dropped. */
  revert(snapshotId: string): { ok: true; snapshotId: string } {
    return this.slot.revert(snapshotId);
  }
  revertSliced(snapshotId: string, yieldFn: () => Promise<void>, sliceMs: number): Promise<{ ok: true; snapshotId: string }> {
    return this.slot.revertSliced(snapshotId, yieldFn, sliceMs);
  }
  /** Snapshots held and the bytes they take together (distinct pages counted once). */
  snapshotUsage(): { snapshots: number; bytes: number } {
    return this.slot.snapshotUsage();
  }
  dumpState(): { state: PlatformState } {
    return this.slot.dumpState();
  }
  /** dumpState built in slices, then handed to `write`; the platform's other calls wait until `write` settles. */
  dumpStateSliced<R>(yieldFn: () => Promise<void>, sliceMs: number, write: (dump: { state: PlatformState }) => Promise<R>): Promise<R> {
    return this.slot.dumpStateSliced(yieldFn, sliceMs, write);
  }
  loadStateSliced(state: unknown, yieldFn: () => Promise<void>, sliceMs: number): Promise<{ ok: true }> {
    return this.slot.loadStateSliced(state, yieldFn, sliceMs);
  }
  /** Loads a state document; a bad one throws BAD_DOCUMENT and the old state is kept. */
  loadState(state: unknown): { ok: true } {
    return this.slot.loadState(state);
  }

  audit(): { violations: AuditViolation[]; clean: boolean } {
    const violations = auditMachine(this.m);
    return { violations, clean: violations.length === 0 };
  }

  // ---- clock.* -----------------------------------------------------------

  /** Realtime mode: brings virtual time up to the wall clock (the server calls it before each call). */
  syncClock(): void {
    this.m.syncClock();
  }

  /** Refuses (EMU_LIMIT) a wait of `ns` that would move the clock past its end; `what` names it in the message. */
  checkClockRoom(ns: number, what: string): void {
    this.m.clock.checkRoom(ns, what);
  }

  /** Resolves once virtual time has moved `ns` on (an injected delay). */
  clockWait(ns: number): Promise<void> {
    const clock = this.m.clock;
    return clock.waitUntil(clock.nowNs + ns);
  }

  /** The clock; `lagNs` is how far it runs behind the wall in realtime mode when the simulation cannot keep up (protocol/README.md §9). */
  clockNow() {
    const c = this.m.clock;
    return { nowNs: c.nowNs, mode: c.mode, speed: c.speed, lagNs: this.m.clockLagNs() };
  }

  /**
   * Advances virtual time by `ns`, in chunks that yield to the server between them.
   * `cancelled` is asked after each yield: once true (the caller's connection
   * closed) the advance stops where it is, so nobody's abandoned call keeps a core
   * busy (protocol/README.md §9).
   */
  async clockAdvance(ns: number, yieldFn?: () => Promise<void>, cancelled?: () => boolean): Promise<{ nowNs: number }> {
    const m = this.m;
    if (m.clock.mode !== 'virtual') throw new EmuError(ERROR_CODES.WRONG_MODE, 'clock.advance is refused in realtime mode: virtual time follows the wall clock (clock.setMode virtual first)');
    if (!Number.isSafeInteger(ns) || ns < 0) throw invalidArgument(`ns must be a non-negative integer, got ${ns}`);
    if (ns > m.settings.maxAdvanceNs) {
      throw new EmuError(ERROR_CODES.LIMIT, `ns ${ns} exceeds maxAdvanceNs ${m.settings.maxAdvanceNs} per call; advance in several calls`);
    }
    m.clock.checkRoom(ns, `clock.advance by ${ns} ns`);
    const fromNs = m.clock.nowNs;
    const target = fromNs + ns;
    while (!m.clock.advanceTo(target, ADVANCE_CHUNK_EVENTS, yieldFn === undefined ? Infinity : VirtualClock.chunkWallMs)) {
      // Topic clock: one progress notification per chunk that did not reach the target.
      if (this.bus.has('clock')) this.bus.emit('clock', m.clock.nowNs, { phase: 'progress', fromNs, nowNs: m.clock.nowNs, targetNs: target });
      if (yieldFn) await yieldFn();
      // A sliced state operation holds the platform: its document is of one instant.
      if (this.slot.busy) await this.slot.free();
      if (this.m !== m || cancelled?.() === true) break;
    }
    return { nowNs: this.m.clock.nowNs };
  }

  clockSetMode(mode: 'virtual' | 'realtime', speed = 1) {
    this.m.setClockMode(mode, speed);
    return this.clockNow();
  }

  // ---- mem.* -------------------------------------------------------------

  memAlloc(pages: number): { spa: bigint } {
    return { spa: BigInt(this.m.pool.alloc(pages)) };
  }

  /**
   * An SPA a client passes, C-bit stripped (protocol/README.md §2: an address with
   * the C-bit set is the same SPA; bounds are checked after this).
   */
  private spa(spa: number): number {
    return stripCBit(spa, this.m.settings.cBit);
  }

  memFree(spa: number, pages: number): { ok: true } {
    this.m.pool.release(this.spa(spa), pages);
    return { ok: true };
  }

  memRead64(spa: number, count: number): { values: bigint[] } {
    return { values: this.m.memory.readWords(this.spa(spa), count) };
  }

  memWrite64(spa: number, values: bigint[]): { ok: true; count: number } {
    this.m.memory.writeWords(this.spa(spa), values);
    return { ok: true, count: values.length };
  }

  // ---- rmp.* and guest.* (instructions) ----------------------------------

  rmpRead(spa: number) {
    return rmpEntryView(this.m.rmp.read(this.spa(spa)));
  }

  rmpUpdate(spa: number, p: { assigned: boolean; pageSize: RmpPageSize; asid?: number; gpa?: number; immutable?: boolean }) {
    // `immutable: true` with `assigned: false` makes a Hypervisor-Fixed 4 KB page (the TMPM ring's).
    const input = p.assigned ? { assigned: true, pageSize: p.pageSize, asid: p.asid ?? 0, gpa: p.gpa ?? 0, immutable: p.immutable ?? false } : { assigned: false, pageSize: p.pageSize, immutable: p.immutable ?? false };
    return rc(this.m.rmp.rmpUpdate(this.spa(spa), input));
  }

  rmpPsmash(spa: number) {
    return rc(this.m.rmp.psmash(this.spa(spa)));
  }

  /** PVALIDATE acting as guest `asid`: a GPA outside the guest is a nested page fault. */
  guestPvalidate(p: { asid: number; gpa: number; pageSize: RmpPageSize; validate: boolean }) {
    const m = this.m;
    if (!m.guests.has(p.asid)) throw new EmuError(ERROR_CODES.NOT_FOUND, `no SNP guest with ASID ${p.asid}`, { asid: p.asid });
    const spa = m.guests.gpaToSpa(p.asid, p.gpa);
    if (spa < 0) return { npf: { errorCode: NPF_ERROR.RMP } };
    const r = m.rmp.pvalidate(spa, p);
    if ('npf' in r) return r;
    return r.noUpdate ? { rc: r.rc, rcName: rmpRcName(r.rc), noUpdate: true as const } : rc(r.rc);
  }

  // ---- fw.* --------------------------------------------------------------

  fwPlatformStatus() {
    return fwPlatformStatus(this.m);
  }
  fwInit() {
    return fwInit(this.m);
  }
  fwShutdown() {
    return fwShutdown(this.m);
  }
  fwPageReclaim(spa: number, pageSize: RmpPageSize = '4K') {
    return fwPageReclaim(this.m, this.spa(spa), pageSize);
  }
  fwTdiBind(deviceId: number, asid: number) {
    return fwTdiBind(this.m, deviceId, asid);
  }
  fwTdiUnbind(deviceId: number, force = false) {
    return fwTdiUnbind(this.m, deviceId, force);
  }
  tioFenceStatus(deviceId: number, asid: number) {
    return tioFenceStatus(this.m, deviceId, asid);
  }
  tioFenceClear(deviceId: number, asid: number) {
    return tioFenceClear(this.m, deviceId, asid);
  }
  /** The next firmware command waits for `delay` inside the firmware queue (an injected fault's delay). */
  fwDelayNextCommand(delay: Promise<void>): void {
    this.m.firmware.delayNextCommand(delay);
  }
  fwPageUnsmash(spa: number) {
    return fwPageUnsmash(this.m, this.spa(spa));
  }

  // ---- psp.*, pci.doe, tio.* (the SEV firmware through its mailbox) -----------------------

  pspReadReg(offset: number) {
    return { offset, value: this.m.psp.readReg(offset) };
  }
  pspWriteReg(offset: number, value: number) {
    this.m.psp.writeReg(offset, value);
    return { ok: true as const };
  }
  pspRegs() {
    return this.m.psp.view();
  }
  pciDoe(deviceId: number, feature: DoeFeature, request: string) {
    return { response: bytesToHex(pciDoe(this.m, deviceId, feature, hexToBytes(request.toLowerCase()))) };
  }
  tioConnect(deviceId: number) {
    return tioConnect(this.m, deviceId);
  }
  tioDisconnect(deviceId: number, force = false) {
    return tioDisconnect(this.m, deviceId, force);
  }

  // ---- tmpm.* (the smash engine: AMD's TMPM) ---------------------------------------

  tmpmReadReg(offset: number) {
    return { offset, value: this.m.tmpm.readReg(offset) };
  }
  tmpmWriteReg(offset: number, value: number) {
    this.m.tmpm.writeReg(offset, value);
    return { ok: true as const };
  }
  tmpmRegs() {
    return tmpmRegsView(this.m.tmpm);
  }
  /** The three calls below ask the command's budget check first (platform-tmpm.ts): EMU_LIMIT before anything is written. */
  tmpmSubmit(p: { command: number; listSpa: bigint; pages?: number }) {
    return tmpmSubmit(this.m, p.command, p.listSpa, p.pages ?? 0);
  }
  tmpmPsmashIo(p: PsmashIoParams) {
    return tmpmPsmashIo(this.m, p);
  }
  tmpmPunsmashIo(p: Omit<PsmashIoParams, 'smashHpteSpa'>) {
    return tmpmPunsmashIo(this.m, p);
  }
  tmpmPreparePsmash(domainId: number, iova: bigint) {
    return tmpmPreparePsmash(this.m, domainId, iova);
  }
  tmpmGetCapabilities() {
    return tmpmGetCapabilities(this.m);
  }
  tmpmGetStallModel() {
    return this.m.tmpm.getStallModel();
  }
  tmpmSetStallModel(patch: StallModelPatch) {
    return this.m.tmpm.setStallModel(patch);
  }

  // ---- iommu.* -----------------------------------------------------------

  /** Writes a DTE from raw qwords or decoded fields; takes effect at once. */
  iommuSetDte(deviceId: number, p: { qwords?: bigint[]; fields?: Partial<DteFields> }) {
    const qwords = p.qwords ?? encodeDte(p.fields ?? {});
    this.m.iommu.setDte(deviceId, qwords);
    return this.iommuReadDte(deviceId);
  }

  iommuReadDte(deviceId: number) {
    return dteView(this.m.iommu.readDte(deviceId).qwords);
  }

  iommuWalk(deviceId: number, iova: bigint, write: boolean) {
    return walkView(this.m.iommu.walk(deviceId, iova, write));
  }

  iommuCommand(q0: bigint, q1: bigint) {
    const r = this.m.iommu.executeCommand(q0, q1, this.m.clock.nowNs);
    const result = { ...r, illegal: r.illegal === true };
    if (this.bus.has('iommuCommand')) this.bus.emit('iommuCommand', this.m.clock.nowNs, { name: r.name, opcode: r.opcode, effect: r.effect, illegal: result.illegal, ...('dropped' in r ? { dropped: r.dropped } : {}) });
    return result;
  }

  iommuEvents(p: { since?: number; max?: number; consume?: boolean }) {
    const r = this.m.iommu.eventLog.read(p);
    return {
      events: r.events.map(eventView),
      overflow: r.overflow,
    };
  }

  iommuMap(p: { domainId: number; iova: bigint; spa: number; length: number; sizeLg2: number; read: boolean; write: boolean; fc?: boolean }) {
    const r = this.m.iommu.map(p.domainId, { iova: p.iova, spa: p.spa, length: p.length, sizeLg2: p.sizeLg2, read: p.read, write: p.write, fc: p.fc ?? false });
    return { ok: true as const, ...r };
  }

  iommuUnmap(p: { domainId: number; iova: bigint; length: number }) {
    const r = this.m.iommu.unmap(p.domainId, p.iova, p.length);
    return { ok: true as const, unmapped: BigInt(r.unmappedBytes) };
  }

  iommuIotlb(domainId?: number) {
    const entries = this.m.iommu.iotlb.entries().filter((e) => domainId === undefined || e.domainId === domainId);
    return { entries: entries.map(iotlbEntryView) };
  }

  // ---- dma.* -------------------------------------------------------------

  async dmaIssue(p: { deviceId: number; iova: bigint; bytes: number; write: boolean }) {
    const r = await this.m.dma.issue(p);
    return { outcome: r.outcome, latencyNs: r.latencyNs, spa: r.spa === null ? null : BigInt(r.spa), reason: r.reason };
  }

  dmaStartStream(p: StreamParams): { streamId: string } {
    return { streamId: this.m.dma.startStream(p) };
  }

  dmaStopStream(streamId: string): { ok: true } {
    this.m.dma.stopStream(streamId);
    return { ok: true };
  }

  dmaStats(p: { deviceId?: number; streamId?: string }) {
    return this.m.dma.stats(p);
  }

  /** The latency histogram behind dma.stats for the same filters. */
  dmaLatencyHistogram(p: { deviceId?: number; streamId?: string }): LatencyHistogram {
    return this.m.dma.latencyHistogram(p);
  }

  /** dma.histogram: the HDR buckets that hold values, for the same filters as dma.stats. */
  dmaHistogram(p: { deviceId?: number; streamId?: string }) {
    const h = this.dmaLatencyHistogram(p);
    return { count: h.count, maxNs: h.max, significantDigits: 3, buckets: h.buckets() };
  }

  /** dma.timeline: counts per bin (timeline-window.ts). */
  dmaTimeline(p: TimelineWindowParams) {
    checkBinNs(p.binNs);
    const m = this.m;
    m.dma.settle();
    return timelineWindow(m.dma.timeline, m.clock.nowNs, p);
  }

  dmaResetStats(): { ok: true } {
    this.m.dma.resetStats();
    return { ok: true };
  }

  // ---- trace.* -----------------------------------------------------------

  traceStart(opts: TraceStartOptions) {
    if (opts.binNs !== undefined) checkBinNs(opts.binNs);
    return this.tracer.start(opts, this.m.clock.nowNs);
  }

  traceStop() {
    return this.tracer.stop(this.m.clock.nowNs);
  }

  /** The current (up to now) or last trace as Chrome/Perfetto trace-event JSON. */
  traceExport(_format: 'perfetto-json') {
    const t = this.tracer.snapshot();
    const m = this.m;
    m.dma.settle();
    const trace = perfettoTrace(t, m.dma.timeline, m.clock.nowNs, { emulator: `smash-emu ${VERSION}`, platform: this.options.name ?? '', scenario: this.slot.scenarioName });
    return { format: 'perfetto-json' as const, recording: this.tracer.recording, events: t.events.length, dropped: t.dropped, trace };
  }

  // ---- fault.* -----------------------------------------------------------

  faultAdd(spec: FaultRuleSpec): { faultId: string } {
    const max = this.m.settings.maxAdvanceNs;
    if ((spec.delayNs ?? 0) > max) throw new EmuError(ERROR_CODES.LIMIT, `delayNs ${spec.delayNs} exceeds maxAdvanceNs ${max}: an injected delay moves the clock like clock.advance`);
    return { faultId: this.m.faults.add(spec) };
  }
  /** What fault.add's rules do to a call of `method` now (null: nothing fires); counts the hit. */
  faultOnCall(method: string): FaultDecision | null {
    return this.m.faults.onCall(method);
  }
  faultList() {
    return { faults: this.m.faults.list() };
  }
  faultRemove(faultId: string): { ok: true } {
    this.m.faults.remove(faultId);
    return { ok: true };
  }
  faultClear(): { ok: true; removed: number } {
    return { ok: true, removed: this.m.faults.clear() };
  }

  /** Stops timers (realtime driver, streams); the platform is not used after this. */
  dispose(): void {
    this.tracer.dispose();
    this.tally.dispose();
    this.slot.dispose();
  }
}

function rc(code: number): { rc: number; rcName: string } {
  return { rc: code, rcName: rmpRcName(code) };
}

export function createPlatform(scenario: Scenario = DEFAULT_SCENARIO, options: PlatformOptions = {}): Platform {
  return new Platform(scenario, options);
}
