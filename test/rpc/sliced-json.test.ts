/**
 * toJsonSliced writes what JSON.stringify (after toWire) writes, yielding between
 * the items of a state document's large parts: counted with slices of 0 ms (a yield
 * wherever one may come), no wall clock involved.
 */
import { describe, it, expect } from 'vitest';
import { toJsonSliced } from '../../src/rpc/sliced-json.js';
import { toWire } from '../../src/rpc/to-wire.js';

async function written(value: unknown): Promise<{ text: string; yields: number }> {
  let yields = 0;
  const r = await toJsonSliced(value, async () => void yields++, 0);
  return { text: r.text, yields };
}

describe('toJsonSliced', () => {
  it("yields between the IOTLB entries of a dump ({state: {iommu: {iotlb: {entries}}}}), and writes JSON.stringify's text", async () => {
    const entries = Array.from({ length: 5000 }, (_, i) => ({ domainId: 1, iovaPfn: i, leafIovaBasePfn: i, leafSizeLg2: 12, leafSpaBasePfn: 0x10_0000 + i, read: true, write: i % 2 === 0, levelsRead: 4 }));
    const dump = { state: { format: 'smash-emu-state', iommu: { iotlb: { entries }, eventLog: { head: 0n }, dteCache: [] }, memory: { pages: [[1, [[0, '0x1']]]] }, skipped: undefined } };
    const { text, yields } = await written(dump);
    expect(text).toBe(JSON.stringify(toWire(dump)));
    expect(yields).toBeGreaterThanOrEqual(entries.length);
  });

  it("keeps JSON.stringify's rules: undefined keys left out, undefined items as null, toJSON, bigints as hex", async () => {
    const value = {
      a: Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? undefined : { n: BigInt(i), d: new Date(0) })),
      b: undefined,
      c: [1n, null],
      d: Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? JSON.parse('{"__proto__":1,"a":2}') : { toJSON: () => i, n: NaN })),
    };
    const { text } = await written(value);
    expect(text).toBe(JSON.stringify(toWire(value)));
  });
});
