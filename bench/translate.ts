/**
 * Translation (README.md "Performance"), in process on the default platform, through the DMA hot
 * path `iommu.translatePage` with one reusable Translation record:
 * - hits: the same 256 pages of the TEE-IO device (2 MB leaves), cached in the IOTLB;
 * - walks: every 4 KB page of its 1 GiB once after `iotlb.invalidateAll()`, so each
 *   one walks the tables (and fills the IOTLB, as DMA would);
 * - 4 KB walks: the same on the untrusted device's 64 MiB of 4 KB leaves (one level deeper).
 * Each against a bare loop of the same number of `Map.get` over the same page numbers.
 */
import { createPlatform } from '../src/platform/platform.js';
import { newTranslation } from '../src/iommu/iommu.js';
import { nowMs, perSec, sink } from './util.js';

const TEE_DEV = 0x0100;
const UNTRUSTED_DEV = 0x0200;
const HIT_PAGES = 256;

export interface TranslateResult {
  hitPerSec: number;
  hitRatio: number;
  walkPerSec: number;
  walkRatio: number;
  walk4kPerSec: number;
  walk4kRatio: number;
}

/** `n` lookups cycling through `keys` in a Map holding them; ms. */
function mapLoop(keys: readonly number[], n: number): number {
  const m = new Map<number, { pfn: number }>();
  for (const k of keys) m.set(k, { pfn: k * 3 });
  let acc = 0;
  const t0 = nowMs();
  for (let i = 0, j = 0; i < n; i++) {
    acc += (m.get(keys[j] as number) as { pfn: number }).pfn;
    if (++j === keys.length) j = 0;
  }
  const ms = nowMs() - t0;
  sink.value += acc;
  return ms;
}

/** `n` translations cycling through `pfns`; `invalidate` empties the IOTLB at each pass. */
function translateLoop(p: ReturnType<typeof createPlatform>, deviceId: number, pfns: readonly number[], n: number, invalidate: boolean): number {
  const iommu = p.m.iommu;
  const out = newTranslation();
  let acc = 0;
  let walks = 0;
  const t0 = nowMs();
  for (let i = 0, j = 0; i < n; i++) {
    if (j === 0 && invalidate) iommu.iotlb.invalidateAll();
    iommu.translatePage(deviceId, pfns[j] as number, false, out);
    if (!out.ok) throw new Error(`translation of page ${pfns[j]} failed: ${out.reason}`);
    acc += out.spaPfn;
    if (!out.hit) walks++;
    if (++j === pfns.length) j = 0;
  }
  const ms = nowMs() - t0;
  if (walks !== (invalidate ? n : 0)) throw new Error(`expected ${invalidate ? n : 0} walks, saw ${walks}`);
  sink.value += acc;
  return ms;
}

/** Best of `reps` (the first pass also warms the JIT), translations against Map lookups. */
function pair(p: ReturnType<typeof createPlatform>, deviceId: number, pfns: readonly number[], n: number, invalidate: boolean, reps: number) {
  let tMs = Infinity;
  let mMs = Infinity;
  for (let r = 0; r < reps; r++) {
    tMs = Math.min(tMs, translateLoop(p, deviceId, pfns, n, invalidate));
    mMs = Math.min(mMs, mapLoop(pfns, n));
  }
  const rate = perSec(n, tMs);
  return { rate, ratio: rate / perSec(n, mMs) };
}

/** `size` scales the counts (1 = the full run). */
export function translate(size = 1): TranslateResult {
  const p = createPlatform();
  // Hits: 256 pages spread over the 1 GiB mapping (one per 4 MiB), primed into the IOTLB.
  const hitPfns = Array.from({ length: HIT_PAGES }, (_, i) => i * 1024);
  p.m.iommu.iotlb.invalidateAll();
  const out = newTranslation();
  for (const pfn of hitPfns) p.m.iommu.translatePage(TEE_DEV, pfn, false, out);
  const hits = pair(p, TEE_DEV, hitPfns, Math.max(HIT_PAGES, Math.round(5_000_000 * size)), false, 3);

  const pages2m = Math.max(512, Math.round(262_144 * Math.min(size, 1)));
  const walkPfns = Array.from({ length: pages2m }, (_, i) => i);
  const walks = pair(p, TEE_DEV, walkPfns, pages2m * 2, true, 3);

  const pages4k = Math.max(512, Math.round(16_384 * Math.min(size, 1)));
  const walk4kPfns = Array.from({ length: pages4k }, (_, i) => i);
  const walks4k = pair(p, UNTRUSTED_DEV, walk4kPfns, pages4k * 8, true, 3);
  p.dispose();
  return {
    hitPerSec: hits.rate,
    hitRatio: hits.ratio,
    walkPerSec: walks.rate,
    walkRatio: walks.ratio,
    walk4kPerSec: walks4k.rate,
    walk4kRatio: walks4k.ratio,
  };
}
