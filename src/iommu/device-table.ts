/**
 * The device table in host memory (hardware.md §3.4): 65,536 DTEs of 32 bytes
 * (2 MiB) at `baseSpa`, indexed by the 16-bit device ID. It holds no state of
 * its own, so a client writing a DTE through `mem.write64` is seen here at once.
 */
import type { HostMemory } from '../memory/host-memory.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import type { DecodedDte } from './dte.js';
import { decodeDte, dteHasDomain, DTE_BYTES, DTE_QWORDS, DTE_V } from './dte.js';

export const DEVICE_COUNT = 65536;
export const DEVICE_TABLE_BYTES = DEVICE_COUNT * DTE_BYTES;
const DTES_PER_PAGE = PAGE_BYTES / DTE_BYTES;

export interface DomainInfo {
  /** Devices whose valid DTE carries the domain ID, ascending. */
  devices: number[];
  /** Root and mode of the lowest-numbered such device (raw root, C-bit kept). */
  root: number;
  mode: number;
}

export class DeviceTable {
  constructor(
    private readonly memory: HostMemory,
    readonly baseSpa: number,
  ) {
    if (baseSpa % PAGE_BYTES !== 0 || !memory.contains(baseSpa, DEVICE_TABLE_BYTES)) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `device table at ${toHex(baseSpa)} must be 4 KB aligned and inside memory`);
    }
  }

  entrySpa(deviceId: number): number {
    checkDeviceId(deviceId);
    return this.baseSpa + deviceId * DTE_BYTES;
  }

  read(deviceId: number): bigint[] {
    const spa = this.entrySpa(deviceId);
    const out = new Array<bigint>(DTE_QWORDS);
    for (let i = 0; i < DTE_QWORDS; i++) out[i] = this.memory.word(spa + i * 8);
    return out;
  }

  decode(deviceId: number): DecodedDte {
    return decodeDte(this.read(deviceId));
  }

  /** Writes 1 to 4 qwords; the missing ones become 0. */
  write(deviceId: number, qwords: readonly bigint[]): void {
    if (qwords.length < 1 || qwords.length > DTE_QWORDS) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `a DTE is 1 to 4 qwords, got ${qwords.length}`, { field: 'qwords' });
    }
    const spa = this.entrySpa(deviceId);
    for (let i = 0; i < DTE_QWORDS; i++) this.memory.setWord(spa + i * 8, qwords[i] ?? 0n);
  }

  /** Devices whose DTE has V=1, ascending; only backed pages of the table are looked at. */
  validDevices(): number[] {
    const out: number[] = [];
    this.forEachBackedDte((deviceId, q0) => {
      if ((q0 & DTE_V) !== 0n) out.push(deviceId);
    });
    return out;
  }

  /** Domain ID -> its devices, root and mode, over DTEs with V=1 and TV=1. */
  domains(): Map<number, DomainInfo> {
    const out = new Map<number, DomainInfo>();
    this.forEachBackedDte((deviceId, q0) => {
      if ((q0 & DTE_V) === 0n) return;
      const dte = this.decode(deviceId);
      if (!dteHasDomain(dte)) return;
      const known = out.get(dte.domainId);
      if (known === undefined) out.set(dte.domainId, { devices: [deviceId], root: dte.root, mode: dte.mode });
      else known.devices.push(deviceId);
    });
    return out;
  }

  private forEachBackedDte(visit: (deviceId: number, q0: bigint) => void): void {
    const firstPfn = this.baseSpa / PAGE_BYTES;
    for (let p = 0; p < DEVICE_TABLE_BYTES / PAGE_BYTES; p++) {
      if (!this.memory.isPageBacked(firstPfn + p)) continue;
      for (let i = 0; i < DTES_PER_PAGE; i++) {
        const deviceId = p * DTES_PER_PAGE + i;
        visit(deviceId, this.memory.word(this.baseSpa + deviceId * DTE_BYTES));
      }
    }
  }
}

export function checkDeviceId(deviceId: number): void {
  if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId >= DEVICE_COUNT) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `deviceId must be an integer 0..0xffff, got ${String(deviceId)}`, { field: 'deviceId' });
  }
}
