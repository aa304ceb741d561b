/**
 * The firmware conveniences over the PSP mailbox (protocol/README.md §4.2, §4.6):
 * each does what Linux's ccp driver does for it (a command buffer in a pool page,
 * firmware pages made with RMPUPDATE and given back with SNP_PAGE_RECLAIM, the
 * SPDM relay through the device's DOE mailbox) and issues every command through
 * the same registers a host driver writes, so fault rules on psp.COMMAND apply.
 */
import type { Machine } from './machine.js';
import { FW_STATUS } from '../firmware/status.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import { RMP_RC } from '../rmp/return-codes.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { bytesToHex, concatBytes, hexToBytes, readBytes, writeBytes } from '../psp/bytes.js';
import { decode, encode } from '../psp/layout.js';
import { PSP_COMMAND } from '../psp/command-ids.js';
import type { PspCommandDone } from '../psp/psp-device.js';
import {
  DISCONNECT_FORCE,
  INIT_EX_INIT_RMP,
  INIT_EX_TIO_EN,
  SNP_ADDR_BUF,
  SNP_INIT_EX_BUF,
  SNP_STATUS_PAGE,
  TIO_DEV_CONNECT_BUF,
  TIO_DEV_CREATE_BUF,
  TIO_DEV_DISCONNECT_BUF,
  TIO_DEV_RECLAIM_BUF,
  TIO_INIT_BUF,
  PADDR_PAGE_SIZE_2M,
} from '../psp/buffers.js';
import { MEAS_RAW_BITSTREAM, TIO_DEV_CERTIFICATES_BUF, TIO_DEV_MEASUREMENTS_BUF } from '../psp/tdi-buffers.js';
import { DOBJ_CERT_HDR, DOBJ_DATA_TYPE, DOBJ_ID, DOBJ_OFFSET, DOBJ_REQ_RESP_HDR, encodeSla, RESP_ALIGN, SLA_BUFFER_HDR, SLA_EOL, readBuffer, writeBuffer } from '../psp/sla.js';
import type { DoeFeature } from '../psp/spdm-device.js';
import type { HostBuffer, TioHostDevice } from './tio-host.js';
import { issue, runAsync, type PspSteps } from './psp-steps.js';

type Done = PspCommandDone;

export function result<E extends object = object>(d: Done, extra?: E) {
  return { status: d.status, statusName: d.statusName, ...(d.detail !== undefined ? { detail: d.detail } : {}), ...(extra as E) };
}

/** One command with `bytes` as its buffer in a fresh pool page (none for a command without one); `read` sees the page after it ran. */
export function runCommand<T = undefined>(m: Machine, command: number, bytes: Uint8Array | null, read?: (bufSpa: number) => T): Promise<{ done: Done; out: T | undefined }> {
  return runAsync(m, runCommandSteps(m, command, bytes, read));
}

/** runCommand as steps of a sequence (psp-steps.ts). */
export function* runCommandSteps<T = undefined>(m: Machine, command: number, bytes: Uint8Array | null, read?: (bufSpa: number) => T): PspSteps<{ done: Done; out: T | undefined }> {
  if (bytes === null) return { done: yield* issue(command, 0), out: undefined };
  const spa = m.pool.alloc(1);
  try {
    writeBytes(m.memory, spa, bytes);
    const done = yield* issue(command, spa);
    return { done, out: read?.(spa) };
  } finally {
    if (m.pool.isAllocated(spa)) m.pool.release(spa, 1);
  }
}

/** rmp_mark_pages_firmware: RMPUPDATE each page Assigned, ASID 0, Immutable. */
export function markFirmware(m: Machine, spa: number, pages: number): void {
  for (let i = 0; i < pages; i++) {
    const rc = m.rmp.rmpUpdate(spa + i * PAGE_BYTES, { assigned: true, pageSize: '4K', asid: 0, gpa: 0, immutable: true });
    if (rc !== RMP_RC.SUCCESS) throw new EmuError(ERROR_CODES.WRONG_MODE, `RMPUPDATE of the firmware page 0x${(spa + i * PAGE_BYTES).toString(16)} failed (rc ${rc})`);
  }
}

/**
 * snp_reclaim_pages + rmp_make_shared: SNP_PAGE_RECLAIM then RMPUPDATE shared, page
 * by page. A page whose reclaim fails is leaked as Linux leaks it (never freed);
 * returns whether all came back.
 */
export function reclaimPages(m: Machine, spa: number, pages: number): Promise<boolean> {
  return runAsync(m, reclaimPagesSteps(m, spa, pages));
}

export function* reclaimPagesSteps(m: Machine, spa: number, pages: number): PspSteps<boolean> {
  let all = true;
  for (let i = 0; i < pages; i++) {
    const p = spa + i * PAGE_BYTES;
    const { done } = yield* runCommandSteps(m, PSP_COMMAND.SNP_PAGE_RECLAIM, encode(SNP_ADDR_BUF, { address: BigInt(p) }));
    if (done.status !== FW_STATUS.SUCCESS || m.rmp.rmpUpdate(p, { assigned: false, pageSize: '4K' }) !== RMP_RC.SUCCESS) all = false;
  }
  return all;
}

// ---- fw.* --------------------------------------------------------------------------------

/** fw.platformStatus: SNP_PLATFORM_STATUS to a page (a firmware page once SNP is up, reclaimed after), decoded. */
export function fwPlatformStatus(m: Machine) {
  return m.firmware.submit('fw.platformStatus', {}, async () => {
    const page = m.pool.alloc(1);
    const firmwarePage = m.firmware.snpInitialized;
    if (firmwarePage) markFirmware(m, page, 1);
    const { done } = await runCommand(m, PSP_COMMAND.SNP_PLATFORM_STATUS, encode(SNP_ADDR_BUF, { address: BigInt(page) }));
    const s = decode(SNP_STATUS_PAGE, readBytes(m.memory, page, SNP_STATUS_PAGE.bytes));
    const back = firmwarePage ? await reclaimPages(m, page, 1) : true;
    if (back && m.pool.isAllocated(page)) m.pool.release(page, 1);
    return result(done, {
      snpInit: m.firmware.snpInitialized,
      tioInit: m.firmware.tioInitialized,
      tioEn: m.psp.tio.tioEn,
      apiVersion: `${s.apiMajor}.${s.apiMinor}`,
      state: s.state,
      isRmpInitialized: s.isRmpInitialized === 1,
      buildId: s.buildId,
      guestCount: s.guestCount,
      guests: m.guests.list().map((g) => g.asid),
      tdis: [...m.firmware.bindings.entries()].sort((a, b) => a[0] - b[0]).map(([deviceId, asid]) => ({ deviceId, asid })),
      devices: m.psp.tio.contexts.map((c) => ({ deviceId: c.deviceId, state: c.state })),
    });
  });
}

/** fw.init: SNP_INIT_EX (init_rmp, tio_en when supported), SNP_DF_FLUSH, TIO_INIT; INVALID_PLATFORM_STATE when both are up. */
export function fwInit(m: Machine) {
  return m.firmware.submit('fw.init', {}, async () => {
    if (!m.firmware.snpInitialized || !m.firmware.tioInitialized) {
      if (!m.firmware.snpInitialized) {
        const flags = INIT_EX_INIT_RMP | (m.psp.config.tioSupported ? INIT_EX_TIO_EN : 0);
        const { done } = await runCommand(m, PSP_COMMAND.SNP_INIT_EX, encode(SNP_INIT_EX_BUF, { flags }));
        if (done.status !== FW_STATUS.SUCCESS) return result(done);
        const flush = (await runCommand(m, PSP_COMMAND.SNP_DF_FLUSH, null)).done;
        if (flush.status !== FW_STATUS.SUCCESS) return result(flush);
      }
      const { done } = await runCommand(m, PSP_COMMAND.TIO_INIT, encode(TIO_INIT_BUF, { length: TIO_INIT_BUF.bytes }));
      return result(done);
    }
    const { done } = await runCommand(m, PSP_COMMAND.SNP_INIT_EX, encode(SNP_INIT_EX_BUF, { flags: INIT_EX_INIT_RMP }));
    return result(done);
  });
}

/** The SLA naming a context by its pages: the DATA SLA of a one-page context, else the host's scatter page when we hold it. */
export function slaOfPages(m: Machine, pages: number[]): bigint | null {
  for (const d of m.tioHost.devices.values()) if (d.devCtx.spa === pages[0]) return slaOf(d.devCtx);
  return pages.length === 1 ? encodeSla(BigInt(pages[0] as number)) : null;
}

/** fw.pageUnsmash: SNP_PAGE_UNSMASH. */
export function fwPageUnsmash(m: Machine, spa: number) {
  return m.firmware.submit('fw.pageUnsmash', { spa: BigInt(spa) }, async () => result((await runCommand(m, PSP_COMMAND.SNP_PAGE_UNSMASH, encode(SNP_ADDR_BUF, { address: BigInt(spa) }))).done));
}

/** fw.pageReclaim: SNP_PAGE_RECLAIM of a 4 KB page or a 2 MB region (paddr bit 0). */
export function fwPageReclaim(m: Machine, spa: number, pageSize: '4K' | '2M') {
  return m.firmware.submit('fw.pageReclaim', { spa: BigInt(spa), pageSize }, async () => {
    const paddr = BigInt(spa) | (pageSize === '2M' ? PADDR_PAGE_SIZE_2M : 0n);
    return result((await runCommand(m, PSP_COMMAND.SNP_PAGE_RECLAIM, encode(SNP_ADDR_BUF, { address: paddr }))).done);
  });
}

// ---- tio.* and pci.doe ---------------------------------------------------------------------

/** pci.doe: one request to a device's DOE mailbox (CMA or SSESSION); reported on topic psp. */
export function pciDoe(m: Machine, deviceId: number, feature: DoeFeature, request: Uint8Array): Uint8Array {
  const { response, step } = m.doe.exchange(deviceId, feature, request);
  if (m.bus.has('psp')) m.bus.emit('psp', m.clock.nowNs, { kind: 'doe', ...step });
  return response;
}

export function slaOf(b: HostBuffer): bigint {
  return b.scatterSpa === null ? encodeSla(BigInt(b.spa)) : encodeSla(BigInt(b.scatterSpa), true);
}

function dataPages(b: HostBuffer): number[] {
  return Array.from({ length: b.pages }, (_, i) => b.spa + i * PAGE_BYTES);
}

/** sla_alloc: `bytes` of DATA pages (firmware-owned or not), with a SCATTER page past one page; the buffer header's capacity set. */
export function allocBuffer(m: Machine, bytes: number, firmware: boolean): HostBuffer {
  const pages = Math.max(1, Math.ceil(bytes / PAGE_BYTES));
  const spa = m.pool.alloc(pages);
  let scatterSpa: number | null = null;
  if (pages > 1) {
    scatterSpa = m.pool.alloc(1);
    const list: bigint[] = [];
    for (let i = 0; i < pages; i++) list.push(encodeSla(BigInt(spa + i * PAGE_BYTES)));
    list.push(SLA_EOL);
    m.memory.writeWords(scatterSpa, list);
  }
  writeBytes(m.memory, spa, encode(SLA_BUFFER_HDR, { capacitySz: pages * PAGE_BYTES }));
  if (firmware) markFirmware(m, spa, pages);
  return { spa, pages, scatterSpa, firmware };
}

export function freeBuffer(m: Machine, b: HostBuffer): Promise<void> {
  return runAsync(m, freeBufferSteps(m, b));
}

export function* freeBufferSteps(m: Machine, b: HostBuffer): PspSteps<void> {
  const back = b.firmware ? yield* reclaimPagesSteps(m, b.spa, b.pages) : true;
  if (back && m.pool.isAllocated(b.spa)) m.pool.release(b.spa, b.pages);
  if (b.scatterSpa !== null && m.pool.isAllocated(b.scatterSpa)) m.pool.release(b.scatterSpa, 1);
}

export function freeHost(m: Machine, d: TioHostDevice): Promise<void> {
  return runAsync(m, freeHostSteps(m, d));
}

function* freeHostSteps(m: Machine, d: TioHostDevice): PspSteps<void> {
  m.tioHost.devices.delete(d.deviceId);
  yield* freeBufferSteps(m, d.devCtx);
  if (d.ctrl !== null) for (const b of [d.ctrl.req, d.ctrl.resp, d.ctrl.scratch, d.ctrl.output]) yield* freeBufferSteps(m, b);
}

export function allocCtrl(m: Machine): NonNullable<TioHostDevice['ctrl']> {
  const t = m.psp.config.tio;
  const ctrl = { req: allocBuffer(m, t.spdmReqSizeMax, true), resp: allocBuffer(m, t.spdmReqSizeMax, false), scratch: allocBuffer(m, t.spdmScratchSizeMax, true), output: allocBuffer(m, t.spdmOutSizeMax, true) };
  // Linux pre-fills resp with a RESP data object header.
  writeBytes(m.memory, ctrl.resp.spa + DOBJ_OFFSET, encode(DOBJ_REQ_RESP_HDR, { id: DOBJ_ID.RESP, length: DOBJ_REQ_RESP_HDR.bytes, versionMajor: 1 }));
  return ctrl;
}

/**
 * Issues a TIO command and relays while it answers SPDM_REQUEST (sev_tio_do_cmd /
 * sev_tio_continue): the request in `req` goes to the device's DOE mailbox and its
 * answer to `resp` as a RESP data object (length padded to 32 as Linux does), then
 * the same command again with the same buffer.
 */
export function relay(m: Machine, deviceId: number, command: number, bytes: Uint8Array, ctrl: NonNullable<TioHostDevice['ctrl']>, pending = false): Promise<{ done: Done; steps: number }> {
  return runAsync(m, relaySteps(m, deviceId, command, bytes, ctrl, pending));
}

export function* relaySteps(m: Machine, deviceId: number, command: number, bytes: Uint8Array, ctrl: NonNullable<TioHostDevice['ctrl']>, pending = false): PspSteps<{ done: Done; steps: number }> {
  const spa = m.pool.alloc(1);
  try {
    writeBytes(m.memory, spa, bytes);
    // `pending`: the firmware already answered SPDM_REQUEST (a host resuming the loop): relay that request first.
    let done: Pick<Done, 'status'> & Partial<Done> = pending ? { status: FW_STATUS.SPDM_REQUEST } : yield* issue(command, spa);
    let steps = 0;
    const req = dataPages(ctrl.req);
    const resp = dataPages(ctrl.resp);
    while (done.status === FW_STATUS.SPDM_REQUEST) {
      const h = decode(DOBJ_REQ_RESP_HDR, readBuffer(m.memory, req, DOBJ_OFFSET, DOBJ_REQ_RESP_HDR.bytes));
      const message = readBuffer(m.memory, req, DOBJ_OFFSET + DOBJ_REQ_RESP_HDR.bytes, Math.max(0, h.length - DOBJ_REQ_RESP_HDR.bytes));
      const answer = pciDoe(m, deviceId, h.dataType === DOBJ_DATA_TYPE.SECURE_SPDM ? 'ssession' : 'cma', message);
      const len = Math.ceil((DOBJ_REQ_RESP_HDR.bytes + answer.length) / RESP_ALIGN) * RESP_ALIGN;
      const padded = new Uint8Array(len - DOBJ_REQ_RESP_HDR.bytes);
      padded.set(answer);
      writeBuffer(m.memory, resp, 0, concatBytes(encode(SLA_BUFFER_HDR, { capacitySz: resp.length * PAGE_BYTES, payloadSz: len }), new Uint8Array(SLA_BUFFER_HDR.bytes - 12)));
      writeBuffer(m.memory, resp, DOBJ_OFFSET, concatBytes(encode(DOBJ_REQ_RESP_HDR, { id: DOBJ_ID.RESP, length: len, versionMajor: 1, dataType: h.dataType }), padded));
      steps++;
      done = yield* issue(command, spa);
    }
    return { done: done as Done, steps };
  } finally {
    if (m.pool.isAllocated(spa)) m.pool.release(spa, 1);
  }
}

export function checkDevice(deviceId: number): void {
  if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) throw invalidArgument(`deviceId must be 0..0xffff, got ${deviceId}`, { path: ['deviceId'] });
}

/**
 * tio.connect: as dsm_connect in AMD's tree (docs/sev-firmware.md §3.4): TIO_DEV_CREATE,
 * TIO_DEV_CONNECT with the relay, TIO_DEV_MEASUREMENTS, TIO_DEV_CERTIFICATES as a
 * self-check; on a failure the context is reclaimed as Linux does.
 */
export function tioConnect(m: Machine, deviceId: number) {
  checkDevice(deviceId);
  return m.firmware.submit('tio.connect', { deviceId }, () => connectDevice(m, deviceId));
}

/** connectDevice inside a firmware command's turn. */
export function connectDevice(m: Machine, deviceId: number) {
  return runAsync(m, connectSteps(m, deviceId));
}

/** The body of a data object (4 certificates, 5 measurements) the firmware wrote to `output`, or null when another object is there. */
function outputObject(m: Machine, output: HostBuffer, id: number): Uint8Array | null {
  const pages = dataPages(output);
  const h = decode(DOBJ_CERT_HDR, readBuffer(m.memory, pages, DOBJ_OFFSET, DOBJ_CERT_HDR.bytes));
  if (h.id !== id || h.length < DOBJ_CERT_HDR.bytes || DOBJ_OFFSET + h.length > pages.length * PAGE_BYTES) return null;
  return readBuffer(m.memory, pages, DOBJ_OFFSET + DOBJ_CERT_HDR.bytes, h.length - DOBJ_CERT_HDR.bytes);
}

/**
 * TIO_DEV_CREATE (when the device has no context), TIO_DEV_CONNECT with the relay
 * (the chain, object 4, kept), TIO_DEV_MEASUREMENTS (RAW_BITSTREAM, the TSM's nonce:
 * zero; object 5) and TIO_DEV_CERTIFICATES, whose chain must match the connect's
 * (a mismatch or failure is reported, as Linux only logs it). A failed connect or
 * measurement: the context disconnected (FORCE, when connected) and reclaimed, every page back.
 */
export function* connectSteps(m: Machine, deviceId: number): PspSteps<ReturnType<typeof result> & { deviceId: number; steps: number; certificateBytes?: number; measurementBytes?: number; certificatesMatch?: boolean }> {
  let host = m.tioHost.devices.get(deviceId);
  if (host === undefined) {
    const devCtx = allocBuffer(m, m.psp.config.tio.devctxSize, true);
    const { done } = yield* runCommandSteps(m, PSP_COMMAND.TIO_DEV_CREATE, encode(TIO_DEV_CREATE_BUF, { length: TIO_DEV_CREATE_BUF.bytes, devCtxSla: slaOf(devCtx), deviceId, rootPortId: 0, segmentId: 0 }));
    if (done.status !== FW_STATUS.SUCCESS) {
      yield* freeBufferSteps(m, devCtx);
      return result(done, { deviceId, steps: 0 });
    }
    host = { deviceId, devCtx, ctrl: null };
    m.tioHost.devices.set(deviceId, host);
  }
  host.ctrl ??= allocCtrl(m);
  const ctrl = host.ctrl;
  const slas = { reqSla: slaOf(ctrl.req), respSla: slaOf(ctrl.resp), scratchSla: slaOf(ctrl.scratch), outputSla: slaOf(ctrl.output), devCtxSla: slaOf(host.devCtx) };
  const buf = encode(TIO_DEV_CONNECT_BUF, { length: TIO_DEV_CONNECT_BUF.bytes, ...slas, tcMask: 1, certSlot: 0, ideStreamIds: 0xffff_ffff_ffff_ff00n });
  const connect = yield* relaySteps(m, deviceId, PSP_COMMAND.TIO_DEV_CONNECT, buf, ctrl);
  let steps = connect.steps;
  let failed: Done | null = connect.done.status !== FW_STATUS.SUCCESS ? connect.done : null;
  let measurementBytes = 0;
  let certs: Uint8Array | null = null;
  if (failed === null) {
    certs = outputObject(m, ctrl.output, DOBJ_ID.CERTIFICATE);
    const meas = yield* relaySteps(m, deviceId, PSP_COMMAND.TIO_DEV_MEASUREMENTS, encode(TIO_DEV_MEASUREMENTS_BUF, { length: TIO_DEV_MEASUREMENTS_BUF.bytes, flags: MEAS_RAW_BITSTREAM, ...slas }), ctrl);
    steps += meas.steps;
    if (meas.done.status !== FW_STATUS.SUCCESS) failed = meas.done;
    else measurementBytes = outputObject(m, ctrl.output, DOBJ_ID.MEASUREMENT)?.length ?? 0;
  }
  if (failed !== null) {
    if (m.psp.tio.contexts.some((c) => c.deviceId === deviceId)) {
      // Linux's free_exit reclaims a connected context as it is; the firmware refuses that, so the convenience disconnects it (FORCE) first.
      if (m.psp.tio.contexts.some((c) => c.deviceId === deviceId && c.state === 'connected'))
        yield* runCommandSteps(m, PSP_COMMAND.TIO_DEV_DISCONNECT, encode(TIO_DEV_DISCONNECT_BUF, { length: TIO_DEV_DISCONNECT_BUF.bytes, flags: DISCONNECT_FORCE, ...slas }));
      yield* runCommandSteps(m, PSP_COMMAND.TIO_DEV_RECLAIM, encode(TIO_DEV_RECLAIM_BUF, { length: TIO_DEV_RECLAIM_BUF.bytes, devCtxSla: slaOf(host.devCtx) }));
      yield* freeHostSteps(m, host);
    }
    return result(failed, { deviceId, steps, ...(failed !== connect.done ? { connectStatus: connect.done.statusName } : {}) });
  }
  const self = (yield* runCommandSteps(m, PSP_COMMAND.TIO_DEV_CERTIFICATES, encode(TIO_DEV_CERTIFICATES_BUF, { length: TIO_DEV_CERTIFICATES_BUF.bytes, ...slas }))).done;
  const again = self.status === FW_STATUS.SUCCESS ? outputObject(m, ctrl.output, DOBJ_ID.CERTIFICATE) : null;
  const certificatesMatch = certs !== null && again !== null && bytesToHex(certs) === bytesToHex(again);
  return result(connect.done, { deviceId, steps, certificateBytes: certs?.length ?? 0, measurementBytes, certificatesMatch });
}

export { bytesToHex, hexToBytes };
