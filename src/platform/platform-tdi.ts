/**
 * The TDI conveniences over the PSP mailbox (protocol/README.md §4.7), each the
 * sequence AMD's tree sends for it (docs/sev-firmware.md §3.4):
 * - fw.tdiBind: a connect when the device has none (TIO_DEV_CREATE, TIO_DEV_CONNECT),
 *   TIO_TDI_CREATE, TIO_TDI_BIND (lock and report), TIO_TDI_BIND with RUN_FORCE,
 *   TIO_TDI_STATUS; on a failure the unbind path (UNBIND with FORCE, TDI_RECLAIM,
 *   the TDI's pages back).
 * - fw.tdiUnbind: TIO_TDI_UNBIND (a FORCE retry after a failure), TIO_TDI_STATUS,
 *   TIO_ASID_FENCE_STATUS, TIO_TDI_RECLAIM, the TDI's pages back. The fence stays
 *   until tio.fenceClear (TIO_ASID_FENCE_CLEAR).
 * Every command goes through the mailbox registers, so fault rules on psp.* apply.
 */
import type { Machine } from './machine.js';
import { FW_STATUS, fwStatusName, type FwResult } from '../firmware/status.js';
import { invalidArgument } from '../util/emu-error.js';
import { readBytes } from '../psp/bytes.js';
import { decode, encode } from '../psp/layout.js';
import { PSP_COMMAND } from '../psp/command-ids.js';
import type { DevCtx, TdiCtx } from '../psp/psp-config.js';
import type { PspCommandDone } from '../psp/psp-device.js';
import { encodeSla } from '../psp/sla.js';
import {
  BIND_RUN_FORCE,
  FENCE_STATUS_PAGE,
  LOCK_IF,
  TIO_ASID_FENCE_CLEAR_BUF,
  TIO_ASID_FENCE_STATUS_BUF,
  TIO_TDI_BIND_BUF,
  TIO_TDI_CREATE_BUF,
  TIO_TDI_RECLAIM_BUF,
  TIO_TDI_STATUS_BUF,
  TIO_TDI_STATUS_PAGE,
  TIO_TDI_UNBIND_BUF,
  UNBIND_FORCE,
} from '../psp/tdi-buffers.js';
import { TDISP_STATE_NAMES } from '../psp/tdisp.js';
import { allocBuffer, allocCtrl, connectSteps, freeBufferSteps, markFirmware, reclaimPagesSteps, relaySteps, runCommand, runCommandSteps, slaOf, slaOfPages } from './platform-psp.js';
import { runAsync, type PspSteps } from './psp-steps.js';
import type { TioHostDevice } from './tio-host.js';

type Done = PspCommandDone;
/** What fw.tdiBind answers: a firmware status and the fields protocol/README.md §4.7.4 lists. */
export type BindOutcome = FwResult & Record<string, unknown>;
const hexId = (id: number) => '0x' + id.toString(16).padStart(4, '0');

function outcome(d: Done | { status: number; detail?: Record<string, unknown> }, extra: Record<string, unknown>) {
  return { status: d.status, statusName: fwStatusName(d.status as never), ...(d.detail !== undefined ? { detail: d.detail } : {}), ...extra };
}
function refuse(status: number, reason: string, extra: Record<string, unknown>) {
  return { status, statusName: fwStatusName(status as never), detail: { reason, ...extra }, ...extra };
}

function checkDevice(deviceId: number): void {
  if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) throw invalidArgument(`deviceId must be 0..0xffff, got ${deviceId}`, { path: ['deviceId'] });
}

/** The SLA of a TDI's context: the host's buffer when we made it, else its first page. */
function tdiSla(_m: Machine, host: TioHostDevice | undefined, t: TdiCtx): bigint {
  const h = host?.tdis?.find((x) => x.functionId === t.functionId);
  return h !== undefined ? slaOf(h.tdiCtx) : encodeSla(BigInt(t.pages[0] as number));
}
function devSla(m: Machine, ctx: DevCtx): bigint {
  return slaOfPages(m, ctx.pages) ?? encodeSla(BigInt(ctx.pages[0] as number));
}
function hostOf(m: Machine, ctx: DevCtx): TioHostDevice {
  let host = m.tioHost.devices.get(ctx.deviceId);
  if (host === undefined) {
    host = { deviceId: ctx.deviceId, devCtx: { spa: ctx.pages[0] as number, pages: ctx.pages.length, scatterSpa: null, firmware: true }, ctrl: null };
    m.tioHost.devices.set(ctx.deviceId, host);
  }
  host.ctrl ??= allocCtrl(m);
  return host;
}
function ctrlSlas(host: TioHostDevice) {
  const c = host.ctrl as NonNullable<TioHostDevice['ctrl']>;
  return { reqSla: slaOf(c.req), respSla: slaOf(c.resp), scratchSla: slaOf(c.scratch), outputSla: slaOf(c.output) };
}

/** One command writing to a data page (a firmware page made for it and given back after); `read` decodes the page. */
function* withDataPage<T>(m: Machine, command: number, bytes: (spa: number) => Uint8Array, read: (spa: number) => T): PspSteps<{ done: Done; out: T }> {
  const page = m.pool.alloc(1);
  markFirmware(m, page, 1);
  const { done } = yield* runCommandSteps(m, command, bytes(page));
  const out = read(page);
  if ((yield* reclaimPagesSteps(m, page, 1)) && m.pool.isAllocated(page)) m.pool.release(page, 1);
  return { done, out };
}

function* tdiStatus(m: Machine, host: TioHostDevice, ctx: DevCtx, t: TdiCtx): PspSteps<string> {
  const { out } = yield* withDataPage(
    m,
    PSP_COMMAND.TIO_TDI_STATUS,
    (spa) => encode(TIO_TDI_STATUS_BUF, { length: TIO_TDI_STATUS_BUF.bytes, ...ctrlSlas(host), devCtxSla: devSla(m, ctx), tdiCtxSla: tdiSla(m, host, t), statusPaddr: BigInt(spa) }),
    (spa) => decode(TIO_TDI_STATUS_PAGE, readBytes(m.memory, spa, TIO_TDI_STATUS_PAGE.bytes)).tdispState,
  );
  return TDISP_STATE_NAMES[out] ?? String(out);
}

/** TIO_TDI_RECLAIM and the TDI's pages back (Linux reclaims them whatever the command said). */
function* reclaimTdi(m: Machine, ctx: DevCtx, t: TdiCtx): PspSteps<Done> {
  const host = m.tioHost.devices.get(ctx.deviceId);
  const { done } = yield* runCommandSteps(m, PSP_COMMAND.TIO_TDI_RECLAIM, encode(TIO_TDI_RECLAIM_BUF, { length: TIO_TDI_RECLAIM_BUF.bytes, devCtxSla: devSla(m, ctx), tdiCtxSla: tdiSla(m, host, t) }));
  // Pages the conveniences made go back; a host driver's own TDI context pages stay its to reclaim.
  const h = host?.tdis?.find((x) => x.functionId === t.functionId);
  if (done.status === FW_STATUS.SUCCESS && h !== undefined) {
    yield* freeBufferSteps(m, h.tdiCtx);
    if (host?.tdis !== undefined) host.tdis = host.tdis.filter((x) => x.functionId !== t.functionId);
  }
  return done;
}

/** Every TDI of a device context unbound (FORCE) and reclaimed: before its DEV_RECLAIM (fw.shutdown, tio.disconnect). */
export function reclaimTdis(m: Machine, ctx: DevCtx): Promise<void> {
  return runAsync(m, reclaimTdisSteps(m, ctx));
}

function* reclaimTdisSteps(m: Machine, ctx: DevCtx): PspSteps<void> {
  for (const t of m.psp.tio.tdis.filter((x) => x.ctxDeviceId === ctx.deviceId)) {
    if (t.state !== 'CONFIG_UNLOCKED') yield* unbindCommand(m, ctx, t, true);
    yield* reclaimTdi(m, ctx, t);
  }
}

function* unbindCommand(m: Machine, ctx: DevCtx, t: TdiCtx, force: boolean): PspSteps<{ done: Done; steps: number }> {
  const host = hostOf(m, ctx);
  const gctx = t.asid === null ? 0 : (m.guests.get(t.asid)?.gctxSpa ?? 0);
  const buf = encode(TIO_TDI_UNBIND_BUF, {
    length: TIO_TDI_UNBIND_BUF.bytes,
    flags: force ? UNBIND_FORCE : 0,
    ...ctrlSlas(host),
    devCtxSla: devSla(m, ctx),
    tdiCtxSla: tdiSla(m, host, t),
    gctxPaddr: BigInt(Math.max(0, gctx)),
  });
  return yield* relaySteps(m, ctx.deviceId, PSP_COMMAND.TIO_TDI_UNBIND, buf, host.ctrl as NonNullable<TioHostDevice['ctrl']>);
}

/** fw.tdiBind: the device's function bound to the guest, its TDI in RUN. */
export function fwTdiBind(m: Machine, deviceId: number, asid: number) {
  checkDevice(deviceId);
  return m.firmware.submit('fw.tdiBind', { deviceId, asid }, () => runAsync(m, bindSteps(m, deviceId, asid)));
}

/** fw.tdiBind's sequence (the scenario build runs it too, at once: psp-steps.ts). */
export function* bindSteps(m: Machine, deviceId: number, asid: number): PspSteps<BindOutcome> {
  {
    const notReady = m.firmware.checkInitialised();
    if (notReady) return { ...notReady, deviceId, asid };
    const guest = m.guests.get(asid);
    if (guest === undefined) return refuse(FW_STATUS.INVALID_ASID, `no SNP guest with ASID ${asid}`, { deviceId, asid });
    const existing = m.psp.tio.tdis.find((t) => t.functionId === deviceId);
    if (existing !== undefined && existing.state !== 'CONFIG_UNLOCKED')
      return refuse(FW_STATUS.INVALID_TDI_STATE, `device ${hexId(deviceId)}'s TDI is ${existing.state}${existing.asid !== null ? ` for ASID ${existing.asid}` : ''}`, { deviceId, tdispState: existing.state });
    let steps = 0;
    let ctx = m.psp.tio.contexts.find((c) => c.deviceId === deviceId);
    if (ctx === undefined || ctx.state !== 'connected') {
      const c = yield* connectSteps(m, deviceId);
      steps += c.steps;
      if (c.status !== FW_STATUS.SUCCESS) return { ...c, asid, connectStatus: c.statusName };
      ctx = m.psp.tio.contexts.find((x) => x.deviceId === deviceId) as DevCtx;
    }
    const host = hostOf(m, ctx);
    let t = existing;
    if (t === undefined) {
      const tdiCtx = allocBuffer(m, m.psp.config.tio.tdictxSize, true);
      const { done } = yield* runCommandSteps(m, PSP_COMMAND.TIO_TDI_CREATE, encode(TIO_TDI_CREATE_BUF, { length: TIO_TDI_CREATE_BUF.bytes, devCtxSla: devSla(m, ctx), tdiCtxSla: slaOf(tdiCtx), functionId: deviceId }));
      if (done.status !== FW_STATUS.SUCCESS) {
        yield* freeBufferSteps(m, tdiCtx);
        return outcome(done, { deviceId, asid, steps });
      }
      (host.tdis ??= []).push({ functionId: deviceId, tdiCtx });
      t = m.psp.tio.tdis.find((x) => x.functionId === deviceId) as TdiCtx;
    }
    const bind = (runFlags: number) =>
      encode(TIO_TDI_BIND_BUF, {
        length: TIO_TDI_BIND_BUF.bytes,
        ...ctrlSlas(host),
        devCtxSla: devSla(m, ctx),
        tdiCtxSla: tdiSla(m, host, t),
        gctxPaddr: BigInt(guest.gctxSpa),
        guestDeviceId: deviceId,
        tdispLockIfFlags: LOCK_IF.NO_FW_UPDATE | LOCK_IF.ALL_REQUEST_REDIRECT,
        runFlags,
        queueId: 0,
        hostDomainId: Math.max(0, m.iommu.domainOf(deviceId)),
      });
    const ctrl = host.ctrl as NonNullable<TioHostDevice['ctrl']>;
    let r = yield* relaySteps(m, deviceId, PSP_COMMAND.TIO_TDI_BIND, bind(0), ctrl);
    steps += r.steps;
    let reportBytes = Number(r.done.detail?.['reportBytes'] ?? 0);
    if (r.done.status === FW_STATUS.SUCCESS) {
      r = yield* relaySteps(m, deviceId, PSP_COMMAND.TIO_TDI_BIND, bind(BIND_RUN_FORCE), ctrl);
      steps += r.steps;
      reportBytes = Number(r.done.detail?.['reportBytes'] ?? reportBytes);
    }
    if (r.done.status !== FW_STATUS.SUCCESS) {
      // The unbind path: TDI_UNBIND (STOP_INTERFACE, a FORCE retry) when the TDI got anywhere, then TDI_RECLAIM and its pages back.
      const state = t.state;
      if (state !== 'CONFIG_UNLOCKED' && (yield* unbindCommand(m, ctx, t, false)).done.status !== FW_STATUS.SUCCESS) yield* unbindCommand(m, ctx, t, true);
      yield* reclaimTdi(m, ctx, t);
      return outcome(r.done, { deviceId, asid, steps, tdispState: state, fenced: m.firmware.fencedAsid(deviceId) === asid });
    }
    const tdispState = yield* tdiStatus(m, host, ctx, t);
    return outcome(r.done, { deviceId, asid, steps, tdispState, reportBytes });
  }
}

/** fw.tdiUnbind: STOP_INTERFACE (FORCE when asked, and as the retry), the TDI reclaimed; the DMA fence stays. */
export function fwTdiUnbind(m: Machine, deviceId: number, force = false) {
  checkDevice(deviceId);
  return m.firmware.submit('fw.tdiUnbind', { deviceId, force }, async () => {
    const notReady = m.firmware.checkInitialised();
    if (notReady) return { ...notReady, deviceId };
    const t = m.psp.tio.tdis.find((x) => x.functionId === deviceId);
    const ctx = t === undefined ? undefined : m.psp.tio.contexts.find((c) => c.deviceId === t.ctxDeviceId);
    if (t === undefined || ctx === undefined || t.state === 'CONFIG_UNLOCKED') return refuse(FW_STATUS.INVALID_TDI_STATE, `device ${hexId(deviceId)} has no bound TDI`, { deviceId });
    const asid = t.asid as number;
    let r = await runAsync(m, unbindCommand(m, ctx, t, force));
    let steps = r.steps;
    const first = r.done;
    if (r.done.status !== FW_STATUS.SUCCESS && !force) {
      r = await runAsync(m, unbindCommand(m, ctx, t, true));
      steps += r.steps;
    }
    const host = hostOf(m, ctx);
    const tdispState = await runAsync(m, tdiStatus(m, host, ctx, t));
    const fence = await fenceStatusOf(m, ctx, asid);
    const reclaim = await runAsync(m, reclaimTdi(m, ctx, t));
    const shown = r.done.status !== FW_STATUS.SUCCESS ? r.done : reclaim;
    return outcome(shown, {
      deviceId,
      asid,
      steps,
      forced: force || first.status !== FW_STATUS.SUCCESS,
      ...(first.status !== FW_STATUS.SUCCESS ? { unbindStatus: first.statusName } : {}),
      tdispState,
      dmaFence: fence.dmaFence,
      fenced: fence.dmaFence !== 0,
      reclaimStatus: reclaim.statusName,
    });
  });
}

async function fenceStatusOf(m: Machine, ctx: DevCtx, asid: number): Promise<{ done: Done; dmaFence: number; mmioFence: number }> {
  const { done, out } = await runAsync(
    m,
    withDataPage(
      m,
      PSP_COMMAND.TIO_ASID_FENCE_STATUS,
      (spa) => encode(TIO_ASID_FENCE_STATUS_BUF, { length: TIO_ASID_FENCE_STATUS_BUF.bytes, devCtxSla: devSla(m, ctx), asid, statusPaddr: BigInt(spa) }),
      (spa) => decode(FENCE_STATUS_PAGE, readBytes(m.memory, spa, 8)).value,
    ),
  );
  return { done, dmaFence: done.status === FW_STATUS.SUCCESS ? Number(out & 3n) : 0, mmioFence: done.status === FW_STATUS.SUCCESS ? Number((out >> 2n) & 3n) : 0 };
}

function devCtxFor(m: Machine, deviceId: number): DevCtx | undefined {
  const t = m.psp.tio.tdis.find((x) => x.functionId === deviceId);
  return m.psp.tio.contexts.find((c) => c.deviceId === (t?.ctxDeviceId ?? deviceId));
}

/** tio.fenceStatus: TIO_ASID_FENCE_STATUS for the device's context and an ASID. */
export function tioFenceStatus(m: Machine, deviceId: number, asid: number) {
  checkDevice(deviceId);
  return m.firmware.submit('tio.fenceStatus', { deviceId, asid }, async () => {
    const ctx = devCtxFor(m, deviceId);
    if (ctx === undefined) return refuse(FW_STATUS.INVALID_DEV_CTX, `device ${hexId(deviceId)} has no device context`, { deviceId, asid });
    const f = await fenceStatusOf(m, ctx, asid);
    return outcome(f.done, { deviceId, asid, dmaFence: f.dmaFence, mmioFence: f.mmioFence, fenced: f.dmaFence !== 0 });
  });
}

/** tio.fenceClear: TIO_ASID_FENCE_CLEAR for the device's context and the guest of an ASID. */
export function tioFenceClear(m: Machine, deviceId: number, asid: number) {
  checkDevice(deviceId);
  return m.firmware.submit('tio.fenceClear', { deviceId, asid }, async () => {
    const ctx = devCtxFor(m, deviceId);
    if (ctx === undefined) return refuse(FW_STATUS.INVALID_DEV_CTX, `device ${hexId(deviceId)} has no device context`, { deviceId, asid });
    const guest = m.guests.get(asid);
    if (guest === undefined) return refuse(FW_STATUS.INVALID_ASID, `no SNP guest with ASID ${asid}`, { deviceId, asid });
    const { done } = await runCommand(m, PSP_COMMAND.TIO_ASID_FENCE_CLEAR, encode(TIO_ASID_FENCE_CLEAR_BUF, { length: TIO_ASID_FENCE_CLEAR_BUF.bytes, devCtxSla: devSla(m, ctx), gctxPaddr: BigInt(guest.gctxSpa) }));
    return outcome(done, { deviceId, asid, fenced: m.firmware.fencedAsid(deviceId) === asid });
  });
}
