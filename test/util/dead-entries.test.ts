/**
 * Map entries left at a dead value are swept once the deaths since the last sweep
 * outnumber the rest (and 1,024): a client cycling through distinct keys cannot grow
 * a Map without bound, and live entries are never swept.
 */
import { describe, expect, it } from 'vitest';
import { DeadEntries } from '../../src/util/dead-entries.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { PagePool } from '../../src/memory/page-pool.js';

describe('DeadEntries', () => {
  it('keeps a Map of 10 live entries under 1,100 while 100,000 distinct keys live and die, and never drops a live one', () => {
    const map = new Map<number, number>();
    const dead = new DeadEntries<number, number>((n) => n === 0);
    for (let k = 0; k < 10; k++) map.set(-1 - k, 1);
    let largest = 0;
    for (let k = 0; k < 100_000; k++) {
      map.set(k, 1);
      map.set(k, 0);
      dead.died(map);
      largest = Math.max(largest, map.size);
    }
    expect(largest).toBeLessThanOrEqual(10 + 1025);
    for (let k = 0; k < 10; k++) expect(map.get(-1 - k)).toBe(1);
  });

  it('bounds the page pool and host memory when a client allocates, writes and frees pages at ever new addresses', () => {
    const memory = new HostMemory(2 ** 32);
    const pool = new PagePool(memory, 2 ** 31, 2 ** 32);
    const keep: number[] = [];
    for (let i = 0; i < 5000; i++) {
      // Holding one page of every two moves the next allocation to a new address.
      const a = pool.alloc(1);
      memory.write64(a, 1n);
      const b = pool.alloc(1);
      memory.write64(b, 2n);
      keep.push(b);
      pool.release(a, 1);
    }
    const sizes = (x: object, field: string) => (x as unknown as Record<string, Map<unknown, unknown>>)[field]?.size ?? 0;
    expect(pool.allocatedPages()).toBe(5000);
    expect(sizes(pool, 'allocated')).toBeLessThanOrEqual(2 * 5000 + 1025);
    expect(memory.backedPageCount()).toBe(5000);
    expect(sizes(memory, 'pages')).toBeLessThanOrEqual(2 * 5000 + 1025);
    for (const b of keep) expect(memory.word(b)).toBe(2n);
  });
});
