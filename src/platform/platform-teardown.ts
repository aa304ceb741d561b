/**
 * The firmware conveniences that take a device down (protocol/README.md §4.6):
 * tio.disconnect and fw.shutdown. Each first unbinds and reclaims the device's TDIs
 * (platform-tdi.ts), so they sit above both the device's conveniences
 * (platform-psp.ts) and the TDI's, which builds on them.
 */
import type { Machine } from './machine.js';
import { FW_STATUS, fwStatusName } from '../firmware/status.js';
import { encode } from '../psp/layout.js';
import { PSP_COMMAND } from '../psp/command-ids.js';
import type { PspCommandDone } from '../psp/psp-device.js';
import { DISCONNECT_FORCE, SNP_SHUTDOWN_EX_BUF, TIO_DEV_DISCONNECT_BUF, TIO_DEV_RECLAIM_BUF } from '../psp/buffers.js';
import { encodeSla } from '../psp/sla.js';
import { allocCtrl, checkDevice, freeHost, relay, result, runCommand, slaOf, slaOfPages } from './platform-psp.js';
import { reclaimTdis } from './platform-tdi.js';

type Done = PspCommandDone;
/**
 * fw.shutdown: every device context disconnected (FORCE, unbinding its TDI) and
 * reclaimed (its pages given back when the convenience made them), then
 * SNP_SHUTDOWN_EX. Always SUCCESS; the RMP and tables are kept.
 */
export function fwShutdown(m: Machine) {
  return m.firmware.submit('fw.shutdown', {}, async () => {
    for (const ctx of [...m.psp.tio.contexts]) {
      const devCtxSla = encodeSla(BigInt(ctx.pages[0] as number));
      if (ctx.state === 'connected')
        await runCommand(m, PSP_COMMAND.TIO_DEV_DISCONNECT, encode(TIO_DEV_DISCONNECT_BUF, { length: TIO_DEV_DISCONNECT_BUF.bytes, flags: DISCONNECT_FORCE, devCtxSla: slaOfPages(m, ctx.pages) ?? devCtxSla }));
      await reclaimTdis(m, ctx);
      await runCommand(m, PSP_COMMAND.TIO_DEV_RECLAIM, encode(TIO_DEV_RECLAIM_BUF, { length: TIO_DEV_RECLAIM_BUF.bytes, devCtxSla: slaOfPages(m, ctx.pages) ?? devCtxSla }));
      const host = m.tioHost.devices.get(ctx.deviceId);
      if (host !== undefined) await freeHost(m, host);
    }
    const { done } = await runCommand(m, PSP_COMMAND.SNP_SHUTDOWN_EX, encode(SNP_SHUTDOWN_EX_BUF, { length: SNP_SHUTDOWN_EX_BUF.bytes, flags: 0 }));
    return result(done);
  });
}

/**
 * tio.disconnect: TIO_DEV_DISCONNECT (with the relay; FORCE when asked, and as a
 * retry after any failure, as Linux does), then TIO_DEV_RECLAIM and every page back.
 */
export function tioDisconnect(m: Machine, deviceId: number, force: boolean) {
  checkDevice(deviceId);
  return m.firmware.submit('tio.disconnect', { deviceId, force }, async () => {
    const ctx = m.psp.tio.contexts.find((c) => c.deviceId === deviceId);
    if (ctx === undefined)
      return { status: FW_STATUS.INVALID_DEV_CTX, statusName: fwStatusName(FW_STATUS.INVALID_DEV_CTX), detail: { reason: `device 0x${deviceId.toString(16).padStart(4, '0')} has no device context` }, deviceId, steps: 0 };
    let host = m.tioHost.devices.get(deviceId);
    if (host === undefined) {
      // A context the convenience did not create (a host driver's): only FORCE and RECLAIM are possible without its buffers.
      host = { deviceId, devCtx: { spa: ctx.pages[0] as number, pages: ctx.pages.length, scatterSpa: null, firmware: true }, ctrl: null };
    }
    host.ctrl ??= allocCtrl(m);
    const ctrl = host.ctrl;
    const buf = (flags: number) =>
      encode(TIO_DEV_DISCONNECT_BUF, {
        length: TIO_DEV_DISCONNECT_BUF.bytes,
        flags,
        reqSla: slaOf(ctrl.req),
        respSla: slaOf(ctrl.resp),
        scratchSla: slaOf(ctrl.scratch),
        outputSla: slaOf(ctrl.output),
        devCtxSla: slaOfPages(m, ctx.pages) ?? slaOf(host.devCtx),
      });
    let steps = 0;
    let first: Done | undefined;
    if (ctx.state === 'connected') {
      const r = await relay(m, deviceId, PSP_COMMAND.TIO_DEV_DISCONNECT, buf(force ? DISCONNECT_FORCE : 0), ctrl);
      steps = r.steps;
      first = r.done;
      if (r.done.status !== FW_STATUS.SUCCESS && !force) await relay(m, deviceId, PSP_COMMAND.TIO_DEV_DISCONNECT, buf(DISCONNECT_FORCE), ctrl);
    }
    await reclaimTdis(m, ctx);
    const reclaim = (await runCommand(m, PSP_COMMAND.TIO_DEV_RECLAIM, encode(TIO_DEV_RECLAIM_BUF, { length: TIO_DEV_RECLAIM_BUF.bytes, devCtxSla: slaOfPages(m, ctx.pages) ?? slaOf(host.devCtx) }))).done;
    await freeHost(m, host);
    const shown = first !== undefined && first.status !== FW_STATUS.SUCCESS ? first : reclaim;
    return result(shown, { deviceId, steps, forced: force || (first !== undefined && first.status !== FW_STATUS.SUCCESS), reclaimStatus: reclaim.statusName });
  });
}
