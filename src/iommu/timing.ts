/**
 * The IOMMU's translation timing as DMA sees it (protocol/README.md §8): settings
 * that are not part of the hardware state, every default in one visible block.
 */
export interface TimingOptions {
  /** Translation time of an IOTLB hit (protocol/README.md §8): 50 ns. */
  iotlbHitNs: number;
  /** Translation time per page-table level read on a walk: 100 ns. */
  walkLevelNs: number;
}

export const DEFAULT_TIMING: TimingOptions = {
  iotlbHitNs: 50,
  walkLevelNs: 100,
};
