/**
 * The TDI lifecycle through the real server (WebSocket, JSON-RPC): a VMM's bind and
 * unbind with DMA running, the fence and its clear, fault rules on spdm.* TDISP
 * requests and psp.* TDI commands, the psp topic's TDISP steps, and the raw mailbox.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.stop();
});
const call = (method: string, params: Record<string, unknown> = {}): Promise<any> => (t.client.call as (m: string, p: unknown) => Promise<any>)(method, params);

describe('TDI lifecycle over the wire', () => {
  it('unbind with DMA in flight is fenced, fence clear, rebind to RUN; every TDISP step on topic psp', async () => {
    const steps: string[] = [];
    await t.client.subscribe(['psp'], (e) => {
      const d = (e as unknown as { data: any }).data;
      if (d.kind === 'spdm' && d.phase === 'request' && typeof d.functionId === 'number') steps.push(`${d.command}:${d.request}`);
    });
    const { streamId } = await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x800000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0 });
    await call('clock.advance', { ns: 50_000 });
    expect((await call('dma.stats', { streamId })).rmpFaults).toBe(0);
    const u = await call('fw.tdiUnbind', { deviceId: 0x100 });
    expect(u).toMatchObject({ status: 0, statusName: 'SUCCESS', deviceId: 0x100, asid: 1, forced: false, tdispState: 'CONFIG_UNLOCKED', dmaFence: 3, fenced: true, reclaimStatus: 'SUCCESS' });
    const completed = (await call('dma.stats', { streamId })).completed;
    await call('clock.advance', { ns: 50_000 });
    const s = await call('dma.stats', { streamId });
    expect(s.completed).toBe(completed);
    expect(s.rmpFaults).toBeGreaterThan(20);
    const ev = (await call('iommu.events', { consume: true })).events.filter((e: any) => e.typeName === 'RMP_PAGE_FAULT');
    expect(ev.length).toBeGreaterThan(0);
    expect(ev[ev.length - 1]).toMatchObject({ deviceId: 0x100, vmgTag: 1 });
    expect(ev[ev.length - 1].rmpFlags & 0x40).toBe(0x40);
    expect(await call('tio.fenceStatus', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0, dmaFence: 3, mmioFence: 3, fenced: true });
    expect(await call('tio.fenceClear', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0, fenced: false });
    expect(await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0, tdispState: 'RUN', reportBytes: 36 });
    const before = (await call('dma.stats', { streamId })).rmpFaults;
    await call('clock.advance', { ns: 50_000 });
    expect((await call('dma.stats', { streamId })).rmpFaults).toBe(before);
    expect(steps).toEqual(['TIO_TDI_UNBIND:STOP_INTERFACE', 'TIO_TDI_BIND:LOCK_INTERFACE', 'TIO_TDI_BIND:GET_DEVICE_INTERFACE_REPORT', 'TIO_TDI_BIND:GET_DEVICE_INTERFACE_REPORT', 'TIO_TDI_BIND:START_INTERFACE']);
    expect((await call('emu.audit')).violations).toEqual([]);
  });

  it('fault rules: the device refusing LOCK_INTERFACE, a failed unbind retried with FORCE, a psp.TIO_TDI_CREATE rule', async () => {
    await call('fw.tdiUnbind', { deviceId: 0x100 });
    await call('tio.fenceClear', { deviceId: 0x100, asid: 1 });
    await call('fault.add', { method: 'spdm.LOCK_INTERFACE', status: 4, times: 1 });
    expect(await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0x33, statusName: 'SPDM_ERROR', tdispState: 'CONFIG_UNLOCKED', fenced: false });
    expect(await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0, tdispState: 'RUN' });
    await call('fault.add', { method: 'spdm.STOP_INTERFACE', status: 5, times: 1 });
    expect(await call('fw.tdiUnbind', { deviceId: 0x100 })).toMatchObject({ status: 0, forced: true, unbindStatus: 'SPDM_ERROR', tdispState: 'CONFIG_UNLOCKED', fenced: true });
    expect(await call('fw.tdiUnbind', { deviceId: 0x100 })).toMatchObject({ statusName: 'INVALID_TDI_STATE' });
    await expect(call('fw.tdiBind', { deviceId: 0x10000, asid: 1 })).rejects.toMatchObject({ code: -32602 });
    await expect(call('tio.fenceClear', { deviceId: 0x100, asid: 5000 })).rejects.toMatchObject({ code: -32602 });
    // A psp.* rule on a TDI command applies to the convenience too.
    await call('tio.fenceClear', { deviceId: 0x100, asid: 1 });
    await call('fault.add', { method: 'psp.TIO_TDI_CREATE', status: 0x17, times: 1 });
    expect(await call('fw.tdiBind', { deviceId: 0x100, asid: 1 })).toMatchObject({ status: 0x17, statusName: 'RESOURCE_LIMIT' });
    expect((await call('fw.platformStatus')).tdis).toEqual([]);
  });

  it('the raw mailbox answers 0xE4 INVALID_COMMAND (past the TDI commands)', async () => {
    const { spa } = await call('mem.alloc', { pages: 1 });
    await call('psp.writeReg', { offset: 0x109e0, value: Number(BigInt(spa) & 0xffffffffn) });
    await call('psp.writeReg', { offset: 0x109e4, value: Number(BigInt(spa) >> 32n) });
    await call('psp.writeReg', { offset: 0x10980, value: (0xe4 << 16) | 1 });
    await call('clock.advance', { ns: 10_000 });
    expect((await call('psp.regs')).CMDRESP).toMatchObject({ command: 0xe4, statusName: 'INVALID_COMMAND', resp: true });
  });
});
