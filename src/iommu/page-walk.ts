/**
 * The record of one fast walk (what `PageWalker.walkPfn` fills and the walk memo,
 * walk-cache.ts, replays) and the fault reasons a walk can end with (hardware.md
 * §2.2 for the table format). Plain numbers only: the DMA hot path reuses one
 * record per stream.
 */

export const WALK_FAULT_REASONS = ['dte-invalid', 'bad-mode', 'beyond-mode', 'not-present', 'bad-next-level', 'bad-leaf-size', 'permission'] as const;
export type WalkFaultReason = (typeof WALK_FAULT_REASONS)[number];

/** What `walkPfn` fills: plain numbers only (page numbers, not byte addresses). */
export interface PageWalk {
  /** null when the walk succeeded. */
  fault: WalkFaultReason | null;
  present: boolean;
  permission: boolean;
  read: boolean;
  write: boolean;
  levelsRead: number;
  leafLevel: number;
  leafEntrySpa: number;
  /** 0 unless a leaf was found (ok or a permission fault). */
  sizeLg2: number;
  spaPfn: number;
  leafSpaBasePfn: number;
  leafIovaBasePfn: number;
}

export function newPageWalk(): PageWalk {
  return { fault: null, present: false, permission: false, read: false, write: false, levelsRead: 0, leafLevel: 0, leafEntrySpa: -1, sizeLg2: 0, spaPfn: 0, leafSpaBasePfn: 0, leafIovaBasePfn: 0 };
}
