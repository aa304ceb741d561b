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
 *   memory, its command found in the command table (command-table.ts), checked and
 *   run (for PSMASH_IO / PUNSMASH_IO, its effect begun); when it ends (`commandNs`
 *   later, or when the stall ends) the engine writes the status to the gctx word and
 *   the ring entry, then advances RBTAIL.
 *
 * There is no CPU to interrupt: an interrupt is an event on topic `tmpm`. The engine
 * is built from one TmpmDeps and builds its PSMASH_IO / PUNSMASH_IO unit and the host
 * driver's side of the ring (host-driver.ts) itself.
 */
import type { ClockEvent, EventTarget } from '../clock/event-queue.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { HostMemory } from '../memory/host-memory.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import { CDATA_PAGES_MASK, checkRegOffset, decodeRbctl, encodeStatus, MAX_PENDING_CTL_WRITES, RBCTL_INIT, RBCTL_PAUSE, READ_ONLY_REGS, RING_INDEX_MASK, ringBaseOf, TMPM_REG } from './registers.js';
import { decodeRingEntry, RING_ENTRIES_PER_PAGE, RING_ENTRY_BYTES, ringRefusal, withRingStatus } from './ring.js';
import { stripCBit } from '../iommu/pte.js';
import { CMD_PAGE_GCTX, CMD_PAGE_SMASH_HPTE, gctxWithOutputs, TMPM_STATUS } from './commands.js';
import { tmpmCommand, type TmpmRunContext } from './command-table.js';
import { PsmashIo, type SmashOutcome, type StallBegun } from './psmash-io.js';
import type { StallHandle } from '../dma/stall-gate.js';
import { commandEvent, entryOutcome, entryRefusal, newRunning, stallEvent, type Running } from './entry-run.js';
import { DEFAULT_TMPM_CONFIG, type EntryOutcome, type TmpmConfig, type TmpmDeps, type TmpmEvents } from './tmpm-config.js';
import type { StallModel, StallModelPatch } from './stall-model.js';
import { DEFAULT_STALL_MODEL, mergeStallModel } from './stall-model.js';
import type { BudgetRefusal } from './stall-budget.js';
import { HostDriver } from './host-driver.js';
import { runningDoc, runningFromDoc, type TmpmState } from './tmpm-state.js';

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
  /** The host driver's side of the ring (the convenience methods' submit). */
  private readonly driver: HostDriver;
  /** What the commands' runs use (command-table.ts). */
  private readonly runContext: TmpmRunContext;
  private readonly smash: PsmashIo;
  /** The entry whose budget check its submitter asked a moment ago (-1: none): not asked again if it starts at once. */
  private budgetChecked = -1;
  /** The entry being started (its index and name), for the stall-begin report. */
  private starting = { index: -1, commandName: '' };
  private readonly memory: HostMemory;
  private readonly clock: VirtualClock;
  private readonly events: TmpmEvents;
  private readonly d: TmpmDeps;

  /** The engine and its PSMASH_IO / PUNSMASH_IO unit, from one dependencies object. */
  constructor(d: TmpmDeps) {
    this.d = d;
    this.memory = d.memory;
    this.clock = d.clock;
    this.events = d.events;
    this.config = { ...(d.config ?? DEFAULT_TMPM_CONFIG) };
    const { memory, rmp, iommu, dma, guests, clock, rng, cBit, snpInitialized } = d;
    const smash = new PsmashIo({
      memory,
      rmp,
      iommu,
      dma,
      guests,
      clock,
      rng,
      cBit,
      snpInitialized,
      stallModel: () => this.stallModel,
      engineDeviceId: () => this.config.deviceId,
      pdeAccess: () => this.config.pdeAccess,
    });
    smash.onStallBegin = (b) => this.emitStall('begin', this.starting, b);
    this.smash = smash;
    const self = this;
    this.runContext = {
      memory: d.memory,
      smash,
      get config() {
        return self.config;
      },
    };
    this.driver = new HostDriver({
      clock: d.clock,
      memory: d.memory,
      blocked: () => this.blocked(),
      ring: () => this.ring,
      writeHead: (head, checkedIndex) => {
        this.budgetChecked = checkedIndex;
        try {
          this.ringHead(head);
        } finally {
          this.budgetChecked = -1;
        }
      },
      runningEndNs: () => this.running?.endNs,
    });
  }

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
        this.driver.entriesDropped();
      }
    }
    this.applied.pause = pause;
    this.status.toggle = !this.status.toggle;
    if (this.events.has('tmpm')) {
      this.events.emit('tmpm', this.clock.nowNs, { kind: 'control', rbctl: value, init, pause, driverInit: this.status.driverInit, rbErr: this.status.rbErr, toggle: this.status.toggle });
    }
    if (kick) this.kick();
  }

  /** INIT's checks on the ring the registers give (ring.ts): the reason it is refused, or null. */
  private checkRing(): string | null {
    return ringRefusal(stripCBit(ringBaseOf(this.regs.rblow, this.regs.rbhigh), this.d.cBit), this.regs.cdata & CDATA_PAGES_MASK, this.memory, this.d.snpInitialized() ? this.d.rmp : null);
  }

  private initRing(): void {
    const pages = this.regs.cdata & CDATA_PAGES_MASK;
    this.ring = { baseSpa: stripCBit(ringBaseOf(this.regs.rblow, this.regs.rbhigh), this.d.cBit), entries: pages * RING_ENTRIES_PER_PAGE, tail: 0, head: 0, lastHead: 0 };
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

  /** Reads, checks and begins the entry at `index` (its command from the table); its end is an EV_DONE event. */
  private start(index: number): void {
    const at = this.entrySpa(index);
    const e = decodeRingEntry(this.memory.word(at), this.memory.word(at + 8));
    const spec = tmpmCommand(e.command, this.config);
    const listSpa = this.stripBig(e.listPaddr);
    const startNs = this.clock.nowNs;
    let status: number = TMPM_STATUS.SUCCESS;
    let detail: Record<string, unknown> | undefined;
    // A refused command finishes at once: its status is all it changes (protocol/README.md
    // §4.3.3); GET_CAPABILITIES and NOOP take commandNs.
    let durationNs = 0;
    let gctxSpa = -1;
    let outcome: SmashOutcome | undefined;
    const refused = entryRefusal(e, spec, listSpa, this.config, this.memory.sizeBytes);
    if (refused !== null) {
      status = refused.status;
      detail = refused.detail;
    } else if (spec !== undefined) {
      if (spec.gctx) gctxSpa = listSpa + CMD_PAGE_GCTX;
      const gctxInput = spec.gctx ? this.memory.word(gctxSpa) : 0n;
      const fault = this.d.commandFault(spec.name);
      if (fault?.status !== undefined) {
        status = fault.status;
        detail = { reason: 'injected by fault.add', injected: true, faultIds: fault.faultIds };
      } else {
        this.starting = { index, commandName: spec.name };
        const run = spec.run(this.runContext, listSpa, index === this.budgetChecked ? null : (spec.budget ?? null));
        status = run.status;
        detail = run.detail;
        durationNs = run.durationNs;
        outcome = run.outcome;
      }
      durationNs += fault?.delayNs ?? 0;
      this.running = newRunning(index, e.command, spec.name, listSpa, startNs, startNs + durationNs, status, detail, outcome, gctxSpa, gctxInput);
    }
    this.running ??= newRunning(index, e.command, spec?.name ?? `0x${e.command.toString(16)}`, listSpa, startNs, startNs + durationNs, status, detail, undefined, -1, 0n);
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
    this.driver.entryDone(r.index, done);
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

  // ---- the driver's side, for the convenience methods (host-driver.ts) ---------------

  /**
   * tmpm.submit: one entry through the ring (HostDriver.submit): a plain value when
   * the clock reaches its end within one chunk of work in virtual mode, else a
   * promise. `budgetChecked`: the caller asked the command's budget check
   * (budgetRefusal) a moment ago, so the engine need not ask again.
   */
  submit(command: number, listPaddr: bigint, pages = 0, budgetChecked = false): EntryOutcome | Promise<EntryOutcome> {
    return this.driver.submit(command, listPaddr, pages, budgetChecked);
  }

  /** submit, always as a promise. */
  async submitRaw(command: number, listPaddr: bigint, pages = 0, budgetChecked = false): Promise<EntryOutcome> {
    return this.driver.submit(command, listPaddr, pages, budgetChecked);
  }

  /** Why an entry written now would not run, or null. */
  private blocked(): string | null {
    if (!this.status.driverInit) return 'the TMPM is not initialised (STATUS.DRIVER_INIT clear): bring it up first (RBLOW/RBHIGH, CDATA, RBCTL INIT; see tmpm.regs)';
    if (this.stopped) return 'the TMPM stopped on WPTR_ERR: clear RBCTL.INIT and set it again';
    if (this.applied.pause || decodeRbctl(this.regs.rbctl).pause) return 'the TMPM is paused (RBCTL.PAUSE): an entry would not run; clear PAUSE first';
    return null;
  }

  /**
   * The budget check of the command numbered `command` (command-table.ts), asked
   * now; `what` names it in the message. Null when it fits or has no budget.
   */
  budgetRefusal(command: number, what: string): BudgetRefusal | null {
    const check = tmpmCommand(command, this.config)?.budget;
    return check === undefined ? null : check(this.smash.deps, what);
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
    const running = this.running === null ? null : runningDoc(this.running);
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
    this.running = s.running === null ? null : runningFromDoc(s.running, stallById);
    if (this.running !== null) this.runningEvent = this.clock.schedule(this.running.endNs, this, EV_DONE, null, this.running.seq);
  }

  /** A 64-bit address from memory, C-bit stripped; one past 2^53 reads as unsafe (outside memory). */
  private stripBig(value: bigint): number {
    const cBit = this.d.cBit;
    if (value <= MAX_SAFE_BIG) return stripCBit(Number(value), cBit);
    const v = cBit === null ? value : value & ~(1n << BigInt(cBit));
    return v > MAX_SAFE_BIG ? Number.MAX_SAFE_INTEGER : Number(v);
  }
}

/** The STATUS PAUSE/INIT bits for a driver: re-exported so clients need one import. */
export { RBCTL_INIT, RBCTL_PAUSE };
