import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { findIopde } from '../helpers/smash.js';

const TEE_DEV = 0x0100;

describe('emu.audit', () => {
  it('finds nothing on the default platform', () => {
    expect(createPlatform().audit()).toEqual({ violations: [], clean: true });
  });

  it('reports a TEE-IO 2 MB leaf over a region PSMASHed to 4 KB (leaf-size-mismatch)', () => {
    const p = createPlatform();
    expect(p.rmpPsmash(0x1_0040_0000).rc).toBe(0);
    const v = p.audit().violations;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ kind: 'leaf-size-mismatch', domainId: 1, iova: 0x40_0000n, spa: 0x1_0040_0000n, leafSizeLg2: 21, rmpSizeLg2: 12 });
  });

  it('under rule not-larger accepts a 4 KB leaf over a 2 MB RMP entry but not the reverse', async () => {
    const { DEFAULT_SCENARIO } = await import('../../src/platform/scenario.js');
    const p = createPlatform({
      ...DEFAULT_SCENARIO,
      rmpSizeRule: 'not-larger',
      devices: [{ ...DEFAULT_SCENARIO.devices[0]!, mappings: [{ iova: 0n, spa: 0x1_0000_0000, length: 2 * 2 ** 20, sizeLg2: 12, read: true, write: true, fc: false }] }],
    });
    expect(p.audit().violations).toEqual([]);
    const q = createPlatform({
      ...DEFAULT_SCENARIO,
      rmpSizeRule: 'equal',
      devices: [{ ...DEFAULT_SCENARIO.devices[0]!, mappings: [{ iova: 0n, spa: 0x1_0000_0000, length: 2 * 2 ** 20, sizeLg2: 12, read: true, write: true, fc: false }] }],
    });
    expect(q.audit().violations.length).toBe(512);
  });

  it('reports an untrusted leaf larger than 4 KB covering an assigned page (untrusted-large-leaf)', () => {
    const p = createPlatform();
    p.iommuMap({ domainId: 2, iova: 0x1000_0000n, spa: 0x1_0000_0000, length: 2 ** 21, sizeLg2: 21, read: true, write: false });
    expect(p.audit().violations).toEqual([expect.objectContaining({ kind: 'untrusted-large-leaf', domainId: 2, iova: 0x1000_0000n, leafSizeLg2: 21 })]);
  });

  it('reports a cached translation that differs from a fresh walk (stale-iotlb)', async () => {
    const p = createPlatform();
    await p.dmaIssue({ deviceId: TEE_DEV, iova: 0x20_0000n, bytes: 8, write: false });
    const { iopdeSpa, iopde } = findIopde(p, TEE_DEV, 0x20_0000n);
    // Point the 2 MB leaf elsewhere without invalidating, as a buggy VMM would.
    p.memWrite64(iopdeSpa, [iopde + 0x20_0000n]);
    const v = p.audit().violations.filter((x) => x.kind === 'stale-iotlb');
    expect(v).toEqual([expect.objectContaining({ kind: 'stale-iotlb', domainId: 1, iova: 0x20_0000n, cached: expect.objectContaining({ spa: 0x1_0020_0000n }), fresh: expect.objectContaining({ spa: 0x1_0040_0000n }) })]);
  });

  it('reports a live page-table page that is assigned in the RMP', () => {
    const p = createPlatform();
    const { iopdeSpa } = findIopde(p, TEE_DEV, 0n);
    const tablePage = Math.floor(iopdeSpa / 4096) * 4096;
    expect(p.rmpUpdate(tablePage, { assigned: true, pageSize: '4K', asid: 0, gpa: 0, immutable: true }).rc).toBe(0);
    expect(p.audit().violations).toEqual([{ kind: 'table-page-not-hypervisor-owned', spa: BigInt(tablePage), level: 2 }]);
  });

  it('reports broken internal invariants', () => {
    const p = createPlatform();
    p.m.firmware.bindings.set(0x300, 99);
    expect(p.audit().violations).toEqual([expect.objectContaining({ kind: 'invariant', deviceId: 0x300, asid: 99 })]);
  });
});
