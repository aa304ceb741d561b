/**
 * Socket tests: every method of protocol/README.md §14, called once through the real
 * server, each result checked against its schema by the server (validateResults).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHOD_NAMES } from '../../src/protocol/methods.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

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
    expect(doc.methods.map((m: { name: string }) => m.name)).toEqual(expect.arrayContaining(['tmpm.psmashIo', 'dma.stats']));
    expect((await call('clock.now')).nowNs).toBe(0);
    expect((await call('fw.platformStatus')).status).toBe(0);
    expect((await call('tmpm.getStallModel')).baseNs).toBe(2_000_000);
    expect((await call('tmpm.readReg', { offset: 0x1c })).value).toBe(3);
    expect((await call('tmpm.regs')).engine).toMatchObject({ initialised: true, ringEntries: 256 });
    expect(await call('tmpm.getCapabilities')).toMatchObject({ status: 0xf0, statusName: 'SUCCESS', fwVersion: '1.0', specVersion: '0.51', psmash: true, punsmash: true });
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
    expect((await call('tmpm.setStallModel', { jitter: { dist: 'none' } })).jitter).toEqual({ dist: 'none', spreadNs: 500_000 });
    expect((await call('clock.setMode', { mode: 'virtual' })).mode).toBe('virtual');
  });

  it('drives the firmware and the TMPM: bind, psmash, punsmash, page unsmash, shutdown, init, registers, submit', async () => {
    expect((await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).statusName).toBe('INVALID_TDI_STATE');
    expect((await call('fw.tdiUnbind', { deviceId: 0x200 })).statusName).toBe('INVALID_TDI_STATE');
    expect((await call('fw.tdiBind', { deviceId: 0x200, asid: 9 })).statusName).toBe('INVALID_ASID');
    const prepared = await call('tmpm.preparePsmash', { domainId: 1, iova: '0x400000' });
    expect(prepared).toMatchObject({ srcPgSpa: '0x100400000', entry: '0x6000000100400001', asid: 1 });
    const args = { srcPgSpa: prepared.srcPgSpa, smashHpteSpa: prepared.smashHpteSpa, srcHpmdSpa: prepared.srcHpmdSpa, gctxSpa: prepared.gctxSpa };
    const r = await call('tmpm.psmashIo', args);
    expect(r).toMatchObject({ status: 0xf0, statusName: 'SUCCESS', rmpSmashed: true, dmaHeld: 0, pteError: 0 });
    expect(r.endNs - r.startNs).toBe(r.stallNs);
    const walk = await call('iommu.walk', { deviceId: 0x100, iova: '0x401000' });
    expect(walk).toMatchObject({ ok: true, sizeLg2: 12, spa: '0x100401000' });
    const u = await call('tmpm.punsmashIo', { srcPgSpa: args.srcPgSpa, srcHpmdSpa: args.srcHpmdSpa, gctxSpa: args.gctxSpa });
    expect(u).toMatchObject({ status: 0xf0, rmpMerged: true, hpteSpa: prepared.smashHpteSpa });
    await expect(call('tmpm.preparePsmash', { domainId: 1, iova: '0x401000' })).rejects.toMatchObject({ code: -32602 });
    await expect(call('tmpm.preparePsmash', { domainId: 77, iova: '0x400000' })).rejects.toMatchObject({ code: -32001 });
    expect((await call('rmp.psmash', { spa: '0x100400000' })).rc).toBe(0);
    expect((await call('fw.pageUnsmash', { spa: '0x100400000' })).status).toBe(0);
    expect((await call('fw.shutdown')).status).toBe(0);
    expect((await call('tmpm.psmashIo', args)).statusName).toBe('INVALID_PLATFORM_STATE');
    expect((await call('fw.init')).status).toBe(0);
    expect((await call('fw.init')).statusName).toBe('INVALID_PLATFORM_STATE');
    // fw.shutdown disconnected device 01:00.0 with FORCE (unbinding its TDI): connect and bind it again.
    expect(await call('tio.connect', { deviceId: 0x100 })).toMatchObject({ status: 0, statusName: 'SUCCESS', deviceId: 0x100 });
    expect((await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).status).toBe(0);
    expect(await call('tmpm.writeReg', { offset: 0x18, value: 0xffffffff })).toMatchObject({ ok: true });
    expect((await call('tmpm.readReg', { offset: 0x18 })).value).toBe(0xffffffff);
    await expect(call('tmpm.writeReg', { offset: 0x1c, value: 0 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('tmpm.readReg', { offset: 0x20 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('tmpm.writeReg', { offset: 0x18, value: 2 ** 32 })).rejects.toMatchObject({ code: -32602 });
    const noop = await call('tmpm.submit', { command: 1, listSpa: '0x0' });
    expect(noop).toMatchObject({ status: 0xf0, statusName: 'SUCCESS', commandName: 'NOOP' });
    expect((await call('tmpm.submit', { command: 0x33, listSpa: '0x0' })).statusName).toBe('INVALID_COMMAND');
  });

  it('injects faults: status, rpcError, list, remove, clear', async () => {
    const { faultId } = await call('fault.add', { method: 'fw.pageUnsmash', status: 0x3a });
    const r = await call('fw.pageUnsmash', { spa: '0x0' });
    expect(r).toMatchObject({ status: 0x3a, statusName: 'IN_USE' });
    expect((await call('fault.list')).faults).toMatchObject([{ faultId, method: 'fw.pageUnsmash', hits: 1 }]);
    await call('fault.add', { method: 'clock.now', rpcError: { code: -32050, message: 'injected' } });
    await expect(call('clock.now')).rejects.toMatchObject({ code: -32050 });
    expect(await call('fault.remove', { faultId })).toMatchObject({ ok: true });
    expect((await call('fault.clear')).removed).toBe(1);
  });

  it('drives the PSP mailbox, a device DOE mailbox and the TIO conveniences', async () => {
    expect(await call('psp.readReg', { offset: 0x109fc })).toEqual({ offset: 0x109fc, value: 1 });
    await expect(call('psp.readReg', { offset: 0x10544 })).rejects.toMatchObject({ code: -32602 });
    expect(await call('psp.writeReg', { offset: 0x10980, value: 0x840001 })).toEqual({ ok: true });
    await call('clock.advance', { ns: 10_000 });
    expect((await call('psp.readReg', { offset: 0x10980 })).value).toBe(0x80840000);
    expect((await call('psp.regs')).CMDRESP).toMatchObject({ command: 0x84, status: 0, resp: true });
    expect(await call('pci.doe', { deviceId: 0x200, feature: 'cma', request: '10840000' })).toEqual({ response: '1004000000010012' });
    await expect(call('pci.doe', { deviceId: 0x300, feature: 'cma', request: '10840000' })).rejects.toMatchObject({ code: -32602 });
    const connected = await call('tio.connect', { deviceId: 0x200 });
    expect(connected).toMatchObject({ status: 0, deviceId: 0x200, certificateBytes: 1452 });
    expect(connected.steps).toBeGreaterThan(10);
    expect(await call('tio.disconnect', { deviceId: 0x200 })).toMatchObject({ status: 0, steps: 1, forced: false, reclaimStatus: 'SUCCESS' });
    expect(await call('tio.fenceStatus', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0, dmaFence: 0, fenced: false });
    expect(await call('tio.fenceClear', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0, fenced: false });
    expect((await call('tio.fenceStatus', { deviceId: 0x200, asid: 1 })).statusName).toBe('INVALID_DEV_CTX');
    const { spa } = await call('mem.alloc', { pages: 1 });
    expect((await call('rmp.update', { spa, assigned: true, pageSize: '4K', asid: 0, immutable: true })).rc).toBe(0);
    expect(await call('fw.pageReclaim', { spa })).toMatchObject({ status: 0 });
    expect(await call('rmp.read', { spa })).toMatchObject({ assigned: true, immutable: false });
  });

  it('records a trace and reads the full histogram and the timeline', async () => {
    expect(await call('trace.start', { topics: ['dma', 'iommu'], maxEvents: 10 })).toMatchObject({ ok: true, topics: ['dma', 'iommu'], maxEvents: 10 });
    const issued = await call('dma.issue', { deviceId: 0x100, iova: '0x1000', bytes: 64, write: false });
    await call('clock.advance', { ns: 20_000 });
    expect(await call('trace.stop')).toMatchObject({ ok: true, events: 0, dropped: 0 });
    const exported = await call('trace.export', { format: 'perfetto-json' });
    expect(exported).toMatchObject({ format: 'perfetto-json', recording: false, events: 0 });
    const hist = await call('dma.histogram', { deviceId: 0x100 });
    expect(hist.buckets.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(hist.count);
    expect(hist.maxNs).toBeGreaterThanOrEqual(issued.latencyNs);
    const tl = await call('dma.timeline', { binNs: 10_000, deviceId: 0x100 });
    expect(tl.issued.reduce((a: number, b: number) => a + b, 0)).toBe(1);
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

  it('journals the calls, and refuses emu.record on a server without --record-dir', async () => {
    const { lastSeq } = await call('journal.find', { max: 1 });
    await call('clock.advance', { ns: 1000 });
    const found = await call('journal.find', { since: lastSeq });
    expect(found.entries).toMatchObject([{ seq: lastSeq + 1, method: 'clock.advance', params: { ns: 1000 }, ok: true }]);
    expect(await call('journal.count', { method: 'clock.advance', params: { ns: 1000 }, since: lastSeq })).toEqual({ count: 1, lastSeq: lastSeq + 1 });
    await expect(call('emu.record', { file: 'x.jsonl' })).rejects.toMatchObject({ code: -32002, message: expect.stringContaining('--record-dir') });
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

  it('refuses session.attach on the WebSocket, where the path picks the platform (the line transport: test/rpc/line-transport.test.ts)', async () => {
    await expect(call('session.attach', { platform: 'x' })).rejects.toMatchObject({ code: -32002, message: expect.stringContaining('/platforms/NAME') });
  });

  it('called every method of the table', () => {
    expect(METHOD_NAMES.filter((m) => !called.has(m))).toEqual([]);
  });
});
