/**
 * A TEE-IO device's life as a VMM drives it through the firmware, with DMA running:
 * connect, bind (TDI to RUN), DMA through a TMPM smash under a stall, unbind with DMA
 * in flight (fenced, not leaked), fence clear, and every page back; then the TDI
 * commands one by one over the mailbox with their error statuses.
 */
import { describe, it, expect } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { PSP_COMMAND } from '../../src/psp/commands.js';
import { SEV_RET } from '../../src/psp/statuses.js';
import { decode, encode } from '../../src/psp/layout.js';
import { TIO_DEV_DISCONNECT_BUF, TIO_DEV_RECLAIM_BUF } from '../../src/psp/buffers.js';
import {
  BIND_RUN_FORCE,
  FENCE_STATUS_PAGE,
  TIO_ASID_FENCE_CLEAR_BUF,
  TIO_ASID_FENCE_STATUS_BUF,
  TIO_DEV_STATUS_BUF,
  TIO_DEV_STATUS_PAGE,
  TIO_TDI_BIND_BUF,
  TIO_TDI_CREATE_BUF,
  TIO_TDI_INFO_BUF,
  TIO_TDI_INFO_PAGE,
  TIO_TDI_RECLAIM_BUF,
  TIO_TDI_REPORT_BUF,
  TIO_TDI_STATUS_BUF,
  TIO_TDI_STATUS_PAGE,
  TIO_TDI_UNBIND_BUF,
} from '../../src/psp/tdi-buffers.js';
import { DOBJ_CERT_HDR, DOBJ_ID, DOBJ_OFFSET, encodeSla } from '../../src/psp/sla.js';
import { allocCtrl, relay, slaOf } from '../../src/platform/platform-psp.js';
import { bufferPage, mailbox, markFirmware, read } from '../helpers/psp.js';

const DEV = 0x100;
const ASID = 1;

function collect(p: Platform) {
  const tdisp: string[] = [];
  const stalls: Array<Record<string, unknown>> = [];
  p.bus.subscribe(['psp', 'stall'], (topic, _at, d) => {
    if (topic === 'psp' && d['kind'] === 'spdm' && d['phase'] === 'request' && typeof d['functionId'] === 'number') tdisp.push(`${String(d['command'])}:${String(d['request'])}`);
    if (topic === 'stall') stalls.push(d);
  });
  return { tdisp, stalls };
}

/** Firmware pages (RMP Assigned, ASID 0, Immutable) in the pool: what a driver still has to reclaim. */
function firmwarePages(p: Platform): number {
  let n = 0;
  for (const [start, pages] of p.m.pool.getState().allocated) {
    for (let i = 0; i < pages; i++) {
      const spa = start + i * 4096;
      const e = p.m.rmp.read(spa);
      if (e.assigned && e.asid === 0 && e.immutable && p.m.guests.byContextPage(spa) === undefined) n++;
    }
  }
  return n;
}

describe('the TDI lifecycle with DMA running', () => {
  it('connect, bind, DMA through a smash under a stall, unbind with DMA in flight (fenced), fence clear, every page back', async () => {
    const p = createPlatform();
    const seen = collect(p);
    // The default scenario's TDI is in RUN through the same state the commands keep.
    expect(p.m.psp.tio.tdis).toMatchObject([{ functionId: DEV, state: 'RUN', asid: ASID }]);
    expect(p.m.firmware.boundAsid(DEV)).toBe(ASID);
    // Start from an unbound, disconnected device: unbind (fenced), clear, disconnect.
    expect(await p.fwTdiUnbind(DEV)).toMatchObject({ status: 0, tdispState: 'CONFIG_UNLOCKED', fenced: true, dmaFence: 3, reclaimStatus: 'SUCCESS' });
    expect(await p.tioFenceClear(DEV, ASID)).toMatchObject({ status: 0, fenced: false });
    expect(await p.tioDisconnect(DEV, false)).toMatchObject({ status: 0, reclaimStatus: 'SUCCESS' });
    const baseline = firmwarePages(p);
    expect(seen.tdisp).toEqual(['TIO_TDI_UNBIND:STOP_INTERFACE']);
    seen.tdisp.length = 0;

    // Connect and bind.
    expect(await p.tioConnect(DEV)).toMatchObject({ status: 0, certificateBytes: 1452 });
    const bind = await p.fwTdiBind(DEV, ASID);
    expect(bind).toMatchObject({ status: 0, statusName: 'SUCCESS', tdispState: 'RUN', reportBytes: 36, steps: 4 });
    expect(seen.tdisp).toEqual(['TIO_TDI_BIND:LOCK_INTERFACE', 'TIO_TDI_BIND:GET_DEVICE_INTERFACE_REPORT', 'TIO_TDI_BIND:GET_DEVICE_INTERFACE_REPORT', 'TIO_TDI_BIND:START_INTERFACE']);
    expect(p.m.firmware.boundAsid(DEV)).toBe(ASID);

    // DMA as the guest's device through the bound TDI (IOVA = GPA).
    const { streamId } = p.dmaStartStream({ deviceId: DEV, iovaBase: 0n, length: 8 << 20, ratePerSec: 2_000_000, accessBytes: 64, writeRatio: 0.5 });
    await p.clockAdvance(100_000);
    let s = p.dmaStats({ streamId });
    expect(s.issued).toBeGreaterThan(100);
    expect(s.rmpFaults).toBe(0);

    // A smash under a stall while the stream runs: nothing faults.
    const prep = await p.tmpmPreparePsmash(1, 0x400000n);
    const smash = await p.tmpmPsmashIo({ srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa });
    expect(smash).toMatchObject({ statusName: 'SUCCESS', rmpSmashed: true });
    expect(seen.stalls.length).toBeGreaterThan(0);
    await p.clockAdvance(100_000);
    s = p.dmaStats({ streamId });
    expect(s.rmpFaults).toBe(0);
    expect(s.ioPageFaults).toBe(0);
    const okBefore = s.completed;

    // Unbind with DMA in flight: from the unbind on, the device's DMA to ASID 1 is fenced.
    const unbind = await p.fwTdiUnbind(DEV);
    expect(unbind).toMatchObject({ status: 0, forced: false, tdispState: 'CONFIG_UNLOCKED', dmaFence: 3, fenced: true, reclaimStatus: 'SUCCESS' });
    expect(p.m.firmware.boundAsid(DEV)).toBe(-1);
    const okAtUnbind = p.dmaStats({ streamId }).completed;
    expect(okAtUnbind).toBeGreaterThanOrEqual(okBefore);
    p.iommuEvents({ consume: true });
    await p.clockAdvance(100_000);
    s = p.dmaStats({ streamId });
    expect(s.completed).toBe(okAtUnbind); // nothing leaked past the fence
    expect(s.rmpFaults).toBeGreaterThan(50);
    const fenced = p.iommuEvents({ consume: true }).events;
    expect(fenced.length).toBeGreaterThan(0);
    for (const e of fenced) expect(e).toMatchObject({ typeName: 'RMP_PAGE_FAULT', deviceId: DEV, vmgTag: ASID });
    expect(fenced.every((e) => ((e as { rmpFlags: number }).rmpFlags & 0x40) !== 0)).toBe(true);
    expect(await p.tioFenceStatus(DEV, ASID)).toMatchObject({ status: 0, dmaFence: 3, mmioFence: 3, fenced: true });

    // Fence clear: the device is an untrusted device again (its DMA to guest pages still fails, no longer as fenced).
    expect(await p.tioFenceClear(DEV, ASID)).toMatchObject({ status: 0, fenced: false });
    expect(await p.tioFenceStatus(DEV, ASID)).toMatchObject({ dmaFence: 0, fenced: false });
    p.iommuEvents({ consume: true });
    await p.clockAdvance(50_000);
    s = p.dmaStats({ streamId });
    expect(s.completed).toBe(okAtUnbind);
    const plain = p.iommuEvents({ consume: true }).events;
    expect(plain.length).toBeGreaterThan(0);
    for (const e of plain) expect(((e as { rmpFlags: number }).rmpFlags & 0x40) === 0 && ((e as { rmpFlags: number }).rmpFlags & 0x02) !== 0).toBe(true);
    p.dmaStopStream(streamId);

    // Every page back: disconnect reclaims the device context and the SPDM buffers.
    expect(await p.tioDisconnect(DEV, false)).toMatchObject({ status: 0, reclaimStatus: 'SUCCESS' });
    expect(p.m.psp.tio.tdis).toEqual([]);
    expect(p.m.psp.tio.contexts).toEqual([]);
    expect(firmwarePages(p)).toBe(baseline);
  });

  it('a device refusing LOCK_INTERFACE: SPDM_ERROR, nothing bound, nothing fenced; refusing START_INTERFACE: the locked TDI ends fenced', async () => {
    const p = createPlatform();
    await p.fwTdiUnbind(DEV);
    await p.tioFenceClear(DEV, ASID);
    p.faultAdd({ method: 'spdm.LOCK_INTERFACE', status: 0x04, times: 1 });
    const r = await p.fwTdiBind(DEV, ASID);
    expect(r).toMatchObject({ status: SEV_RET.SPDM_ERROR, statusName: 'SPDM_ERROR', tdispState: 'CONFIG_UNLOCKED', fenced: false });
    expect(p.m.psp.tio.tdis).toEqual([]);
    expect(p.m.firmware.boundAsid(DEV)).toBe(-1);
    p.faultAdd({ method: 'spdm.START_INTERFACE', status: 0x05, times: 1 });
    const r2 = await p.fwTdiBind(DEV, ASID);
    expect(r2).toMatchObject({ statusName: 'SPDM_ERROR', tdispState: 'ERROR', fenced: true });
    expect(await p.tioFenceStatus(DEV, ASID)).toMatchObject({ dmaFence: 3 });
    expect(await p.fwTdiBind(DEV, 9)).toMatchObject({ statusName: 'INVALID_ASID' });
    expect(await p.tioFenceClear(DEV, ASID)).toMatchObject({ status: 0, fenced: false });
    expect(await p.fwTdiBind(DEV, ASID)).toMatchObject({ status: 0, tdispState: 'RUN' });
    expect(await p.fwTdiBind(DEV, ASID)).toMatchObject({ statusName: 'INVALID_TDI_STATE' });
  });
});

describe('the TDI commands over the mailbox', () => {
  it('create, bind, status, info, report, reclaim ordering, fence status and clear, each page reclaimed with SNP_PAGE_RECLAIM', async () => {
    const p = createPlatform();
    // A second device, connected by the convenience; its TDI driven by hand.
    const D2 = 0x200;
    expect(await p.tioConnect(D2)).toMatchObject({ status: 0 });
    const host = p.m.tioHost.devices.get(D2)!;
    const ctrl = (host.ctrl ??= allocCtrl(p.m));
    const devCtxSla = slaOf(host.devCtx);
    const tdiPage = Number(p.memAlloc(1).spa);
    const tdiCtxSla = encodeSla(BigInt(tdiPage));
    const gctx = BigInt(p.m.guests.get(ASID)!.gctxSpa);
    const ctrlSlas = { reqSla: slaOf(ctrl.req), respSla: slaOf(ctrl.resp), scratchSla: slaOf(ctrl.scratch), outputSla: slaOf(ctrl.output) };

    const create = bufferPage(p, encode(TIO_TDI_CREATE_BUF, { length: 48, devCtxSla, tdiCtxSla, functionId: D2 }));
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_CREATE, create)).status).toBe(SEV_RET.INVALID_PAGE_STATE);
    markFirmware(p, tdiPage);
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_CREATE, create)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_CREATE, create)).status).toBe(SEV_RET.IN_USE);
    const other = bufferPage(p, encode(TIO_TDI_CREATE_BUF, { length: 48, devCtxSla, tdiCtxSla, functionId: 0x300 }));
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_CREATE, other)).status).toBe(SEV_RET.INVALID_PARAM);

    const bind = (runFlags: number, hostDomainId: number) => encode(TIO_TDI_BIND_BUF, { length: 80, ...ctrlSlas, devCtxSla, tdiCtxSla, gctxPaddr: gctx, guestDeviceId: 7, tdispLockIfFlags: 1, runFlags, hostDomainId });
    // host_domain_id must be the DTE's domain (2 for 02:00.0).
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_BIND, bufferPage(p, bind(0, 1)))).status).toBe(SEV_RET.INVALID_PARAM);
    expect((await relay(p.m, D2, PSP_COMMAND.TIO_TDI_BIND, bind(0, 2), ctrl)).done.status).toBe(0);
    // The report in output: data object 6.
    const out = read(p, ctrl.output.spa + DOBJ_OFFSET, 32);
    expect(decode(DOBJ_CERT_HDR, out)).toMatchObject({ id: DOBJ_ID.REPORT, length: 32 + 36, deviceId: D2, type: 1 });
    const statusPage = Number(p.memAlloc(1).spa);
    markFirmware(p, statusPage);
    const tdiStatus = async () => {
      await relay(p.m, D2, PSP_COMMAND.TIO_TDI_STATUS, encode(TIO_TDI_STATUS_BUF, { length: 64, ...ctrlSlas, devCtxSla, tdiCtxSla, statusPaddr: BigInt(statusPage) }), ctrl);
      return decode(TIO_TDI_STATUS_PAGE, read(p, statusPage, 16)).tdispState;
    };
    expect(await tdiStatus()).toBe(1); // CONFIG_LOCKED
    expect(p.m.firmware.boundAsid(D2)).toBe(-1); // locked is not yet RUN
    expect((await relay(p.m, D2, PSP_COMMAND.TIO_TDI_BIND, bind(BIND_RUN_FORCE, 2), ctrl)).done.status).toBe(0);
    expect(await tdiStatus()).toBe(2); // RUN
    expect(p.m.firmware.boundAsid(D2)).toBe(ASID);

    // TDI_INFO, DEV_STATUS, TDI_REPORT.
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_INFO, bufferPage(p, encode(TIO_TDI_INFO_BUF, { length: 48, version: 1, devCtxSla, tdiCtxSla, statusPaddr: BigInt(statusPage) })))).status).toBe(0);
    expect(decode(TIO_TDI_INFO_PAGE, read(p, statusPage, 200))).toMatchObject({ length: 200, functionId: D2, p1: (2 << 2) | 1, p2: 1, asid: ASID, tdiId: 7n, intfReportCounter: 2n });
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_STATUS, bufferPage(p, encode(TIO_DEV_STATUS_BUF, { length: 32, devCtxSla, statusPaddr: BigInt(statusPage) })))).status).toBe(0);
    expect(decode(TIO_DEV_STATUS_PAGE, read(p, statusPage, 160))).toMatchObject({ length: 160, ctxState: 1, deviceId: D2, tcMask: 1, p2: 1, tdiCount: 1, boundTdiCount: 1 });
    expect((await relay(p.m, D2, PSP_COMMAND.TIO_TDI_REPORT, encode(TIO_TDI_REPORT_BUF, { length: 64, ...ctrlSlas, devCtxSla, tdiCtxSla, gctxPaddr: gctx }), ctrl)).done.status).toBe(0);

    // Reclaim ordering: a bound TDI refuses TDI_RECLAIM; a device with TDIs refuses DEV_RECLAIM (after a FORCE disconnect it is not connected).
    const tdiReclaim = bufferPage(p, encode(TIO_TDI_RECLAIM_BUF, { length: 32, devCtxSla, tdiCtxSla }));
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_RECLAIM, tdiReclaim)).status).toBe(SEV_RET.INVALID_TDI_STATE);
    expect((await p.fwPageReclaim(tdiPage)).statusName).toBe('INVALID_PAGE_STATE');
    // Unbind by hand: STOP_INTERFACE relayed; the fence then holds until FENCE_CLEAR.
    const unbind = encode(TIO_TDI_UNBIND_BUF, { length: 64, flags: 0, ...ctrlSlas, devCtxSla, tdiCtxSla, gctxPaddr: gctx });
    expect((await relay(p.m, D2, PSP_COMMAND.TIO_TDI_UNBIND, unbind, ctrl)).done.status).toBe(0);
    expect((await relay(p.m, D2, PSP_COMMAND.TIO_TDI_UNBIND, unbind, ctrl)).done.status).toBe(SEV_RET.INVALID_TDI_STATE);
    const fenceStatus = bufferPage(p, encode(TIO_ASID_FENCE_STATUS_BUF, { length: 32, devCtxSla, asid: ASID, statusPaddr: BigInt(statusPage) }));
    expect((await mailbox(p, PSP_COMMAND.TIO_ASID_FENCE_STATUS, fenceStatus)).status).toBe(0);
    expect(decode(FENCE_STATUS_PAGE, read(p, statusPage, 8)).value).toBe(0xfn);
    expect((await mailbox(p, PSP_COMMAND.TIO_ASID_FENCE_CLEAR, bufferPage(p, encode(TIO_ASID_FENCE_CLEAR_BUF, { length: 32, devCtxSla, gctxPaddr: gctx })))).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.TIO_ASID_FENCE_STATUS, fenceStatus)).status).toBe(0);
    expect(decode(FENCE_STATUS_PAGE, read(p, statusPage, 8)).value).toBe(0n);

    // DEV_RECLAIM with the TDI left: RECLAIM_REQUIRED (once disconnected).
    expect(await p.tioDisconnect(D2, true)).toMatchObject({ status: 0 });
    // tio.disconnect reclaimed the TDI it found (as Linux unbinds TDIs first); the page is ours to give back.
    expect(p.m.psp.tio.tdis.filter((t) => t.ctxDeviceId === D2)).toEqual([]);
    expect(await p.fwPageReclaim(tdiPage)).toMatchObject({ status: 0 });
    expect(p.rmpUpdate(tdiPage, { assigned: false, pageSize: '4K' }).rc).toBe(0);
    expect(p.m.psp.tio.contexts.map((c) => c.deviceId)).toEqual([DEV]);
  });

  it('DEV_RECLAIM with a TDI left: RECLAIM_REQUIRED; TDI_RECLAIM first, then DEV_RECLAIM, then every page with SNP_PAGE_RECLAIM', async () => {
    const p = createPlatform();
    const host = p.m.tioHost.devices.get(DEV)!;
    const devCtxSla = slaOf(host.devCtx);
    const devPages = p.m.psp.tio.contexts[0]!.pages;
    const t = p.m.psp.tio.tdis[0]!;
    const tdiPages = [...t.pages];
    const tdiCtxSla = encodeSla(BigInt(tdiPages[0]!));
    // DEV_DISCONNECT with FORCE: nothing exchanged, the TDI unbound (CONFIG_UNLOCKED) and its DMA fenced.
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_DISCONNECT, bufferPage(p, encode(TIO_DEV_DISCONNECT_BUF, { length: 48, flags: 1, devCtxSla })))).status).toBe(0);
    expect(t.state).toBe('CONFIG_UNLOCKED');
    expect(p.m.firmware.boundAsid(DEV)).toBe(-1);
    expect(p.m.firmware.fencedAsid(DEV)).toBe(ASID);
    const devReclaim = bufferPage(p, encode(TIO_DEV_RECLAIM_BUF, { length: 16, devCtxSla }));
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_RECLAIM, devReclaim)).status).toBe(SEV_RET.RECLAIM_REQUIRED);
    for (const pg of tdiPages) expect((await p.fwPageReclaim(pg)).statusName).toBe('INVALID_PAGE_STATE');
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_RECLAIM, bufferPage(p, encode(TIO_TDI_RECLAIM_BUF, { length: 32, devCtxSla, tdiCtxSla })))).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_RECLAIM, devReclaim)).status).toBe(0);
    for (const pg of [...devPages, ...tdiPages]) {
      expect(await p.fwPageReclaim(pg)).toMatchObject({ status: 0 });
      expect(p.rmpUpdate(pg, { assigned: false, pageSize: '4K' }).rc).toBe(0);
    }
    // The fence outlives the context: DMA to the guest's pages still fails as fenced.
    const r = await p.dmaIssue({ deviceId: DEV, iova: 0x1000n, bytes: 64, write: false });
    expect(r).toMatchObject({ outcome: 'rmp_fault', reason: 'rmp:assigned+size-mismatch+fenced' });
    // 0xE4-0xE9 are not commands.
    for (const id of [0xe4, 0xe5, 0xe6, 0xe9]) expect((await mailbox(p, id, 0)).status).toBe(SEV_RET.INVALID_COMMAND);
  });
});

describe('TDI states and fences in state documents and snapshots', () => {
  it('a document taken with one TDI fenced and another CONFIG_LOCKED loads into a platform that continues the same life', async () => {
    const p = createPlatform();
    await p.fwTdiUnbind(DEV); // 0x0100: fenced from ASID 1
    // 0x0200: connected, its TDI locked by hand (no RUN yet).
    await p.tioConnect(0x200);
    const host = p.m.tioHost.devices.get(0x200)!;
    const ctrl = (host.ctrl ??= allocCtrl(p.m));
    const tdiPage = Number(p.memAlloc(1).spa);
    markFirmware(p, tdiPage);
    const devCtxSla = slaOf(host.devCtx);
    const tdiCtxSla = encodeSla(BigInt(tdiPage));
    expect((await mailbox(p, PSP_COMMAND.TIO_TDI_CREATE, bufferPage(p, encode(TIO_TDI_CREATE_BUF, { length: 48, devCtxSla, tdiCtxSla, functionId: 0x200 })))).status).toBe(0);
    const bind = (runFlags: number) =>
      encode(TIO_TDI_BIND_BUF, {
        length: 80,
        reqSla: slaOf(ctrl.req),
        respSla: slaOf(ctrl.resp),
        scratchSla: slaOf(ctrl.scratch),
        outputSla: slaOf(ctrl.output),
        devCtxSla,
        tdiCtxSla,
        gctxPaddr: BigInt(p.m.guests.get(ASID)!.gctxSpa),
        runFlags,
        hostDomainId: 2,
      });
    expect((await relay(p.m, 0x200, PSP_COMMAND.TIO_TDI_BIND, bind(0), ctrl)).done.status).toBe(0);

    const { state } = p.dumpState();
    const json = JSON.parse(JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
    expect((json['firmware'] as { fences: unknown }).fences).toEqual([[DEV, ASID]]);
    const q = createPlatform();
    q.loadState(state);
    expect(q.m.psp.tio.tdis.map((t) => [t.functionId, t.state])).toEqual([[0x200, 'CONFIG_LOCKED']]);
    expect(await q.tioFenceStatus(DEV, ASID)).toMatchObject({ dmaFence: 3 });
    expect((await q.dmaIssue({ deviceId: DEV, iova: 0x1000n, bytes: 64, write: false })).reason).toContain('fenced');
    // The restored platform continues: RUN_FORCE starts the locked TDI (the device kept its nonce).
    const qctrl = q.m.tioHost.devices.get(0x200)!.ctrl!;
    expect((await relay(q.m, 0x200, PSP_COMMAND.TIO_TDI_BIND, bind(BIND_RUN_FORCE), qctrl)).done.status).toBe(0);
    expect(q.m.firmware.boundAsid(0x200)).toBe(ASID);
    // A malformed TDI state is refused and changes nothing.
    const broken = structuredClone(state) as unknown as { psp: { device: { tio: { tdis: Array<{ state: string }> } } } };
    broken.psp.device.tio.tdis[0]!.state = 'BOGUS';
    expect(() => q.loadState(broken)).toThrow(/tdis\[0\]\.state/);
    expect(q.m.firmware.boundAsid(0x200)).toBe(ASID);

    // A snapshot restores the TDI and the fence too.
    const snap = q.snapshot();
    expect(await q.fwTdiUnbind(0x200)).toMatchObject({ status: 0, fenced: true });
    expect(await q.tioFenceClear(DEV, ASID)).toMatchObject({ fenced: false });
    q.revert(snap.snapshotId);
    expect(q.m.firmware.boundAsid(0x200)).toBe(ASID);
    expect(q.m.firmware.fencedAsid(DEV)).toBe(ASID);
  });
});
