/**
 * Golden vectors: test/vectors is an identical copy of ../shared/vectors (.ci/run
 * checks it). Tests read them through here so every suite uses the same values.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface VectorFile<V> {
  generatedBy: string;
  conventions: string;
  vectors: V[];
}

export function loadVectors<V = Record<string, unknown>>(name: 'iommu-commands' | 'iommu-dte' | 'iommu-events' | 'iommu-pte' | 'rmp-raw' | 'tmpm'): VectorFile<V> & { tables?: Record<string, Record<string, number>> } {
  const url = new URL(`../vectors/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(url), 'utf8')) as VectorFile<V>;
}
