/**
 * Platform-wide options that are not part of the hardware state, every default in
 * one visible block (STYLE.md rule 8).
 */
export type RmpSizeRule = 'equal' | 'not-larger';

export interface TimingOptions {
  /** Translation time of an IOTLB hit (DESIGN.md "DMA"): 50 ns. */
  iotlbHitNs: number;
  /** Translation time per page-table level read on a walk: 100 ns. */
  walkLevelNs: number;
}

export const DEFAULT_TIMING: TimingOptions = {
  iotlbHitNs: 50,
  walkLevelNs: 100,
};

/**
 * C-bit position masked out of IOMMU table and leaf addresses (hardware.md §3.1,
 * §7 item 12: Linux sets it with PT_FEAT_AMDV1_ENCRYPT_TABLES). 51 on current EPYC
 * parts; null turns masking off.
 */
export const DEFAULT_C_BIT: number | null = 51;
