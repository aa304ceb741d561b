/**
 * The PSP's SEV mailbox as a device (protocol/README.md §4.6; docs/sev-firmware.md
 * §1): the host writes the buffer's address, then CMDRESP = id << 16 | IOC. The
 * firmware clears RESP (bit 31), reads the buffer (its length from the command
 * table) and runs the command for `cmdNs` of virtual time; at the end it writes the
 * outputs, CMDRESP = RESP | id << 16 | status, and with IOC and INTEN bit 1 it sets
 * INTSTS bit 1 and raises an interrupt (an event on topic psp). A CMDRESP write
 * while a command runs is ignored (topic psp says so). Commands run one at a time.
 */
import type { ClockEvent, EventTarget } from '../clock/event-queue.js';
import type { VirtualClock } from '../clock/virtual-clock.js';
import type { HostMemory } from '../memory/host-memory.js';
import type { RmpTable } from '../rmp/rmp-table.js';
import type { GuestTable } from '../firmware/guests.js';
import type { Firmware } from '../firmware/firmware.js';
import { FW_STATUS, fwStatusName } from '../firmware/status.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { bytesToHex, hexToBytes, readBytes, u32 } from './bytes.js';
import { checkPspRegOffset, cmdbuffAddrOf, CMDRESP_RESP, decodeCmdresp, encodeCmdrespDone, FEATURE_SEV, PSP_REG, READ_ONLY_PSP_REGS, SEV_CMD_COMPLETE } from './registers.js';
import { pspCommand } from './commands.js';
import { DEFAULT_PSP_CONFIG, type CommandContext, type PspConfig, type TioFirmwareState } from './psp-config.js';

const EV_DONE = 1;
const U32 = 2 ** 32;

/** Where the PSP reports (topic psp: commands, SPDM steps, interrupts, ignored writes). */
export interface PspEvents {
  has(topic: 'psp'): boolean;
  emit(topic: 'psp', atNs: number, data: Record<string, unknown>): void;
}

/** A fault rule firing on a command (fault.add {method: "psp.TIO_DEV_CONNECT"}). */
export interface PspCommandFault {
  status?: number;
  delayNs: number;
  faultIds: string[];
}

/** What the PSP is built from (one object, as the TMPM's TmpmDeps): the machine's parts it reads and writes, and its settings. */
export interface PspDeps {
  memory: HostMemory;
  /** RMPUPDATE, PSMASH and the page-state checks of every command. */
  rmp: RmpTable;
  /** Guest context pages. */
  guests: GuestTable;
  /** SNP/TIO initialised, bindings and fences (what the IOMMU's RMP check reads). */
  firmware: Firmware;
  clock: VirtualClock;
  /** Topic psp notifications. */
  events: PspEvents;
  /** The C-bit position stripped from the addresses the driver gives (null: none). */
  cBit: number | null;
  /** The fault rule firing on a command as it starts (fault.add {method: "psp.NAME"}), or null. */
  commandFault(name: string): PspCommandFault | null;
  /** 32 random bits (nonces, the device's SPDM randomness): the platform's seeded PRNG. */
  rand32(): number;
  config?: PspConfig;
}

/** What one finished command did. */
export interface PspCommandDone {
  seq: number;
  command: number;
  commandName: string;
  status: number;
  statusName: string;
  detail?: Record<string, unknown>;
  startNs: number;
  endNs: number;
  cmdresp: number;
}

interface Running {
  seq: number;
  command: number;
  name: string;
  ioc: boolean;
  startNs: number;
  endNs: number;
  bufSpa: number;
  /** The buffer as read at the start, hex. */
  buf: string;
  /** A status decided at the start (bad id, buffer address or length, an injected fault); null: run it at the end. */
  status: number | null;
  detail: Record<string, unknown> | null;
  eventSeq: number;
}

export interface PspState {
  config: PspConfig;
  regs: { cmdresp: number; lo: number; hi: number; inten: number; intsts: number };
  tio: TioFirmwareState;
  running: Running | null;
  nextSeq: number;
  commands: number;
  interrupts: number;
}

export class PspDevice implements EventTarget {
  config: PspConfig;
  private regs = { cmdresp: 0, lo: 0, hi: 0, inten: 0, intsts: 0 };
  tio: TioFirmwareState = { tioEn: false, contexts: [], exchange: null, tdis: [] };
  private running: Running | null = null;
  /** The running command's buffer as read at its start (running.buf as bytes); null after setState: decoded from the hex then. */
  private runningBytes: Uint8Array | null = null;
  private runningEvent: ClockEvent | undefined;
  /** The C-bit as a mask to clear (0n: none). */
  private readonly cBitMask: bigint;
  private nextSeq = 1;
  private commands = 0;
  private interrupts = 0;
  private readonly done = new Map<number, PspCommandDone>();
  private readonly ctx: CommandContext;
  /** The device side's slot-0 chain (the machine wires it to its DOE devices). */
  certChainOf: (deviceId: number) => Uint8Array = () => new Uint8Array(0);

  private readonly memory: HostMemory;
  private readonly firmware: Firmware;
  private readonly clock: VirtualClock;
  private readonly events: PspEvents;
  private readonly faultFor: (name: string) => PspCommandFault | null;

  constructor(deps: PspDeps) {
    const { memory, rmp, guests, firmware, clock, events, cBit, commandFault, rand32, config = DEFAULT_PSP_CONFIG } = deps;
    this.memory = memory;
    this.firmware = firmware;
    this.clock = clock;
    this.events = events;
    this.faultFor = commandFault;
    this.config = { ...config };
    this.cBitMask = cBit === null ? 0n : 1n << BigInt(cBit);
    const self = this;
    this.ctx = {
      memory,
      rmp,
      guests,
      firmware,
      get config() {
        return self.config;
      },
      get tio() {
        return self.tio;
      },
      strip: (v) => this.strip(v),
      spdmStep: (data) => {
        if (this.events.has('psp')) this.events.emit('psp', this.clock.nowNs, { kind: 'spdm', ...data });
      },
      rand32,
      certChainOf: (deviceId) => this.certChainOf(deviceId),
    };
  }

  // ---- registers -------------------------------------------------------------------

  readReg(offset: number): number {
    switch (checkPspRegOffset(offset)) {
      case 'CMDRESP':
        return this.regs.cmdresp;
      case 'CMDBUFF_ADDR_LO':
        return this.regs.lo;
      case 'CMDBUFF_ADDR_HI':
        return this.regs.hi;
      case 'FEATURE':
        return FEATURE_SEV;
      case 'INTEN':
        return this.regs.inten;
      case 'INTSTS':
        return this.regs.intsts;
    }
  }

  writeReg(offset: number, value: number): void {
    const name = checkPspRegOffset(offset);
    if (READ_ONLY_PSP_REGS.has(offset)) throw invalidArgument(`${name} (offset 0x${offset.toString(16)}) is read-only`, { path: ['offset'] });
    if (!Number.isInteger(value) || value < 0 || value >= U32) throw invalidArgument(`value must be a 32-bit unsigned integer (0..0xffffffff), got ${value}`, { path: ['value'] });
    switch (name) {
      case 'CMDRESP':
        this.command(value);
        return;
      case 'CMDBUFF_ADDR_LO':
        this.regs.lo = value;
        return;
      case 'CMDBUFF_ADDR_HI':
        this.regs.hi = value;
        return;
      case 'INTEN':
        this.regs.inten = value;
        return;
      case 'INTSTS':
        // Write 1 to clear.
        this.regs.intsts = (this.regs.intsts & ~value) >>> 0;
        return;
      default:
        return;
    }
  }

  get busy(): boolean {
    return this.running !== null;
  }

  /** A CMDRESP write: starts a command unless one runs. */
  private command(value: number): void {
    const w = decodeCmdresp(value);
    if (this.running !== null) {
      if (this.events.has('psp')) this.events.emit('psp', this.clock.nowNs, { kind: 'ignored', value, running: this.running.name, why: 'a CMDRESP write while a command runs is ignored' });
      return;
    }
    const startNs = this.clock.nowNs;
    const spec = pspCommand(w.command);
    const name = spec?.name ?? `0x${w.command.toString(16)}`;
    let status: number | null = null;
    let detail: Record<string, unknown> | null = null;
    let buf: Uint8Array = new Uint8Array(0);
    const bufSpa = this.strip(cmdbuffAddrOf(this.regs.lo, this.regs.hi));
    if (spec === undefined || (spec.tio && !this.config.tioSupported)) {
      status = FW_STATUS.INVALID_COMMAND;
      detail = { reason: spec === undefined ? `command id 0x${w.command.toString(16)} is not one this firmware serves` : `${name} is not enabled: SEV-TIO is not supported` };
    } else if (spec.bufferBytes > 0) {
      if (!this.memory.contains(bufSpa, spec.bufferBytes)) {
        status = FW_STATUS.INVALID_ADDRESS;
        detail = { reason: `the ${spec.bufferBytes}-byte command buffer at 0x${bufSpa.toString(16)} is outside memory`, spa: BigInt(bufSpa) };
      } else {
        buf = readBytes(this.memory, bufSpa, spec.bufferBytes);
        if (spec.lengthField && u32(buf, 0) !== spec.bufferBytes) {
          status = FW_STATUS.INVALID_LEN;
          detail = { reason: `length is ${u32(buf, 0)}; ${name}'s buffer is ${spec.bufferBytes} bytes` };
        }
      }
    }
    let delayNs = 0;
    if (spec !== undefined) {
      const fault = this.faultFor(spec.name);
      if (fault !== null) {
        delayNs = fault.delayNs;
        if (fault.status !== undefined && status === null) {
          status = fault.status;
          detail = { injected: true, faultIds: fault.faultIds };
        }
      }
    }
    const runNs = (spec !== undefined ? this.config.commandNs[spec.name] : undefined) ?? this.config.cmdNs;
    this.regs.cmdresp = (value % CMDRESP_RESP) >>> 0;
    const endNs = startNs + runNs + delayNs;
    const seq = this.nextSeq++;
    this.runningEvent = this.clock.schedule(endNs, this, EV_DONE, null);
    this.running = { seq, command: w.command, name, ioc: w.ioc, startNs, endNs, bufSpa, buf: bytesToHex(buf), status, detail, eventSeq: this.runningEvent.seq };
    this.runningBytes = buf;
    if (this.events.has('psp')) this.events.emit('psp', startNs, { kind: 'start', seq, command: w.command, commandName: name, bufferSpa: BigInt(bufSpa), ioc: w.ioc, endNs });
  }

  onClockEvent(ev: ClockEvent): void {
    if (ev.kind === EV_DONE) {
      this.runningEvent = undefined;
      this.finish();
    }
  }

  private finish(): void {
    const r = this.running;
    if (r === null) return;
    const bytes = this.runningBytes;
    this.running = null;
    this.runningBytes = null;
    let status = r.status;
    let detail = r.detail;
    if (status === null) {
      const spec = pspCommand(r.command);
      const out = spec === undefined ? { status: FW_STATUS.INVALID_COMMAND } : spec.run(this.ctx, bytes ?? hexToBytes(r.buf), r.bufSpa);
      status = out.status;
      detail = out.detail ?? null;
    }
    this.regs.cmdresp = encodeCmdrespDone(r.command, status);
    this.commands++;
    const done: PspCommandDone =
      detail !== null
        ? { seq: r.seq, command: r.command, commandName: r.name, status, statusName: fwStatusName(status), detail, startNs: r.startNs, endNs: r.endNs, cmdresp: this.regs.cmdresp }
        : { seq: r.seq, command: r.command, commandName: r.name, status, statusName: fwStatusName(status), startNs: r.startNs, endNs: r.endNs, cmdresp: this.regs.cmdresp };
    this.done.set(r.seq, done);
    if (this.done.size > 64) this.done.delete(this.done.keys().next().value as number);
    if (this.events.has('psp')) this.events.emit('psp', this.clock.nowNs, { kind: 'command', ...done, ...(detail !== null ? { detail } : {}) });
    if (r.ioc && (this.regs.inten & SEV_CMD_COMPLETE) !== 0) {
      this.regs.intsts = (this.regs.intsts | SEV_CMD_COMPLETE) >>> 0;
      this.interrupts++;
      if (this.events.has('psp')) this.events.emit('psp', this.clock.nowNs, { kind: 'interrupt', intsts: this.regs.intsts, command: r.command, commandName: r.name });
    }
  }

  // ---- the driver's side, for the convenience methods ---------------------------------

  /**
   * Issues `command` with its buffer at `bufferSpa` (0 for none) as Linux does
   * (address registers, then CMDRESP with IOC) once the mailbox is free, and waits
   * for it (virtual mode: runs the clock to its end).
   */
  async issue(command: number, bufferSpa: number): Promise<PspCommandDone> {
    await this.untilIdle();
    this.regs.lo = bufferSpa % U32;
    this.regs.hi = Math.floor(bufferSpa / U32);
    const seq = this.nextSeq;
    this.command(((command & 0x7ff) * 0x10000 + 1) >>> 0);
    while (!this.done.has(seq)) {
      const until = this.running?.seq === seq ? this.running.endNs : undefined;
      if (until === undefined) throw new EmuError(ERROR_CODES.WRONG_MODE, 'the PSP command did not run to its end (the machine was replaced meanwhile)');
      await this.waitFor(until);
    }
    const d = this.done.get(seq) as PspCommandDone;
    this.done.delete(seq);
    return d;
  }

  /**
   * issue() for a caller that cannot wait (the scenario build): the mailbox idle and
   * the clock virtual; the clock runs to the command's end before it returns.
   */
  issueNow(command: number, bufferSpa: number): PspCommandDone {
    if (this.running !== null || this.clock.mode !== 'virtual') throw new EmuError(ERROR_CODES.WRONG_MODE, 'issueNow needs an idle mailbox and the virtual clock');
    this.regs.lo = bufferSpa % U32;
    this.regs.hi = Math.floor(bufferSpa / U32);
    const seq = this.nextSeq;
    this.command(((command & 0x7ff) * 0x10000 + 1) >>> 0);
    this.clock.advanceTo((this.running as Running | null)?.endNs ?? this.clock.nowNs);
    const d = this.done.get(seq);
    if (d === undefined) throw new EmuError(ERROR_CODES.WRONG_MODE, 'the PSP command did not run to its end');
    this.done.delete(seq);
    return d;
  }

  private async untilIdle(): Promise<void> {
    while (this.running !== null) await this.waitFor(this.running.endNs);
  }

  private async waitFor(until: number): Promise<void> {
    if (this.clock.mode === 'realtime' && until <= this.clock.nowNs) {
      await (this.clock.yieldFn?.() ?? new Promise<void>((resolve) => queueMicrotask(resolve)));
      return;
    }
    await this.clock.waitUntil(until);
  }

  view() {
    const r = this.running;
    const c = decodeCmdresp(this.regs.cmdresp);
    return {
      CMDRESP: { offset: PSP_REG.CMDRESP, value: this.regs.cmdresp, command: c.command, status: c.status, statusName: c.resp ? fwStatusName(c.status) : null, ioc: c.ioc, resp: c.resp },
      CMDBUFF_ADDR_LO: { offset: PSP_REG.CMDBUFF_ADDR_LO, value: this.regs.lo },
      CMDBUFF_ADDR_HI: { offset: PSP_REG.CMDBUFF_ADDR_HI, value: this.regs.hi, bufferAddress: cmdbuffAddrOf(this.regs.lo, this.regs.hi) },
      FEATURE: { offset: PSP_REG.FEATURE, value: FEATURE_SEV, sev: true },
      INTEN: { offset: PSP_REG.INTEN, value: this.regs.inten, sevCmdComplete: (this.regs.inten & SEV_CMD_COMPLETE) !== 0 },
      INTSTS: { offset: PSP_REG.INTSTS, value: this.regs.intsts, sevCmdComplete: (this.regs.intsts & SEV_CMD_COMPLETE) !== 0 },
      firmware: {
        busy: r !== null,
        running: r === null ? null : { command: r.command, commandName: r.name, startNs: r.startNs, endNs: r.endNs },
        snpInit: this.firmware.snpInitialized,
        tioEn: this.tio.tioEn,
        tioInit: this.firmware.tioInitialized,
        cmdNs: this.config.cmdNs,
        devices: this.tio.contexts.map((x) => ({ deviceId: x.deviceId, state: x.state, pages: x.pages.length, ctxSpa: BigInt(x.pages[0] as number) })),
        exchange: this.tio.exchange === null ? null : { ctxSpa: BigInt(this.tio.exchange.ctxSpa), command: this.tio.exchange.command, step: this.tio.exchange.step },
        tdis: this.tio.tdis.map((t) => ({
          deviceId: t.ctxDeviceId,
          functionId: t.functionId,
          tdispState: t.state,
          asid: t.asid,
          pages: t.pages.length,
          ctxSpa: BigInt(t.pages[0] as number),
          fencedAsid: this.firmware.fencedAsid(t.functionId),
        })),
        fences: [...this.firmware.fences.entries()].sort((a, b) => a[0] - b[0]).map(([deviceId, asid]) => ({ deviceId, asid })),
        commands: this.commands,
        interrupts: this.interrupts,
      },
    };
  }

  // ---- state -------------------------------------------------------------------------

  getState(): PspState {
    return {
      config: { ...this.config, commandNs: { ...this.config.commandNs }, tio: { ...this.config.tio }, tioDevices: [...this.config.tioDevices] },
      regs: { ...this.regs },
      tio: structuredClone(this.tio),
      running: this.running === null ? null : { ...this.running, detail: this.running.detail === null ? null : toPlain(this.running.detail) },
      nextSeq: this.nextSeq,
      commands: this.commands,
      interrupts: this.interrupts,
    };
  }

  setState(s: PspState): void {
    this.config = { ...s.config, commandNs: { ...s.config.commandNs }, tio: { ...s.config.tio }, tioDevices: [...s.config.tioDevices] };
    this.regs = { ...s.regs };
    this.tio = { ...structuredClone(s.tio), tdis: structuredClone(s.tio.tdis ?? []) };
    this.nextSeq = s.nextSeq;
    this.commands = s.commands;
    this.interrupts = s.interrupts;
    this.running = s.running === null ? null : { ...s.running };
    this.runningBytes = null;
    if (this.running !== null) this.runningEvent = this.clock.schedule(this.running.endNs, this, EV_DONE, null, this.running.eventSeq);
  }

  /** An address as the firmware uses it: the scenario's C-bit stripped; past 2^53 reads as unsafe (outside memory). */
  private strip(value: bigint): number {
    const v = this.cBitMask === 0n ? value : value & ~this.cBitMask;
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
}

/** Detail values as JSON (bigints as hex strings) for state documents. */
function toPlain(d: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(d, (_k, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v))) as Record<string, unknown>;
}
