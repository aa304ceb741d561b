/**
 * The AMD TMPM engine as a device (protocol/README.md §4.3;
 * docs/hardware.md §2.4): the mailbox registers with the TOGGLE protocol, the ring
 * in host memory, and the commands, run one at a time on the virtual clock.
 *
 * - A write to RBCTL takes effect `ctlNs` later and then flips STATUS.TOGGLE.
 *   INIT 0 -> 1 checks the ring (RB_ERR and an interrupt when it is bad); INIT
 *   1 -> 0 drops pending entries; PAUSE stops new entries from starting.
 * - A write to RBHEAD while DRIVER_INIT is set runs the entries from the tail up to
 *   the new head, in order; a head at or past the ring's size sets WPTR_ERR, raises
 *   an interrupt and stops the engine until INIT is cleared and set again.
 * - An entry starts when the engine reaches it (at once when idle): it is read from
 *   memory, checked and, for PSMASH_IO / PUNSMASH_IO, its effect begun; when it ends
 *   (`commandNs` later, or when the stall ends) the engine writes the status to the
 *   gctx word and the ring entry, then advances RBTAIL.
 *
 * There is no CPU to interrupt: an interrupt is an event on topic `tmpm`.
 */
import type { ClockEvent, EventTarget } from '../clock/event-queue.js';
import { VirtualClock, VIRTUAL_CHUNK_EVENTS } from '../clock/virtual-clock.js';
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import {
  CDATA_PAGES_MASK,
  checkRegOffset,
  decodeRbctl,
  encodeStatus,
  MAX_PENDING_CTL_WRITES,
  MAX_RING_PAGES,
  RBCTL_INIT,
  RBCTL_PAUSE,
  READ_ONLY_REGS,
  RING_INDEX_MASK,
  ringBaseOf,
  TMPM_REG,
} from './registers.js';
import { circSpace, decodeRingEntry, encodeRingEntry, RING_ENTRIES_PER_PAGE, RING_ENTRY_BYTES, withRingStatus } from './ring.js';
import {
  CMD_PAGE_GCTX,
  CMD_PAGE_SMASH_HPTE,
  encodeCapabilities,
  gctxWithOutputs,
  SUPPORT_PSMASH,
  SUPPORT_PUNSMASH,
  tmpmCommandName,
  TMPM_STATUS,
  versionReg,
  type TmpmCommandName,
} from './commands.js';
import type { PsmashIo, SmashOutcome, StallBegun } from './psmash-io.js';
import type { StallHandle } from '../dma/stall-gate.js';
import { commandEvent, entryOutcome, entryRefusal, newRunning, stallEvent, type Running } from './entry-run.js';
import { DEFAULT_TMPM_CONFIG, SPEC_MAJOR, SPEC_MINOR, type CommandFault, type EntryOutcome, type TmpmConfig, type TmpmEvents } from './tmpm-config.js';
import type { StallModel, StallModelPatch } from './stall-model.js';
import { DEFAULT_STALL_MODEL, mergeStallModel } from './stall-model.js';

/** A convenience call waiting for its ring entry: the engine fills one of the two. */
interface EntryWaiter {
  outcome: EntryOutcome | undefined;
  error: Error | undefined;
}

interface PendingCtl {
  atNs: number;
  seq: number;
  value: number;
}

export interface TmpmState {
  config: TmpmConfig;
  stallModel: StallModel;
  regs: { rbctl: number; cdata: number; rblow: number; rbhigh: number; thresh: number };
  status: { driverInit: boolean; rbErr: boolean; wptrErr: boolean; toggle: boolean };
  applied: { init: boolean; pause: boolean };
  ring: { baseSpa: number; entries: number; tail: number; head: number; lastHead: number };
  stopped: boolean;
  interrupts: number;
  commands: number;
  pendingCtl: PendingCtl[];
  /** RBCTL values that came due while an entry ran, in order: applied when it finishes. */
  heldCtl?: number[];
  running: (Omit<Running, 'outcome' | 'detail' | 'gctxInput'> & { detail?: undefined; gctxInput: string; smash?: RunningSmashDoc }) | null;
}

/**
 * A running PSMASH_IO / PUNSMASH_IO's stall as a state document keeps it, so that a
 * restored engine ends it as the original would: the stall-end event and `dmaHeld`.
 */
export interface RunningSmashDoc {
  srcPgSpa: number;
  reaches: Array<{ domainId: number; iova: string }>;
  /** The DMA engine's stalls it began: linked again by id; heldCount and endNs for one already released. */
  stalls: Array<{ id: number; heldCount: number; endNs: number }>;
}

const EV_CTL = 1;
const EV_DONE = 2;
const U32 = 2 ** 32;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

export class TmpmEngine implements EventTarget {
  config: TmpmConfig;
  stallModel: StallModel = { ...DEFAULT_STALL_MODEL, jitter: { ...DEFAULT_STALL_MODEL.jitter } };
  private regs = { rbctl: 0, cdata: 0, rblow: 0, rbhigh: 0, thresh: 0 };
  private status = { driverInit: false, rbErr: false, wptrErr: false, toggle: false };
  /** INIT and PAUSE as the engine acts on them (RBCTL reads what was written, ctlNs earlier). */
  private applied = { init: false, pause: false };
  private ring = { baseSpa: 0, entries: 0, tail: 0, head: 0, lastHead: 0 };
  private stopped = false;
  private interrupts = 0;
  private commands = 0;
  private pendingCtl: Array<{ ev: ClockEvent; value: number }> = [];
  /**
   * Control writes that came due while an entry ran: they wait until it has written
   * its status and advanced RBTAIL (control writes apply between entries).
   */
  private heldCtl: number[] = [];
  /**
   * Interrupts by reason, for /metrics (since the machine was built; not in state
   * documents). Commands are counted from the tmpm topic (rpc/platform-metrics.ts).
   */
  readonly counts = { interrupts: new Map<string, number>() };
  private running: Running | null = null;
  private runningEvent: ClockEvent | undefined;
  /** Convenience calls waiting for the entry at a ring index. */
  private readonly waiters = new Map<number, EntryWaiter>();

  constructor(
    private readonly memory: HostMemory,
    private readonly rmp: RmpTable,
    private readonly clock: VirtualClock,
    private readonly smash: PsmashIo,
    private readonly events: TmpmEvents,
    private readonly cBit: number | null,
    private readonly snpInitialized: () => boolean,
    private readonly faultFor: (command: TmpmCommandName) => CommandFault | null,
    config: TmpmConfig = DEFAULT_TMPM_CONFIG,
  ) {
    this.config = { ...config };
    this.smash.onStallBegin = (b) => this.emitStall('begin', this.starting, b);
  }

  /** The entry being started (its index and name), for the stall-begin report. */
  private starting = { index: -1, commandName: '' };

  // ---- registers -------------------------------------------------------------------

  readReg(offset: number): number {
    const name = checkRegOffset(offset);
    switch (name) {
      case 'RBCTL':
        return this.regs.rbctl;
      case 'RBTAIL':
        return this.ring.tail;
      case 'RBHEAD':
        return 0;
      case 'CDATA':
        return this.regs.cdata;
      case 'RBLOW':
        return this.regs.rblow;
      case 'RBHIGH':
        return this.regs.rbhigh;
      case 'THRESH':
        return this.regs.thresh;
      case 'STATUS':
        return encodeStatus({ engineReady: true, ...this.status });
    }
  }

  writeReg(offset: number, value: number): void {
    const name = checkRegOffset(offset);
    if (READ_ONLY_REGS.has(offset)) throw invalidArgument(`${name} (offset ${toHex(offset)}) is read-only`, { path: ['offset'] });
    if (!Number.isInteger(value) || value < 0 || value >= U32) throw invalidArgument(`value must be a 32-bit unsigned integer (0..0xffffffff), got ${value}`, { path: ['value'] });
    switch (name) {
      case 'RBCTL':
        if (this.pendingCtl.length + this.heldCtl.length >= MAX_PENDING_CTL_WRITES) {
          throw new EmuError(ERROR_CODES.LIMIT, `${MAX_PENDING_CTL_WRITES} RBCTL writes are already waiting for the engine (each takes effect ${this.config.ctlNs} ns after it is written); advance the clock first`, {
            limit: 'pendingControlWrites',
            max: MAX_PENDING_CTL_WRITES,
          });
        }
        this.regs.rbctl = value;
        this.pendingCtl.push({ ev: this.clock.schedule(this.clock.nowNs + this.config.ctlNs, this, EV_CTL, value), value });
        return;
      case 'RBHEAD':
        this.ringHead(value & RING_INDEX_MASK);
        return;
      case 'CDATA':
        this.regs.cdata = value;
        return;
      case 'RBLOW':
        this.regs.rblow = value;
        return;
      case 'RBHIGH':
        this.regs.rbhigh = value;
        return;
      case 'THRESH':
        this.regs.thresh = value;
        return;
      default:
        return;
    }
  }

  /** Entries between the tail and the head not yet finished (the running one included). */
  pendingEntries(): number {
    if (!this.applied.init || this.ring.entries === 0) return 0;
    return (this.ring.head - this.ring.tail + this.ring.entries) % this.ring.entries;
  }

  get isInitialised(): boolean {
    return this.status.driverInit;
  }

  get ringSpa(): number {
    return this.ring.baseSpa;
  }

  get ringEntries(): number {
    return this.ring.entries;
  }

  onClockEvent(ev: ClockEvent): void {
    if (ev.kind === EV_CTL) {
      const i = this.pendingCtl.findIndex((p) => p.ev === ev);
      if (i >= 0) this.pendingCtl.splice(i, 1);
      if (this.running !== null) this.heldCtl.push(ev.data as number);
      else this.applyControl(ev.data as number);
    } else if (ev.kind === EV_DONE) {
      this.runningEvent = undefined;
      this.finish();
    }
  }

  /** The host driver's bring-up done at build time (scenario tmpm.initialised): INIT already applied. */
  bringUp(ringSpa: number, pages: number): void {
    this.regs.rblow = ringSpa % U32;
    this.regs.rbhigh = Math.floor(ringSpa / U32);
    this.regs.cdata = pages;
    this.regs.rbctl = RBCTL_INIT;
    const bad = this.checkRing();
    if (bad !== null) throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `tmpm: the ring at ${toHex(ringSpa)} is refused: ${bad}`);
    this.initRing();
  }

  /**
   * One RBCTL write taking effect. It only ever runs between entries (a write that
   * comes due while one runs is held until it has finished), so the ring it acts on
   * has no entry in flight.
   */
  private applyControl(value: number, kick = true): void {
    const { init, pause } = decodeRbctl(value);
    if (init && !this.applied.init) {
      const bad = this.checkRing();
      if (bad === null) this.initRing();
      else {
        this.status.rbErr = true;
        this.status.driverInit = false;
        this.interrupt('RB_ERR', bad);
      }
    } else if (!init) {
      // INIT written 0 clears the error bits whether or not the last INIT was accepted.
      this.status.driverInit = false;
      this.status.rbErr = false;
      this.status.wptrErr = false;
      this.stopped = false;
      if (this.applied.init) {
        this.applied.init = false;
        // Pending entries are dropped.
        this.ring.head = this.ring.tail;
        for (const [index, w] of this.waiters) {
          w.error = new EmuError(ERROR_CODES.WRONG_MODE, `the ring entry at index ${index} was dropped: RBCTL.INIT was cleared before it ran`);
          this.waiters.delete(index);
        }
      }
    }
    this.applied.pause = pause;
    this.status.toggle = !this.status.toggle;
    if (this.events.has('tmpm')) {
      this.events.emit('tmpm', this.clock.nowNs, { kind: 'control', rbctl: value, init, pause, driverInit: this.status.driverInit, rbErr: this.status.rbErr, toggle: this.status.toggle });
    }
    if (kick) this.kick();
  }

  /** INIT's checks on the ring (protocol/README.md §4.3.2): the reason it is refused, or null. */
  private checkRing(): string | null {
    const pages = this.regs.cdata & CDATA_PAGES_MASK;
    if (pages < 1 || pages > MAX_RING_PAGES) return `CDATA gives ${pages} ring pages; 1-${MAX_RING_PAGES} are allowed`;
    const base = this.strip(ringBaseOf(this.regs.rblow, this.regs.rbhigh));
    if (base % PAGE_BYTES !== 0) return `the ring base ${toHex(base)} is not 4 KB aligned`;
    if (!this.memory.contains(base, pages * PAGE_BYTES)) return `the ring ${toHex(base)} + ${pages} pages is outside memory`;
    if (this.snpInitialized()) {
      if (base % (2 * 1024 * 1024) !== 0) return `under SNP the ring must be 2 MB aligned; ${toHex(base)} is not`;
      const e = this.rmp.read(base);
      if (e.assigned || !e.immutable) return `under SNP the ring's first page must be Hypervisor-Fixed in the RMP (Assigned 0, Immutable 1); it is Assigned ${e.assigned ? 1 : 0}, Immutable ${e.immutable ? 1 : 0}`;
    }
    return null;
  }

  private initRing(): void {
    const pages = this.regs.cdata & CDATA_PAGES_MASK;
    this.ring = { baseSpa: this.strip(ringBaseOf(this.regs.rblow, this.regs.rbhigh)), entries: pages * RING_ENTRIES_PER_PAGE, tail: 0, head: 0, lastHead: 0 };
    this.applied.init = true;
    this.status.driverInit = true;
    this.status.rbErr = false;
    this.status.wptrErr = false;
    this.stopped = false;
  }

  private ringHead(value: number): void {
    if (!this.status.driverInit) return;
    if (value >= this.ring.entries) {
      this.status.wptrErr = true;
      this.stopped = true;
      this.interrupt('WPTR_ERR', `RBHEAD ${value} is at or past the ring's ${this.ring.entries} entries`);
      return;
    }
    this.ring.head = value;
    this.ring.lastHead = value;
    this.kick();
  }

  private interrupt(reason: 'RB_ERR' | 'WPTR_ERR', why: string): void {
    this.interrupts++;
    this.counts.interrupts.set(reason, (this.counts.interrupts.get(reason) ?? 0) + 1);
    if (this.events.has('tmpm')) this.events.emit('tmpm', this.clock.nowNs, { kind: 'interrupt', reason, why, status: this.readReg(TMPM_REG.STATUS) });
  }

  // ---- the ring ----------------------------------------------------------------------

  private kick(): void {
    if (this.running !== null || !this.applied.init || this.applied.pause || this.stopped) return;
    if (this.ring.tail === this.ring.head) return;
    this.start(this.ring.tail);
  }

  private entrySpa(index: number): number {
    return this.ring.baseSpa + index * RING_ENTRY_BYTES;
  }

  /** Reads, checks and begins the entry at `index`; its end is an EV_DONE event. */
  private start(index: number): void {
    const at = this.entrySpa(index);
    const e = decodeRingEntry(this.memory.word(at), this.memory.word(at + 8));
    const name = tmpmCommandName(e.command, this.config.punsmashCommand);
    const listSpa = this.stripBig(e.listPaddr);
    const startNs = this.clock.nowNs;
    let status: number = TMPM_STATUS.SUCCESS;
    let detail: Record<string, unknown> | undefined;
    // A refused command finishes at once: its status is all it changes (protocol/README.md
    // §4.3.3); GET_CAPABILITIES and NOOP take commandNs.
    let durationNs = 0;
    let gctxSpa = -1;
    let outcome: SmashOutcome | undefined;
    const refused = entryRefusal(e, name, listSpa, this.config, this.memory.sizeBytes);
    if (refused !== null) {
      status = refused.status;
      detail = refused.detail;
    } else if (name !== undefined) {
      const smashing = name === 'PSMASH_IO' || name === 'PUNSMASH_IO';
      if (smashing) gctxSpa = listSpa + CMD_PAGE_GCTX;
      const gctxInput = smashing ? this.memory.word(gctxSpa) : 0n;
      const fault = this.faultFor(name);
      if (fault?.status !== undefined) {
        status = fault.status;
        detail = { reason: 'injected by fault.add', injected: true, faultIds: fault.faultIds };
      } else if (name === 'GET_CAPABILITIES') {
        this.memory.writeWords(listSpa, encodeCapabilities(this.capabilities()));
        durationNs = this.config.commandNs;
      } else if (name === 'NOOP') {
        durationNs = this.config.commandNs;
      } else if (name === 'PSMASH_IO' || name === 'PUNSMASH_IO') {
        this.starting = { index, commandName: name };
        outcome = name === 'PSMASH_IO' ? this.smash.psmash(listSpa) : this.smash.punsmash(listSpa);
        status = outcome.status;
        detail = outcome.detail;
        if (status === TMPM_STATUS.SUCCESS) durationNs = outcome.stallNs;
      }
      durationNs += fault?.delayNs ?? 0;
      this.running = newRunning(index, e.command, name, listSpa, startNs, startNs + durationNs, status, detail, outcome, gctxSpa, gctxInput);
    }
    this.running ??= newRunning(index, e.command, name ?? `0x${e.command.toString(16)}`, listSpa, startNs, startNs + durationNs, status, detail, undefined, -1, 0n);
    this.runningEvent = this.clock.schedule(this.running.endNs, this, EV_DONE, null);
    this.running.seq = this.runningEvent.seq;
  }

  /** The entry's end: statuses written, then the tail advanced, then the next entry. */
  private finish(): void {
    const r = this.running;
    if (r === null) return;
    if (r.gctxSpa >= 0) {
      this.memory.setWord(r.gctxSpa, gctxWithOutputs(r.gctxInput, { status: r.status, subStatus: r.subStatus, pteSubError: r.pteSubError, pteError: r.pteError }));
      if (r.hpteSpa !== undefined && r.status === TMPM_STATUS.SUCCESS) this.memory.setWord(r.listSpa + CMD_PAGE_SMASH_HPTE, BigInt(r.hpteSpa));
    }
    const at = this.entrySpa(r.index) + 8;
    this.memory.setWord(at, withRingStatus(this.memory.word(at), r.status));
    if (this.applied.init) this.ring.tail = (r.index + 1) % this.ring.entries;
    this.running = null;
    this.commands++;
    let dmaHeld = 0;
    if (r.outcome !== undefined) for (const s of r.outcome.stalls) dmaHeld += s.heldCount;
    if (r.outcome !== undefined && r.status === TMPM_STATUS.SUCCESS) {
      this.emitStall('end', r, { reaches: r.outcome.reaches, srcPgSpa: r.outcome.srcPgSpa, startNs: r.startNs, endNs: r.startNs + r.outcome.stallNs });
    }
    const done = entryOutcome(r, dmaHeld);
    if (this.events.has('tmpm')) this.events.emit('tmpm', this.clock.nowNs, commandEvent(done));
    const w = this.waiters.get(r.index);
    if (w !== undefined) {
      this.waiters.delete(r.index);
      w.outcome = done;
    }
    // Control writes that came due while the entry ran apply now, in order, before the next entry starts.
    if (this.heldCtl.length > 0) {
      const held = this.heldCtl;
      this.heldCtl = [];
      for (const v of held) this.applyControl(v, false);
    }
    this.kick();
  }

  private emitStall(phase: 'begin' | 'end', r: { index: number; commandName: string }, o: StallBegun): void {
    if (!this.events.has('stall')) return;
    this.events.emit('stall', phase === 'begin' ? o.startNs : o.endNs, stallEvent(phase, r, o, this.stallModel));
  }

  // ---- the driver's side, for the convenience methods ---------------------------------

  /**
   * tmpm.submit: writes one entry at the head last written, rings RBHEAD and waits
   * for the entry to finish (virtual mode: runs the clock to its end; realtime: waits
   * for it). Misuse the engine could not be given is refused before anything changes.
   */
  async submitRaw(command: number, listPaddr: bigint, pages = 0): Promise<EntryOutcome> {
    return this.submit(command, listPaddr, pages);
  }

  /**
   * submitRaw without the promise when none is needed: in virtual mode, when the
   * clock reaches the entry's end within one chunk of work (VirtualClock.waitUntil's
   * first chunk), the outcome comes back as a plain value, so a server call answers
   * at once (no promise chain, no microtask hops). The clock does exactly what
   * waitUntil would: the same advanceTo calls, and a yield (yieldFn) before any
   * further chunk.
   */
  submit(command: number, listPaddr: bigint, pages = 0): EntryOutcome | Promise<EntryOutcome> {
    const head = this.enqueue(command, listPaddr, pages);
    const waiter = this.waiters.get(head) as EntryWaiter;
    const clock = this.clock;
    while (clock.mode === 'virtual' && waiter.outcome === undefined && waiter.error === undefined) {
      const until = this.running?.endNs;
      if (until === undefined) break;
      if (!clock.advanceTo(Math.max(until, clock.nowNs), VIRTUAL_CHUNK_EVENTS, clock.yieldFn === undefined ? Infinity : VirtualClock.chunkWallMs)) {
        // More than one chunk: let the server run, then go on as waitUntil would.
        return this.waitFor(head, waiter, clock.yieldFn !== undefined);
      }
    }
    if (clock.mode !== 'virtual' && waiter.outcome === undefined && waiter.error === undefined) return this.waitFor(head, waiter, false);
    return this.settled(head, waiter);
  }

  /** Checks, writes the entry at the head and rings RBHEAD; the index of the entry, whose waiter is registered. */
  private enqueue(command: number, listPaddr: bigint, pages: number): number {
    if (!this.status.driverInit) throw new EmuError(ERROR_CODES.WRONG_MODE, 'the TMPM is not initialised (STATUS.DRIVER_INIT clear): bring it up first (RBLOW/RBHIGH, CDATA, RBCTL INIT; see tmpm.regs)');
    if (this.stopped) throw new EmuError(ERROR_CODES.WRONG_MODE, 'the TMPM stopped on WPTR_ERR: clear RBCTL.INIT and set it again');
    if (this.applied.pause || decodeRbctl(this.regs.rbctl).pause) throw new EmuError(ERROR_CODES.WRONG_MODE, 'the TMPM is paused (RBCTL.PAUSE): an entry would not run; clear PAUSE first');
    if (!Number.isInteger(command) || command < 0 || command > 0xff) throw invalidArgument(`command must be 0..0xff, got ${command}`, { path: ['command'] });
    if (!Number.isInteger(pages) || pages < 0 || pages > 0xfff) throw invalidArgument(`pages must be 0..0xfff, got ${pages}`, { path: ['pages'] });
    const head = this.ring.lastHead;
    if (circSpace(head, this.ring.tail, this.ring.entries) === 0) {
      throw new EmuError(ERROR_CODES.LIMIT, `the ring is full (head ${head}, tail ${this.ring.tail}, ${this.ring.entries} entries): the driver's -EAGAIN; retry when entries finish`);
    }
    const [q0, q1] = encodeRingEntry({ listPaddr, command, pages, status: 0 });
    this.memory.setWord(this.entrySpa(head), q0);
    this.memory.setWord(this.entrySpa(head) + 8, q1);
    const waiter: EntryWaiter = { outcome: undefined, error: undefined };
    this.waiters.set(head, waiter);
    this.ringHead((head + 1) % this.ring.entries);
    return head;
  }

  /** The entry's wait, asynchronously: the clock runs (virtual) or is waited for (realtime) until it finishes. */
  private async waitFor(head: number, waiter: EntryWaiter, yieldFirst: boolean): Promise<EntryOutcome> {
    if (yieldFirst) await this.clock.yieldFn?.();
    while (waiter.outcome === undefined && waiter.error === undefined) {
      const until = this.running?.endNs;
      if (until === undefined) break;
      if (this.clock.mode === 'realtime' && until <= this.clock.nowNs) {
        // The clock is at the entry's end but the realtime driver has not run its
        // event yet (a chunk of work ended there): let the driver run, never spin.
        await (this.clock.yieldFn?.() ?? new Promise<void>((resolve) => queueMicrotask(resolve)));
        continue;
      }
      await this.clock.waitUntil(until);
    }
    return this.settled(head, waiter);
  }

  /** The waiter's outcome, or its error thrown; an entry that could not run (paused, stopped, de-initialised) throws. */
  private settled(head: number, waiter: EntryWaiter): EntryOutcome {
    if (waiter.outcome === undefined && waiter.error === undefined) {
      this.waiters.delete(head);
      throw new EmuError(ERROR_CODES.WRONG_MODE, `the ring entry at index ${head} did not run: the engine was paused, stopped or de-initialised meanwhile`);
    }
    if (waiter.error !== undefined) throw waiter.error;
    return waiter.outcome as EntryOutcome;
  }

  capabilities() {
    return {
      capReg: 0,
      fwReg: versionReg(this.config.fwMajor, this.config.fwMinor),
      specReg: versionReg(SPEC_MAJOR, SPEC_MINOR),
      supportReg: (this.config.psmash ? SUPPORT_PSMASH : 0) | (this.config.punsmash ? SUPPORT_PUNSMASH : 0),
    };
  }

  getStallModel(): StallModel {
    return { ...this.stallModel, jitter: { ...this.stallModel.jitter } };
  }

  /** Merges `patch` into the model; a bad field throws and changes nothing. */
  setStallModel(patch: StallModelPatch): StallModel {
    this.stallModel = mergeStallModel(this.stallModel, patch);
    return this.getStallModel();
  }

  // ---- state -------------------------------------------------------------------------

  getState(): TmpmState {
    // The running entry less its outcome and detail, the gctx input word as hex (keys in their order).
    let running: TmpmState['running'] = null;
    if (this.running !== null) {
      const { outcome, detail: _d, ...rest } = this.running;
      running = { ...rest, gctxInput: '0x' + rest.gctxInput.toString(16) };
      if (outcome !== undefined && outcome.stalls.length > 0) {
        running.smash = {
          srcPgSpa: outcome.srcPgSpa,
          reaches: outcome.reaches.map((x) => ({ domainId: x.domainId, iova: '0x' + x.iova.toString(16) })),
          stalls: outcome.stalls.map((x) => ({ id: x.id, heldCount: x.heldCount, endNs: x.endNs })),
        };
      }
    }
    return {
      config: { ...this.config },
      stallModel: this.getStallModel(),
      regs: { ...this.regs },
      status: { ...this.status },
      applied: { ...this.applied },
      ring: { ...this.ring },
      stopped: this.stopped,
      interrupts: this.interrupts,
      commands: this.commands,
      pendingCtl: this.pendingCtl.map((p) => ({ atNs: p.ev.atNs, seq: p.ev.seq, value: p.value })),
      ...(this.heldCtl.length > 0 ? { heldCtl: [...this.heldCtl] } : {}),
      running,
    };
  }

  /**
   * Restores a dumped engine: its pending control writes and running entry are
   * re-scheduled with their seqs. `stallById` finds the DMA engine's restored stalls
   * (load the DMA state first), so a running smash ends as it would have.
   */
  setState(s: TmpmState, stallById: (id: number) => StallHandle | undefined = () => undefined): void {
    this.config = { ...s.config };
    this.stallModel = { ...s.stallModel, jitter: { ...s.stallModel.jitter } };
    this.regs = { ...s.regs };
    this.status = { ...s.status };
    this.applied = { ...s.applied };
    this.ring = { ...s.ring };
    this.stopped = s.stopped;
    this.interrupts = s.interrupts;
    this.commands = s.commands;
    this.pendingCtl = s.pendingCtl.map((p) => ({ ev: this.clock.schedule(p.atNs, this, EV_CTL, p.value, p.seq), value: p.value }));
    this.heldCtl = [...(s.heldCtl ?? [])];
    this.running = null;
    if (s.running !== null) {
      const { smash, ...rest } = s.running;
      const running = { ...rest, gctxInput: BigInt(s.running.gctxInput) } as unknown as Running;
      if (smash !== undefined) running.outcome = restoredOutcome(running, smash, stallById);
      this.running = running;
    }
    if (this.running !== null) this.runningEvent = this.clock.schedule(this.running.endNs, this, EV_DONE, null, this.running.seq);
  }

  /** A 64-bit address from memory, C-bit stripped; one past 2^53 reads as unsafe (outside memory). */
  private stripBig(value: bigint): number {
    if (value <= MAX_SAFE_BIG) return this.strip(Number(value));
    const v = this.cBit === null ? value : value & ~(1n << BigInt(this.cBit));
    return v > MAX_SAFE_BIG ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  private strip(spa: number): number {
    const cBit = this.cBit;
    if (cBit === null || spa < 2 ** cBit) return spa;
    return Math.floor(spa / 2 ** cBit) % 2 === 1 ? spa - 2 ** cBit : spa;
  }
}

/** A dumped running smash as the outcome `finish` reads: its statuses, stall, reaches and stalls. */
function restoredOutcome(r: Running, d: RunningSmashDoc, stallById: (id: number) => StallHandle | undefined): SmashOutcome {
  return {
    status: r.status,
    subStatus: r.subStatus,
    pteError: r.pteError,
    pteSubError: r.pteSubError,
    stallNs: r.stallNs,
    stalls: d.stalls.map((x) => stallById(x.id) ?? { id: x.id, heldCount: x.heldCount, endNs: x.endNs }),
    rmpChanged: r.rmpChanged,
    ...(r.hpteSpa !== undefined ? { hpteSpa: r.hpteSpa } : {}),
    reaches: d.reaches.map((x) => ({ domainId: x.domainId, iova: BigInt(x.iova) })),
    srcPgSpa: d.srcPgSpa,
  };
}

/** The STATUS PAUSE/INIT bits for a driver: re-exported so clients need one import. */
export { RBCTL_INIT, RBCTL_PAUSE };
