/**
 * Page-table builders for IOMMU tests: a small platform (host memory + page pool)
 * and a hand builder that writes v1 entries along one IOVA's path, so the walker
 * and the IOTLB are tested without the mapper.
 */
import { HostMemory } from '../../src/memory/host-memory.js';
import { PagePool } from '../../src/memory/page-pool.js';
import { encodeDte } from '../../src/iommu/dte.js';
import { encodeLeaf, encodeTablePointer } from '../../src/iommu/pte.js';
import { specLevelIndex as levelIndex, specPte } from './spec.js';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;
/** Page tables and the device table come from [256 MiB, 1 GiB); data pages sit above. */
export const POOL_BASE = 256 * MiB;
export const POOL_END = GiB;

export function makeHost(memoryBytes = 64 * GiB): { memory: HostMemory; pool: PagePool } {
  const memory = new HostMemory(memoryBytes);
  const pool = new PagePool(memory, POOL_BASE, POOL_END);
  return { memory, pool };
}

/** Writes tables by hand: `setEntry` allocates the path down to a level and stores a raw value there. */
export class TableBuilder {
  readonly root: number;

  constructor(
    readonly memory: HostMemory,
    readonly pool: PagePool,
    readonly mode = 3,
  ) {
    this.root = pool.alloc(1);
  }

  /** SPA of the level-`level` entry for `iova`, creating missing tables above it. */
  slot(iova: bigint, level: number): number {
    let table = this.root;
    for (let l = this.mode; l > level; l--) {
      const spa = table + levelIndex(iova, l) * 8;
      let value = this.memory.word(spa);
      if ((value & 1n) === 0n) {
        value = encodeTablePointer(this.pool.alloc(1), l - 1);
        this.memory.setWord(spa, value);
      }
      table = specPte(value, l).table as number;
    }
    return table + levelIndex(iova, level) * 8;
  }

  setEntry(iova: bigint, level: number, value: bigint): number {
    const spa = this.slot(iova, level);
    this.memory.setWord(spa, value);
    return spa;
  }

  /** A leaf as the emulator writes it; NL=7 leaves go into every slot they cover. */
  leaf(iova: bigint, level: number, pa: number, sizeLg2: number, read = true, write = true, fc = false): number {
    const value = encodeLeaf({ pa, sizeLg2, level, read, write, fc });
    const replicas = 2 ** (sizeLg2 - (12 + 9 * (level - 1)));
    const stride = 1n << BigInt(12 + 9 * (level - 1));
    const first = this.setEntry(iova, level, value);
    for (let r = 1; r < replicas; r++) this.setEntry(iova + BigInt(r) * stride, level, value);
    return first;
  }

  dte(domainId: number, opts: { read?: boolean; write?: boolean; mode?: number; root?: number } = {}): bigint[] {
    return encodeDte({
      valid: true,
      translationValid: true,
      mode: opts.mode ?? this.mode,
      root: opts.root ?? this.root,
      read: opts.read ?? true,
      write: opts.write ?? true,
      domainId,
    });
  }
}
