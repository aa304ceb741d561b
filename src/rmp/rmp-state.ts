/**
 * The RMP state document: what RmpTable.getState() returns and setState() accepts.
 * It lists runs of equal entries rather than pages, so that a 1 TiB guest of 2 MB
 * pages is one record. The codec sees the table only through the two callbacks below
 * (RmpTable passes its private storage methods), so RmpTable's public API gains nothing
 * and the table's storage flags stay private to rmp-table.ts.
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import { isValidRmpAsid, isValidRmpGpa, RMP_GPA_LIMIT, type RmpEntryScratch, type RmpPageSize } from './rmp-entry.js';

const PAGE_BYTES = 4096;
const REGION_BYTES = 512 * PAGE_BYTES;

/**
 * One run of equal entries in a state document. 2 MB runs step the GPA by 2 MB when
 * assigned (an unassigned entry has every field zero); 4 KB runs are always assigned
 * (unassigned 4 KB is the default and is not listed) and step the GPA by 4 KB.
 */
export interface RmpStateRecord {
  spa: number;
  pageSize: RmpPageSize;
  count: number;
  assigned: boolean;
  immutable: boolean;
  validated: boolean;
  vmsa: boolean;
  asid: number;
  /** GPA of the first entry of the run. */
  gpa: number;
}

/** Ascending, non-overlapping runs of the non-default entries. */
export interface RmpState {
  sizeBytes: number;
  entries: RmpStateRecord[];
  /** Hypervisor-Fixed 4 KB pages (Assigned 0, Immutable 1), as page numbers; absent when none. */
  fixed?: number[];
}

/**
 * Calls visit, ascending by SPA, for every 2 MB entry (assigned or not) and every
 * assigned 4 KB entry; `e` is reused between calls, so visit must copy what it keeps.
 */
export type RmpStoredEntries = (visit: (spa: number, pageSize: RmpPageSize, e: RmpEntryScratch) => void) => void;

/** Writes the `count` entries of one already validated run into an empty table. */
export type RmpStoreRun = (run: RmpStateRecord) => void;

const RECORD_KEYS = ['spa', 'pageSize', 'count', 'assigned', 'immutable', 'validated', 'vmsa', 'asid', 'gpa'];

function badDocument(message: string, path?: string): EmuError {
  return new EmuError(ERROR_CODES.BAD_DOCUMENT, `RMP state: ${message}`, path === undefined ? undefined : { path });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collapses the stored entries into runs (see RmpStateRecord). */
export function encodeRmpState(sizeBytes: number, forEachEntry: RmpStoredEntries): RmpState {
  const entries: RmpStateRecord[] = [];
  let last: RmpStateRecord | undefined;
  forEachEntry((spa, pageSize, e) => {
    const size = pageSize === '2M' ? REGION_BYTES : PAGE_BYTES;
    const { assigned, immutable, validated, vmsa, asid } = e;
    const gpa = e.gpaPfn * PAGE_BYTES;
    if (
      last !== undefined &&
      last.pageSize === pageSize &&
      last.spa + last.count * size === spa &&
      last.assigned === assigned &&
      last.immutable === immutable &&
      last.validated === validated &&
      last.vmsa === vmsa &&
      last.asid === asid &&
      last.gpa + (assigned ? last.count * size : 0) === gpa
    ) {
      last.count++;
      return;
    }
    last = { spa, pageSize, count: 1, assigned, immutable, validated, vmsa, asid, gpa };
    entries.push(last);
  });
  return { sizeBytes, entries };
}

/**
 * Validates `state` record by record and hands each run to storeRun as soon as it
 * passes; throws BAD_DOCUMENT at the first error. storeRun must therefore write into a
 * fresh table that is discarded on error (RmpTable.setState does), so a bad document
 * never leaves a half-loaded table behind.
 */
export function decodeRmpState(state: unknown, sizeBytes: number, storeRun: RmpStoreRun): void {
  if (!isRecord(state)) throw badDocument('must be an object {sizeBytes, entries}');
  for (const key of Object.keys(state)) if (key !== 'sizeBytes' && key !== 'entries') throw badDocument(`unknown key "${key}"`, key);
  if (state.sizeBytes !== sizeBytes) {
    throw badDocument(`sizeBytes ${String(state.sizeBytes)} does not match this platform's memory size ${sizeBytes}`, 'sizeBytes');
  }
  const list = state.entries;
  if (!Array.isArray(list)) throw badDocument('entries must be an array', 'entries');
  let end = 0;
  for (let n = 0; n < list.length; n++) {
    const path = `entries[${n}]`;
    const rec: unknown = list[n];
    if (!isRecord(rec)) throw badDocument(`${path} must be an object`, path);
    for (const key of Object.keys(rec)) if (!RECORD_KEYS.includes(key)) throw badDocument(`${path} has unknown key "${key}"`, `${path}.${key}`);
    const { spa, pageSize, count, assigned, immutable, validated, vmsa, asid, gpa } = rec;
    if (pageSize !== '4K' && pageSize !== '2M') throw badDocument(`${path}.pageSize must be "4K" or "2M"`, `${path}.pageSize`);
    const size = pageSize === '2M' ? REGION_BYTES : PAGE_BYTES;
    for (const [name, value] of Object.entries({ assigned, immutable, validated, vmsa })) {
      if (typeof value !== 'boolean') throw badDocument(`${path}.${name} must be a boolean`, `${path}.${name}`);
    }
    if (typeof spa !== 'number' || !Number.isSafeInteger(spa) || spa < 0 || spa % size !== 0) {
      throw badDocument(`${path}.spa must be a ${pageSize}-aligned address`, `${path}.spa`);
    }
    if (spa < end) throw badDocument(`${path}.spa ${toHex(spa)} overlaps or precedes the previous entry (entries must ascend)`, `${path}.spa`);
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || spa + count * size > sizeBytes) {
      throw badDocument(`${path}.count must be a positive integer keeping the run inside memory (${toHex(sizeBytes)} bytes)`, `${path}.count`);
    }
    if (typeof asid !== 'number' || !isValidRmpAsid(asid)) throw badDocument(`${path}.asid must be an integer 0..1023`, `${path}.asid`);
    if (typeof gpa !== 'number' || !isValidRmpGpa(gpa) || gpa % size !== 0) {
      throw badDocument(`${path}.gpa must be a ${pageSize}-aligned address below 2^51`, `${path}.gpa`);
    }
    if (assigned !== true) {
      if (pageSize === '4K') throw badDocument(`${path}: unassigned 4 KB entries are the default and must not be listed`, path);
      if (immutable || validated || vmsa || asid !== 0 || gpa !== 0) {
        throw badDocument(`${path}: an unassigned entry has immutable/validated/vmsa false and asid/gpa 0`, path);
      }
    } else if (gpa + count * size > RMP_GPA_LIMIT) {
      throw badDocument(`${path}: the run's last GPA passes 2^51`, `${path}.gpa`);
    }
    end = spa + count * size;
    // The booleans were checked above; the casts only narrow what TypeScript cannot see through Object.entries.
    storeRun({
      spa,
      pageSize,
      count,
      asid,
      gpa,
      assigned: assigned as boolean,
      immutable: immutable as boolean,
      validated: validated as boolean,
      vmsa: vmsa as boolean,
    });
  }
}
