/**
 * Socket tests: every method DESIGN.md lists, called once through the real server,
 * each result checked against its schema by the server (validateResults).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_NAMES } from '../../src/protocol/methods.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { withAddress, pteAddressField } from '../../src/iommu/pte.js';

let t: AppUnderTest;
const called = new Set<string>();

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

async function call(method: string, params: Record<string, unknown> = {}): Promise<any> {
  called.add(method);
  return (t.client.call as (m: string, p: unknown) => Promise<unknown>)(method, params);
}

describe('every method through the wire (default platform)', () => {
  it('answers the read-only methods', async () => {
    const info = await call('emu.info');
    expect(info.deviceTableSpa).toMatch(/^0x[0-9a-f]+$/);
    expect(info.clockMode).toBe('virtual');
    const doc = await call('rpc.discover');
    expect(doc.methods.map((m: { name: string }) => m.name)).toEqual(expect.arrayContaining(['fw.smashIopde', 'dma.stats']));
    expect((await call('clock.now')).nowNs).toBe(0);
    expect((await call('fw.platformStatus')).status).toBe(0);
    expect((await call('fw.getStallModel')).baseNs).toBe(2_000_000);
    expect((await call('emu.audit')).violations).toEqual([]);
    expect(await call('iommu.events')).toEqual({ events: [], overflow: false });
    expect((await call('iommu.iotlb')).entries).toEqual([]);
    const dte = await call('iommu.readDte', { deviceId: 0x100 });
    expect(dte).toMatchObject({ valid: true, translationValid: true, mode: 3, domainId: 1 });
    const rmp = await call('rmp.read', { spa: '0x100201000' });
    expect(rmp).toMatchObject({ entrySpa: '0x100200000', assigned: true, pageSize: '2M', validated: true, asid: 1, gpa: '0x200000' });
    expect(rmp.raw).toBe('0x4008000000200003');
    const walk = await call('iommu.walk', { deviceId: 0x100, iova: '0x201000' });
    expect(walk).toMatchObject({ ok: true, spa: '0x100201000', sizeLg2: 21, read: true, write: true, fault: null });
  });

  it('drives memory, RMP instructions and the guest', async () => {
    const { spa } = await call('mem.alloc', { pages: 2 });
    await call('mem.write64', { spa, values: ['0xDEADbeef', '0x1'] });
    expect((await call('mem.read64', { spa, count: 3 })).values).toEqual(['0xdeadbeef', '0x1', '0x0']);
    expect(await call('mem.free', { spa, pages: 2 })).toMatchObject({ ok: true });
    expect(await call('rmp.update', { spa: '0x3000', assigned: true, pageSize: '4K', asid: 1, gpa: '0x80000000' })).toEqual({ rc: 0, rcName: 'SUCCESS' });
    expect(await call('rmp.psmash', { spa: '0x1000' })).toEqual({ rc: 1, rcName: 'FAIL_INPUT' });
    expect(await call('guest.pvalidate', { asid: 1, gpa: '0x1000', pageSize: '4K', validate: false })).toEqual({ npf: { errorCode: '0x880000000' } });
    expect(await call('guest.pvalidate', { asid: 1, gpa: '0x0', pageSize: '2M', validate: true })).toMatchObject({ rc: 0, noUpdate: true });
    expect(await call('guest.pvalidate', { asid: 1, gpa: '0x80000000', pageSize: '4K', validate: true })).toEqual({ npf: { errorCode: '0x80000000' } });
  });

  it('drives the IOMMU: DTE, map, walk, command, unmap', async () => {
    const { spa: root } = await call('mem.alloc', { pages: 1 });
    const dte = await call('iommu.setDte', { deviceId: 0x300, root, mode: 3, domainId: 7 });
    expect(dte.qwords[1]).toBe('0x7');
    await call('iommu.map', { domainId: 7, iova: '0x40000000', spa: '0x80000000', length: '0x4000', sizeLg2: 14, read: true, write: false });
    const w = await call('iommu.walk', { deviceId: 0x300, iova: '0x40002000', write: true });
    expect(w).toMatchObject({ ok: false, sizeLg2: 14, fault: { type: 2, typeName: 'IO_PAGE_FAULT', reason: 'permission' } });
    const cmd = await call('iommu.command', { qwords: ['0x8000000000000000', '0x0'] });
    expect(cmd).toMatchObject({ opcode: 8, illegal: false });
    const illegal = await call('iommu.command', { qwords: ['0xf000000000000000', '0x0'] });
    expect(illegal.illegal).toBe(true);
    const ev = await call('iommu.events', { consume: true });
    expect(ev.events.at(-1).typeName).toBe('ILLEGAL_COMMAND_ERROR');
    const un = await call('iommu.unmap', { domainId: 7, iova: '0x40000000', length: '0x1000' });
    expect(un.unmapped).toBe('0x4000');
  });

  it('drives DMA, the clock and the stall model', async () => {
    expect(await call('dma.issue', { deviceId: 0x100, iova: '0x1000', bytes: 64, write: false })).toMatchObject({ outcome: 'ok', latencyNs: 700, spa: '0x100001000' }); // 2 levels read x 100 ns + 500 ns service;
    const { streamId } = await call('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x100000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    expect((await call('clock.advance', { ns: 100_000 })).nowNs).toBeGreaterThanOrEqual(100_000);
    const s = await call('dma.stats', { streamId });
    expect(s.issued).toBe(100);
    expect(await call('dma.stopStream', { streamId })).toMatchObject({ ok: true });
    expect(await call('dma.resetStats')).toMatchObject({ ok: true });
    expect((await call('fw.setStallModel', { jitter: { dist: 'none' } })).jitter).toEqual({ dist: 'none', spreadNs: 500_000 });
    expect((await call('clock.setMode', { mode: 'virtual' })).mode).toBe('virtual');
  });

  it('drives the firmware: bind, smash, unsmash, page unsmash, shutdown, init', async () => {
    expect((await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).statusName).toBe('INVALID_TDI_STATE');
    expect((await call('fw.tdiUnbind', { deviceId: 0x200 })).statusName).toBe('INVALID_TDI_STATE');
    expect((await call('fw.tdiBind', { deviceId: 0x200, asid: 9 })).statusName).toBe('INVALID_ASID');
    const walk = await call('iommu.walk', { deviceId: 0x100, iova: '0x400000' });
    const l2 = walk.steps.find((s: { level: number }) => s.level === 2);
    const { spa: tableSpa } = await call('mem.alloc', { pages: 1 });
    const iopde = BigInt(l2.value);
    const values = Array.from({ length: 512 }, (_, i) => '0x' + withAddress(iopde, pteAddressField(iopde) + i * 4096).toString(16));
    await call('mem.write64', { spa: tableSpa, values });
    const r = await call('fw.smashIopde', { domainId: 1, iova: '0x400000', iopdeSpa: l2.entrySpa, tableSpa });
    expect(r).toMatchObject({ status: 0, statusName: 'SUCCESS', rmpSmashed: true, dmaHeld: 0 });
    expect(r.endNs - r.startNs).toBe(r.stallNs);
    const u = await call('fw.unsmashIopde', { domainId: 1, iova: '0x400000', iopdeSpa: l2.entrySpa });
    const prepared = await call('iommu.prepareSmash', { domainId: 1, iova: '0x600000' });
    expect(prepared).toMatchObject({ domainId: 1, iova: '0x600000', iopde: '0x6000000100600001' });
    const r2 = await call('fw.smashIopde', { domainId: prepared.domainId, iova: prepared.iova, iopdeSpa: prepared.iopdeSpa, tableSpa: prepared.tableSpa });
    expect(r2.status).toBe(0);
    await expect(call('iommu.prepareSmash', { domainId: 1, iova: '0x600000' })).rejects.toMatchObject({ code: -32602 });
    expect(u).toMatchObject({ status: 0, tableSpa });
    expect((await call('rmp.psmash', { spa: '0x100400000' })).rc).toBe(0);
    expect((await call('fw.pageUnsmash', { spa: '0x100400000' })).status).toBe(0);
    expect((await call('fw.shutdown')).status).toBe(0);
    expect((await call('fw.smashIopde', { domainId: 1, iova: '0x400000', iopdeSpa: l2.entrySpa, tableSpa })).statusName).toBe('INVALID_PLATFORM_STATE');
    expect((await call('fw.init')).status).toBe(0);
    expect((await call('fw.init')).statusName).toBe('INVALID_PLATFORM_STATE');
  });

  it('injects faults: status, rpcError, list, remove, clear', async () => {
    const { faultId } = await call('fault.add', { method: 'fw.smashIopde', status: 0x3a });
    const r = await call('fw.smashIopde', { domainId: 1, iova: '0x0', iopdeSpa: '0x0', tableSpa: '0x0' });
    expect(r).toMatchObject({ status: 0x3a, statusName: 'IN_USE' });
    expect((await call('fault.list')).faults).toMatchObject([{ faultId, method: 'fw.smashIopde', hits: 1 }]);
    await call('fault.add', { method: 'clock.now', rpcError: { code: -32050, message: 'injected' } });
    await expect(call('clock.now')).rejects.toMatchObject({ code: -32050 });
    expect(await call('fault.remove', { faultId })).toMatchObject({ ok: true });
    expect((await call('fault.clear')).removed).toBe(1);
  });

  it('subscribes and unsubscribes', async () => {
    const { subscriptionId } = await call('events.subscribe', { topics: ['fw'] });
    expect(await call('events.unsubscribe', { subscriptionId })).toMatchObject({ ok: true });
  });

  it('snapshots, reverts, dumps, loads and resets', async () => {
    const { snapshotId } = await call('emu.snapshot');
    await call('clock.advance', { ns: 5000 });
    const { state } = await call('emu.dumpState');
    await call('emu.revert', { snapshotId });
    const before = (await call('clock.now')).nowNs;
    await call('emu.loadState', { state });
    expect((await call('clock.now')).nowNs).toBe(before + 5000);
    expect(await call('emu.reset')).toMatchObject({ ok: true });
    expect((await call('clock.now')).nowNs).toBe(0);
  });

  it('lists and deletes named platforms', async () => {
    const lab = await t.connect('/platforms/every-method');
    await lab.call('clock.advance', { ns: 7 });
    const { platforms } = await call('emu.platforms');
    expect(platforms.map((p: { name: string }) => p.name)).toEqual(['', 'every-method']);
    expect(platforms[1]).toMatchObject({ connections: 1, nowNs: 7 });
    expect(await call('emu.deletePlatform', { name: 'every-method' })).toEqual({ ok: true, name: 'every-method', closedConnections: 1 });
    expect((await lab.closed).code).toBe(1001);
  });

  it('called every method of the table', () => {
    expect(METHOD_NAMES.filter((m) => !called.has(m))).toEqual([]);
  });
});
