/**
 * A DMA stream (protocol/README.md §8, `dma.startStream`): requests at a rate, fixed
 * inter-arrival (default) or Poisson, at addresses aligned to the access size,
 * `random` (default) or `sequential` (wrapping) over [iovaBase, iovaBase + length).
 * This file owns the arithmetic of arrivals and addresses; the engine drives it from
 * one clock event per arrival.
 */
import type { ClockEvent } from '../clock/event-queue.js';
import type { SeededRng } from '../util/rng.js';
import { invalidArgument } from '../util/emu-error.js';
import type { DmaCounters } from './dma-stats.js';

export type StreamPattern = 'random' | 'sequential';
export type StreamArrival = 'fixed' | 'poisson';

export interface StreamParams {
  deviceId: number;
  iovaBase: bigint;
  length: number;
  ratePerSec: number;
  accessBytes: number;
  writeRatio: number;
  pattern?: StreamPattern;
  arrival?: StreamArrival;
}

export const MAX_RATE_PER_SEC = 1e9;
const NS_PER_SEC = 1e9;
const PAGE_BYTES = 4096;
const PAGE_SHIFT = 12;
const IOVA_LIMIT = 1n << 64n;

export function checkDeviceId(deviceId: unknown): asserts deviceId is number {
  if (typeof deviceId !== 'number' || !Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) {
    throw invalidArgument(`deviceId must be an integer in 0..65535, got ${String(deviceId)}`, { field: 'deviceId' });
  }
}

/** Throws INVALID_ARGUMENT naming the first bad field. */
export function checkStreamParams(p: StreamParams): Required<StreamParams> {
  checkDeviceId(p.deviceId);
  const bad = (field: string, rule: string, got: unknown): never => {
    throw invalidArgument(`${field} ${rule}, got ${String(got)}`, { field });
  };
  if (typeof p.ratePerSec !== 'number' || !(p.ratePerSec > 0) || !(p.ratePerSec <= MAX_RATE_PER_SEC)) {
    bad('ratePerSec', `must be > 0 and <= ${MAX_RATE_PER_SEC}`, p.ratePerSec);
  }
  const a = p.accessBytes;
  if (typeof a !== 'number' || !Number.isInteger(a) || a < 1 || a > PAGE_BYTES || (a & (a - 1)) !== 0) {
    bad('accessBytes', 'must be a power of two in 1..4096', a);
  }
  if (typeof p.iovaBase !== 'bigint' || p.iovaBase < 0n || p.iovaBase >= IOVA_LIMIT) {
    bad('iovaBase', 'must be a bigint in [0, 2^64)', p.iovaBase);
  }
  if (p.iovaBase % BigInt(a) !== 0n) bad('iovaBase', `must be aligned to accessBytes (${a})`, `0x${p.iovaBase.toString(16)}`);
  if (typeof p.length !== 'number' || !Number.isSafeInteger(p.length) || p.length < a) {
    bad('length', `must be an integer >= accessBytes (${a})`, p.length);
  }
  if (p.iovaBase + BigInt(p.length) > IOVA_LIMIT) bad('length', 'must keep iovaBase + length within 2^64', p.length);
  if (typeof p.writeRatio !== 'number' || !(p.writeRatio >= 0 && p.writeRatio <= 1)) {
    bad('writeRatio', 'must be in [0, 1]', p.writeRatio);
  }
  const pattern = p.pattern ?? 'random';
  if (pattern !== 'random' && pattern !== 'sequential') bad('pattern', "must be 'random' or 'sequential'", pattern);
  const arrival = p.arrival ?? 'fixed';
  if (arrival !== 'fixed' && arrival !== 'poisson') bad('arrival', "must be 'fixed' or 'poisson'", arrival);
  return { ...p, pattern, arrival };
}

/** The part of a stream that changes as it runs (state documents). */
export interface StreamCursor {
  /** Next slot of a sequential stream, in units of accessBytes. */
  cursor: number;
  /**
   * Fractional ns carried between gaps, so gaps are integers and the mean rate is
   * exact: for an integer rate an integer in [0, rate) (exact rational arithmetic:
   * 1,000,000/s is exactly one request per 1000 ns, 3/s is 333333333 or 333333334);
   * otherwise a fraction in [0, 1).
   */
  acc: number;
}

/** SeededRng.next from its two 32-bit draws. */
function unit(hi: number, lo: number): number {
  return ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;
}

export class DmaStream {
  readonly params: Required<StreamParams>;
  active = true;
  /** Time of the next arrival while active. */
  nextArrivalNs = 0;
  event: ClockEvent | null = null;
  cursor = 0;
  acc = 0;
  /** Per-device counters this stream's requests also count into. */
  readonly deviceCounters: DmaCounters;
  readonly counters: DmaCounters;
  readonly deviceSlot: number;
  readonly streamSlot: number;

  // Derived, hot-path values (all plain numbers; ARCHITECTURE.md, "Value conventions
  // inside the domain").
  private readonly basePfn: number;
  private readonly baseOff: number;
  private readonly slots: number;
  private readonly random: boolean;
  private readonly poisson: boolean;
  private readonly drawWrite: boolean;
  private readonly alwaysWrite: boolean;
  private readonly accessBytes: number;
  /**
   * Every offset from the base page (baseOff + slot x accessBytes) is below 2^31:
   * then its page and offset in the page are the integer shift and mask, the same
   * values as the floor of the division by 4096 (exact for integers).
   */
  private readonly smallOffsets: boolean;
  /**
   * For a random pattern over 2^k slots, k <= 27: 27 - k, else -1. Then the slot
   * rng.int gives, floor(unit x 2^k), is the top k bits of the first draw: unit is
   * ((hi >>> 5) x 2^26 + (lo >>> 6)) / 2^53, and scaling by 2^k is exact, so the floor
   * is (hi >>> 5) >>> (27 - k) (the low draw adds less than one unit of the 27 bits).
   */
  private readonly slotShift: number;
  /**
   * writeRatio x 2^53, exact: unit(hi, lo) < writeRatio exactly when the 53-bit
   * integer behind unit is below it (both sides scaled by the same power of two).
   */
  private readonly writeBelow: number;
  private readonly gapInt: number;
  private readonly gapNum: number;
  private readonly gapDen: number;
  private readonly meanGapNs: number;
  /** Fixed arrivals at an integer rate: arrival times have a closed form (see arrivalsThrough). */
  readonly exactRate: boolean;
  /** PRNG draws (32-bit) per request of a fixed-arrival stream: slot (random) + direction. */
  readonly drawsPerRequest: number;
  /** The IOVA pages the stream can touch: [firstPfn, firstPfn + pageCount). */
  readonly firstPfn: number;
  readonly pageCount: number;
  /** Directions its requests take: 1 read, 2 write, 3 both. */
  readonly directions: number;
  /** Requests to run one by one before the engine tries the closed form again (backoff). */
  closedFormWait = 0;
  /** Outputs of `nextAccess` (no allocation). */
  iovaPfn = 0;
  pageOff = 0;
  write = false;

  constructor(
    readonly id: string,
    params: Required<StreamParams>,
    counters: DmaCounters,
    deviceCounters: DmaCounters,
    streamSlot: number,
    deviceSlot: number,
  ) {
    this.params = params;
    this.counters = counters;
    this.deviceCounters = deviceCounters;
    this.streamSlot = streamSlot;
    this.deviceSlot = deviceSlot;
    this.basePfn = Number(params.iovaBase >> 12n);
    this.baseOff = Number(params.iovaBase & 0xfffn);
    this.slots = Math.floor(params.length / params.accessBytes);
    this.random = params.pattern === 'random';
    this.poisson = params.arrival === 'poisson';
    this.drawWrite = params.writeRatio > 0 && params.writeRatio < 1;
    this.alwaysWrite = params.writeRatio === 1;
    this.accessBytes = params.accessBytes;
    this.smallOffsets = this.baseOff + this.slots * this.accessBytes < 2 ** 31;
    const k = Math.log2(this.slots);
    this.slotShift = this.random && Number.isInteger(k) && 2 ** k === this.slots && k <= 27 ? 27 - k : -1;
    this.writeBelow = params.writeRatio * 2 ** 53;
    const rate = params.ratePerSec;
    this.meanGapNs = NS_PER_SEC / rate;
    this.gapInt = Math.floor(NS_PER_SEC / rate);
    if (Number.isInteger(rate)) {
      this.gapNum = NS_PER_SEC - this.gapInt * rate;
      this.gapDen = rate;
    } else {
      this.gapNum = NS_PER_SEC / rate - this.gapInt;
      this.gapDen = 1;
    }
    this.exactRate = !this.poisson && Number.isInteger(rate);
    // rng.int and rng.next each take two 32-bit draws (util/rng.ts).
    this.drawsPerRequest = (this.random ? 2 : 0) + (this.drawWrite ? 2 : 0);
    this.firstPfn = this.basePfn;
    this.pageCount = Math.ceil((this.baseOff + this.slots * params.accessBytes) / PAGE_BYTES);
    this.directions = this.drawWrite ? 3 : this.alwaysWrite ? 2 : 1;
  }

  get isPoisson(): boolean {
    return this.poisson;
  }

  /**
   * Fixed arrivals at an integer rate R (exactRate): with `acc` the carry after the gap
   * to the arrival at `t0`, arrival k comes at t0 + floor((acc + k x 1e9) / R) and
   * leaves the carry (acc + k x 1e9) mod R (the gaps nextGapNs gives, summed). Returns
   * how many arrivals k >= 0 come at or before `limitNs` (>= t0: at least 1).
   */
  arrivalsThrough(t0: number, limitNs: number): number {
    // A rate dividing 1e9 (gapNum 0) has equal gaps: the same count without bigints.
    if (this.gapNum === 0 && this.exactRate) return Math.floor((limitNs - t0) / this.gapInt) + 1;
    const r = BigInt(this.params.ratePerSec);
    const n = (BigInt(limitNs - t0) * r + r - 1n - BigInt(this.acc)) / BigInt(NS_PER_SEC) + 1n;
    return Number(n);
  }

  /** Time of arrival k (exactRate; see arrivalsThrough). */
  arrivalAt(t0: number, k: number): number {
    if (this.gapNum === 0 && this.exactRate && k * this.gapInt < 2 ** 53) return t0 + k * this.gapInt;
    return t0 + Number((BigInt(this.acc) + BigInt(k) * BigInt(NS_PER_SEC)) / BigInt(this.params.ratePerSec));
  }

  /** Moves the stream past `n` arrivals from t0 (exactRate): carry, cursor; returns the next arrival's time. */
  skipArrivals(t0: number, n: number): number {
    const total = BigInt(this.acc) + BigInt(n) * BigInt(NS_PER_SEC);
    const r = BigInt(this.params.ratePerSec);
    this.acc = Number(total % r);
    if (!this.random) this.cursor = Number((BigInt(this.cursor) + BigInt(n)) % BigInt(this.slots));
    return t0 + Number(total / r);
  }

  /** Whole ns to the next arrival; draws from `rng` only for Poisson arrivals. */
  nextGapNs(rng: SeededRng): number {
    if (this.poisson) {
      this.acc += rng.exponential(this.meanGapNs);
      const step = Math.floor(this.acc);
      this.acc -= step;
      return step;
    }
    this.acc += this.gapNum;
    if (this.acc >= this.gapDen) {
      this.acc -= this.gapDen;
      return this.gapInt + 1;
    }
    return this.gapInt;
  }

  /**
   * Picks the next access into `iovaPfn`, `pageOff`, `write`. Draw order (fixed, so
   * a seed replays): the slot (random pattern), then the direction (only when
   * 0 < writeRatio < 1, so a pure read or pure write stream draws nothing for it).
   */
  nextAccess(rng: SeededRng): void {
    this.placeSlot(this.random ? rng.int(this.slots) : this.nextSequentialSlot());
    this.write = this.drawWrite ? rng.next() < this.params.writeRatio : this.alwaysWrite;
  }

  /** The sequential pattern's next slot, wrapping at the window's end. */
  private nextSequentialSlot(): number {
    const slot = this.cursor;
    this.cursor = slot + 1 === this.slots ? 0 : slot + 1;
    return slot;
  }

  /** Points the stream at `slot`: its 4 KB page and the offset in it. */
  private placeSlot(slot: number): void {
    const t = this.baseOff + slot * this.accessBytes;
    const pageDelta = this.smallOffsets ? t >>> PAGE_SHIFT : Math.floor(t / PAGE_BYTES);
    this.iovaPfn = this.basePfn + pageDelta;
    this.pageOff = t - pageDelta * PAGE_BYTES;
  }

  /**
   * nextAccess from pre-drawn 32-bit values (SeededRng.fill): the same arithmetic as
   * rng.int / rng.next on the same draws. Reads draws[i..] and returns the index after
   * the ones it used (drawsPerRequest of them).
   */
  accessFromDraws(draws: Uint32Array, i: number): number {
    if (this.random) {
      const hi = draws[i] as number;
      this.placeSlot(this.slotShift >= 0 ? (hi >>> 5) >>> this.slotShift : Math.floor(unit(hi, draws[i + 1] as number) * this.slots));
      i += 2;
    } else this.placeSlot(this.nextSequentialSlot());
    if (this.drawWrite) {
      this.write = ((draws[i] as number) >>> 5) * 67108864 + ((draws[i + 1] as number) >>> 6) < this.writeBelow;
      i += 2;
    } else this.write = this.alwaysWrite;
    return i;
  }

  /** Valid ranges of the mutable fields, for state documents. */
  cursorFits(c: StreamCursor): boolean {
    if (!Number.isSafeInteger(c.cursor) || c.cursor < 0 || c.cursor >= this.slots) return false;
    if (typeof c.acc !== 'number' || !(c.acc >= 0) || !(c.acc < (this.poisson ? 1 : this.gapDen))) return false;
    return !(!this.poisson && this.gapDen !== 1 && !Number.isInteger(c.acc));
  }
}
