/**
 * The v1 host page walk (hardware.md §3.2-3.4), modelled on QEMU's fetch_pte: from
 * the DTE root down to a leaf, permissions ANDed along the way (DTE, every PDE,
 * the leaf). A walk failure is a returned IO_PAGE_FAULT, never a throw.
 *
 * Failures it can return (`fault.reason`):
 * - 'dte-invalid'    DTE V=0 or TV=0 (no host translation; QEMU would isolate).
 * - 'bad-mode'       DTE mode 0 (pass-through, not allowed with SNP, §3.4) or 7.
 * - 'beyond-mode'    IOVA above the mode's range: mode m covers bits 12+9m-1:0, mode 6 all 64.
 * - 'not-present'    an entry on the way has PR=0 (an entry outside memory reads as 0).
 * - 'bad-next-level' a PDE whose NextLevel is >= its own level, or that skips levels
 *                    (NL < L-1: defined by the spec, unused by Linux, rejected here, §3.2).
 * - 'bad-leaf-size'  a leaf at level 6, an NL=0 leaf at level 4 (512 GB erratum), or an
 *                    NL=7 size the level does not allow (§3.2 table).
 * - 'permission'     the ANDed IR (reads) or IW (writes) is 0; present and permission set.
 * Table and leaf addresses (and the DTE root) are stripped of the C-bit.
 */
import type { HostMemory } from '../memory/host-memory.js';
import type { DecodedDte } from './dte.js';
import { DTE_MODE_PASS_THROUGH, DTE_MODE_RESERVED } from './dte.js';
import {
  addressMask,
  leafSizeAllowed,
  levelDefaultSizeLg2,
  levelIndex,
  MAX_LEVEL,
  NL_DEFAULT_LEAF,
  NL_SIZED_LEAF,
  PTE_IR,
  PTE_IW,
  PTE_PR,
  pteNextLevel,
  sizedLeafLg2,
  stripCBit,
} from './pte.js';

export const WALK_FAULT_REASONS = [
  'dte-invalid',
  'bad-mode',
  'beyond-mode',
  'not-present',
  'bad-next-level',
  'bad-leaf-size',
  'permission',
] as const;
export type WalkFaultReason = (typeof WALK_FAULT_REASONS)[number];

export const IO_PAGE_FAULT_TYPE = 2;

export interface WalkStep {
  level: number;
  entrySpa: number;
  value: bigint;
}

export interface WalkFault {
  type: typeof IO_PAGE_FAULT_TYPE;
  typeName: 'IO_PAGE_FAULT';
  reason: WalkFaultReason;
  /** The faulting entry was present (PR flag of the event). */
  present: boolean;
  /** A permission failure (PE flag of the event). */
  permission: boolean;
}

export interface WalkResult {
  ok: boolean;
  /** SPA of the IOVA (0 on a fault, except a permission fault: the leaf was found). */
  spa: number;
  /** log2 of the leaf size in bytes (0 on a fault, except a permission fault). */
  sizeLg2: number;
  /** IR / IW ANDed over the DTE and every entry read. */
  read: boolean;
  write: boolean;
  /** Every entry read, top level first. */
  steps: WalkStep[];
  levelsRead: number;
  /** Level of the leaf, or of the entry that faulted (0 for a DTE fault). */
  leafLevel: number;
  /** SPA of the leaf entry, or of the entry that faulted (-1 when none was read). */
  leafEntrySpa: number;
  /** The leaf's page SPA and IOVA base (0 on a fault, except a permission fault). */
  leafSpaBase: number;
  leafIovaBase: bigint;
  fault?: WalkFault;
}

const IOVA_BITS = 64;

export class PageWalker {
  private readonly addrMask: bigint;

  constructor(
    private readonly memory: HostMemory,
    readonly cBit: number | null,
  ) {
    this.addrMask = addressMask(cBit);
  }

  walk(dte: DecodedDte, iova: bigint, write: boolean): WalkResult {
    const result: WalkResult = {
      ok: false,
      spa: 0,
      sizeLg2: 0,
      read: dte.read,
      write: dte.write,
      steps: [],
      levelsRead: 0,
      leafLevel: 0,
      leafEntrySpa: -1,
      leafSpaBase: 0,
      leafIovaBase: 0n,
    };
    if (!dte.valid || !dte.translationValid) return fail(result, 'dte-invalid', false);
    if (dte.mode === DTE_MODE_PASS_THROUGH || dte.mode === DTE_MODE_RESERVED) return fail(result, 'bad-mode', false);
    const rangeBits = dte.mode === MAX_LEVEL ? IOVA_BITS : levelDefaultSizeLg2(dte.mode + 1);
    if (iova >> BigInt(rangeBits) !== 0n) return fail(result, 'beyond-mode', false);

    let tableSpa = stripCBit(dte.root, this.cBit);
    for (let level = dte.mode; level >= 1; level--) {
      const entrySpa = tableSpa + levelIndex(iova, level) * 8;
      const value = this.memory.word(entrySpa);
      result.steps.push({ level, entrySpa, value });
      result.levelsRead++;
      result.leafLevel = level;
      result.leafEntrySpa = entrySpa;
      if ((value & PTE_PR) === 0n) return fail(result, 'not-present', false);
      result.read &&= (value & PTE_IR) !== 0n;
      result.write &&= (value & PTE_IW) !== 0n;
      const nextLevel = pteNextLevel(value);
      const addr = value & this.addrMask;
      if (nextLevel === NL_DEFAULT_LEAF || nextLevel === NL_SIZED_LEAF) {
        const sizeLg2 = nextLevel === NL_DEFAULT_LEAF ? levelDefaultSizeLg2(level) : sizedLeafLg2(addr);
        if (!leafSizeAllowed(level, sizeLg2)) return fail(result, 'bad-leaf-size', true);
        const sizeMask = (1n << BigInt(sizeLg2)) - 1n;
        result.sizeLg2 = sizeLg2;
        result.leafSpaBase = Number(addr & ~sizeMask);
        result.leafIovaBase = iova & ~sizeMask;
        result.spa = result.leafSpaBase + Number(iova & sizeMask);
        if (write ? !result.write : !result.read) return fail(result, 'permission', true, true);
        result.ok = true;
        return result;
      }
      if (nextLevel !== level - 1) return fail(result, 'bad-next-level', true);
      tableSpa = Number(addr);
    }
    // Unreachable: level 1 always ends the loop (NL 1..6 at level 1 is a bad next level).
    return fail(result, 'bad-next-level', true);
  }
}

function fail(result: WalkResult, reason: WalkFaultReason, present: boolean, permission = false): WalkResult {
  result.ok = false;
  result.fault = { type: IO_PAGE_FAULT_TYPE, typeName: 'IO_PAGE_FAULT', reason, present, permission };
  return result;
}
