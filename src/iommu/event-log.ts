/**
 * The IOMMU event log (hardware.md §4.3, protocol/README.md §6.4): 16-byte entries
 * (four u32 words) in a ring of `capacity` entries. This file owns every event
 * shift and mask, both ways.
 *
 * Layout: DeviceID w0[15:0]; DomainID/PASID w0[19:16]:w1[15:0]; flags w1[27:16];
 * type w1[31:28]; address w3:w2. RMP_PAGE_FAULT puts its rmp flags in w0[23:16]
 * and the VMG tag in w1[15:0]. ILLEGAL_COMMAND_ERROR carries the command's address
 * in w3:w2; commands here arrive over the API, not from a command buffer in memory,
 * so the emulator logs 0 there unless the caller names one.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

export const EVENT_TYPE = {
  ILLEGAL_DEV_TABLE_ENTRY: 0x1,
  IO_PAGE_FAULT: 0x2,
  DEV_TAB_HARDWARE_ERROR: 0x3,
  PAGE_TAB_HARDWARE_ERROR: 0x4,
  ILLEGAL_COMMAND_ERROR: 0x5,
  COMMAND_HARDWARE_ERROR: 0x6,
  IOTLB_INV_TIMEOUT: 0x7,
  INVALID_DEVICE_REQUEST: 0x8,
  INVALID_PPR_REQUEST: 0x9,
  GUEST_EVENT_FAULT: 0xb,
  VIOMMU_HW_ERROR: 0xc,
  RMP_PAGE_FAULT: 0xd,
  RMP_HW_ERROR: 0xe,
} as const;
export type EventTypeName = keyof typeof EVENT_TYPE;

const TYPE_NAMES = new Map<number, EventTypeName>(Object.entries(EVENT_TYPE).map(([n, t]) => [t, n as EventTypeName]));

/** The type's name; unlisted types read "RESERVED_0x<type>". */
export function eventTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `RESERVED_0x${type.toString(16)}`;
}

/** Flag bits of w1[27:16] (hardware.md §4.3; all but I and RW UNCONFIRMED; our use: protocol/README.md §6.1, §6.4). */
export const EVENT_FLAG = {
  GN: 0x001,
  NX: 0x002,
  US: 0x004,
  I: 0x008,
  PR: 0x010,
  RW: 0x020,
  PE: 0x040,
  RZ: 0x080,
  TR: 0x100,
} as const;

export const EV_W0_DEVICE_ID_MASK = 0xffff;
export const EV_W0_DOMAIN_HI_SHIFT = 16;
export const EV_W0_DOMAIN_HI_MASK = 0xf;
export const EV_W0_RMP_FLAGS_SHIFT = 16;
export const EV_W0_RMP_FLAGS_MASK = 0xff;
export const EV_W1_DOMAIN_LO_MASK = 0xffff;
export const EV_W1_VMG_TAG_MASK = 0xffff;
export const EV_W1_FLAGS_SHIFT = 16;
export const EV_W1_FLAGS_MASK = 0xfff;
export const EV_W1_TYPE_SHIFT = 28;

/** An event to log. `domainId` is encoded only by types that carry one; the log keeps it for every type. */
export interface IommuEvent {
  type: number;
  deviceId: number;
  domainId: number;
  address: bigint;
  write: boolean;
  present?: boolean;
  permission?: boolean;
  interrupt?: boolean;
  /** Raw w1[27:16]; when given it replaces the flags built from write/present/permission/interrupt. */
  flags?: number;
  rmpFlags?: number;
  vmgTag?: number;
}

export type EventWords = [number, number, number, number];

export interface DecodedEvent {
  type: number;
  typeName: string;
  deviceId: number;
  /** Absent for types whose w0[19:16]:w1[15:0] means something else (RMP faults, ILLEGAL_COMMAND_ERROR). */
  domainId?: number;
  flags: number;
  write: boolean;
  present: boolean;
  permission: boolean;
  interrupt: boolean;
  address: bigint;
  rmpFlags?: number;
  vmgTag?: number;
}

function carriesDomain(type: number): boolean {
  return type !== EVENT_TYPE.RMP_PAGE_FAULT && type !== EVENT_TYPE.RMP_HW_ERROR && type !== EVENT_TYPE.ILLEGAL_COMMAND_ERROR;
}

export function encodeEvent(e: IommuEvent): EventWords {
  if (!Number.isInteger(e.type) || e.type < 0 || e.type > 0xf) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `event type must be 0..15, got ${String(e.type)}`);
  }
  const flags = e.flags ?? (e.write ? EVENT_FLAG.RW : 0) | (e.present === true ? EVENT_FLAG.PR : 0) | (e.permission === true ? EVENT_FLAG.PE : 0) | (e.interrupt === true ? EVENT_FLAG.I : 0);
  let w0 = 0;
  let w1 = ((e.type << EV_W1_TYPE_SHIFT) | ((flags & EV_W1_FLAGS_MASK) << EV_W1_FLAGS_SHIFT)) >>> 0;
  if (e.type === EVENT_TYPE.RMP_PAGE_FAULT || e.type === EVENT_TYPE.RMP_HW_ERROR) {
    w0 = (e.deviceId & EV_W0_DEVICE_ID_MASK) | (((e.rmpFlags ?? 0) & EV_W0_RMP_FLAGS_MASK) << EV_W0_RMP_FLAGS_SHIFT);
    w1 = (w1 | ((e.vmgTag ?? 0) & EV_W1_VMG_TAG_MASK)) >>> 0;
  } else if (e.type !== EVENT_TYPE.ILLEGAL_COMMAND_ERROR) {
    // A device without a domain (domainId -1) logs domain 0.
    const domainId = e.domainId < 0 ? 0 : e.domainId;
    w0 = (e.deviceId & EV_W0_DEVICE_ID_MASK) | (((domainId >>> 16) & EV_W0_DOMAIN_HI_MASK) << EV_W0_DOMAIN_HI_SHIFT);
    w1 = (w1 | (domainId & EV_W1_DOMAIN_LO_MASK)) >>> 0;
  }
  const address = BigInt.asUintN(64, e.address);
  return [w0 >>> 0, w1, Number(address & 0xffff_ffffn), Number(address >> 32n)];
}

export function decodeEvent(words: readonly number[]): DecodedEvent {
  const [w0 = 0, w1 = 0, w2 = 0, w3 = 0] = words;
  const type = w1 >>> EV_W1_TYPE_SHIFT;
  const flags = (w1 >>> EV_W1_FLAGS_SHIFT) & EV_W1_FLAGS_MASK;
  const out: DecodedEvent = {
    type,
    typeName: eventTypeName(type),
    deviceId: type === EVENT_TYPE.ILLEGAL_COMMAND_ERROR ? 0 : w0 & EV_W0_DEVICE_ID_MASK,
    flags,
    write: (flags & EVENT_FLAG.RW) !== 0,
    present: (flags & EVENT_FLAG.PR) !== 0,
    permission: (flags & EVENT_FLAG.PE) !== 0,
    interrupt: (flags & EVENT_FLAG.I) !== 0,
    address: (BigInt(w3 >>> 0) << 32n) | BigInt(w2 >>> 0),
  };
  if (type === EVENT_TYPE.RMP_PAGE_FAULT || type === EVENT_TYPE.RMP_HW_ERROR) {
    out.rmpFlags = (w0 >>> EV_W0_RMP_FLAGS_SHIFT) & EV_W0_RMP_FLAGS_MASK;
    out.vmgTag = w1 & EV_W1_VMG_TAG_MASK;
  } else if (carriesDomain(type)) {
    out.domainId = (((w0 >>> EV_W0_DOMAIN_HI_SHIFT) & EV_W0_DOMAIN_HI_MASK) << 16) | (w1 & EV_W1_DOMAIN_LO_MASK);
  }
  return out;
}

export interface LoggedEvent {
  /** 1, 2, ... in logging order; a dropped event takes none. */
  seq: number;
  type: number;
  typeName: string;
  deviceId: number;
  /** From the words when the type encodes one, else as logged (-1: the device had no domain). */
  domainId: number;
  address: bigint;
  write: boolean;
  atNs: number;
  words: EventWords;
  rmpFlags?: number;
  vmgTag?: number;
}

export interface EventReadOptions {
  /** Only entries with seq > since (default 0: all). */
  since?: number;
  /** At most this many (default: the whole ring). */
  max?: number;
  /** Free what is returned (default false). */
  consume?: boolean;
}

export interface EventLogState {
  capacity: number;
  lastSeq: number;
  overflow: boolean;
  /** Each entry's words are authoritative; domainId is kept because RMP faults do not encode it. */
  entries: Array<{ seq: number; atNs: number; domainId: number; words: EventWords }>;
}

export const DEFAULT_EVENT_LOG_ENTRIES = 512;

/**
 * The ring: when it is full a new event is dropped, takes no seq, and sets
 * `overflow` (EventOverflow, hardware.md §4.3); a consuming read reports overflow
 * as it was, then clears it.
 */
export class EventLog {
  onLog: ((e: LoggedEvent) => void) | undefined = undefined;
  private entries: LoggedEvent[] = [];
  private lastSeq = 0;
  private overflowFlag = false;
  private cap: number;

  constructor(capacity: number = DEFAULT_EVENT_LOG_ENTRIES) {
    checkCapacity(capacity);
    this.cap = capacity;
  }

  get capacity(): number {
    return this.cap;
  }

  get overflow(): boolean {
    return this.overflowFlag;
  }

  get length(): number {
    return this.entries.length;
  }

  log(event: IommuEvent, atNs: number): number | undefined {
    const words = encodeEvent(event);
    if (this.entries.length >= this.cap) {
      this.overflowFlag = true;
      return undefined;
    }
    const logged = makeLogged(++this.lastSeq, atNs, event.domainId, words);
    this.entries.push(logged);
    this.onLog?.(logged);
    return logged.seq;
  }

  read(opts: EventReadOptions = {}): { events: LoggedEvent[]; overflow: boolean } {
    const since = opts.since ?? 0;
    const max = opts.max ?? this.cap;
    let first = 0;
    while (first < this.entries.length && (this.entries[first] as LoggedEvent).seq <= since) first++;
    const picked = this.entries.slice(first, first + Math.max(0, max));
    const overflow = this.overflowFlag;
    if (opts.consume === true) {
      this.entries.splice(first, picked.length);
      this.overflowFlag = false;
    }
    return { events: picked.map(copyLogged), overflow };
  }

  clear(): void {
    this.entries = [];
    this.overflowFlag = false;
  }

  getState(): EventLogState {
    return {
      capacity: this.cap,
      lastSeq: this.lastSeq,
      overflow: this.overflowFlag,
      entries: this.entries.map((e) => ({ seq: e.seq, atNs: e.atNs, domainId: e.domainId, words: [...e.words] as EventWords })),
    };
  }

  setState(state: EventLogState): void {
    checkCapacity(state.capacity);
    this.cap = state.capacity;
    this.lastSeq = state.lastSeq;
    this.overflowFlag = state.overflow;
    this.entries = state.entries.map((e) => makeLogged(e.seq, e.atNs, e.domainId, [...e.words] as EventWords));
  }
}

function makeLogged(seq: number, atNs: number, domainId: number, words: EventWords): LoggedEvent {
  const d = decodeEvent(words);
  const logged: LoggedEvent = {
    seq,
    type: d.type,
    typeName: d.typeName,
    deviceId: d.deviceId,
    domainId: d.domainId ?? domainId,
    address: d.address,
    write: d.write,
    atNs,
    words,
  };
  if (d.rmpFlags !== undefined) logged.rmpFlags = d.rmpFlags;
  if (d.vmgTag !== undefined) logged.vmgTag = d.vmgTag;
  return logged;
}

function copyLogged(e: LoggedEvent): LoggedEvent {
  return { ...e, words: [...e.words] as EventWords };
}

function checkCapacity(capacity: number): void {
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `eventLogEntries must be a positive integer, got ${String(capacity)}`, { field: 'eventLogEntries' });
  }
}
