/**
 * The SEV-TIO TDI commands (phase 2, AMD's tree; docs/sev-firmware.md §2.8, §3.4;
 * the rules where Linux is silent in protocol/README.md §4.7): a device context's
 * status, the TDI's life (TDI_CREATE, TDI_BIND with its secured TDISP exchange,
 * TDI_UNBIND, TDI_RECLAIM), its status, info and report, and the ASID fence.
 *
 * The TDI's TDISP state governs what the IOMMU sees (Firmware.setBinding/setFence):
 * a TDI in RUN binds its function to the guest's ASID; leaving RUN or CONFIG_LOCKED
 * (an unbind, or an exchange failing after the device locked: ERROR) fences the
 * function's DMA from that ASID until TIO_ASID_FENCE_CLEAR.
 */
import { FW_STATUS } from '../firmware/status.js';
import { bytesToHex, hexToBytes } from './bytes.js';
import { decode } from './layout.js';
import { BIND_RUN_FORCE, TIO_TDI_BIND_BUF, TIO_TDI_CREATE_BUF, TIO_TDI_RECLAIM_BUF, TIO_TDI_REPORT_BUF, TIO_TDI_UNBIND_BUF, UNBIND_FORCE } from './tdi-buffers.js';
import { DOBJ_ID, PAGE, slaPages } from './sla.js';
import type { CommandContext, CommandOutcome, DevCtx, Exchange, TdiCtx } from './psp-config.js';
import { fail, isFirmwarePage, ok } from './command-outcome.js';
import { readResponse, writeDataObject, writeRequest } from './spdm-exchange.js';
import { secured, SPDM_REQUEST, SPDM_RESPONSE, SPDM_VERSION_12, spdmHeader, spdmMessage, unsecured } from './spdm.js';
import { PSP_COMMAND } from './command-ids.js';
import {
  lockInterfacePayload,
  parseReportPortion,
  REPORT_CHUNK_BYTES,
  reportRequestPayload,
  TDISP_REQUEST,
  TDISP_RESPONSE,
  tdispErrorCode,
  tdispMessage,
  tdispOf,
  tdispRequestName,
  tdispResponseFor,
  tdispVendorBody,
} from './tdisp.js';

const hexId = (id: number) => '0x' + id.toString(16).padStart(4, '0');
export const isOutcome = (x: unknown): x is CommandOutcome => typeof x === 'object' && x !== null && 'status' in x;

/** Exchange steps of the TDI commands (after the connect plan's). */
export const TDI_STEP = { LOCK: 30, REPORT: 31, START: 32, STOP: 33, DONE: 39 } as const;

export function needTio(c: CommandContext): CommandOutcome | null {
  if (c.firmware.snpInitialized && c.firmware.tioInitialized) return null;
  return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SEV-TIO is not initialised (SNP_INIT_EX with tio_en, then TIO_INIT)');
}

function firstPage(c: CommandContext, sla: bigint, what: string): number | CommandOutcome {
  const r = slaPages(c.memory, sla, (v) => c.strip(v));
  if (!r.ok) return fail(FW_STATUS.INVALID_ADDRESS, `${what}: ${r.why}`);
  return r.pages[0] as number;
}

export function devCtxOf(c: CommandContext, sla: bigint): DevCtx | CommandOutcome {
  const p = firstPage(c, sla, 'dev_ctx_sla');
  if (isOutcome(p)) return p;
  return c.tio.contexts.find((x) => x.pages[0] === p) ?? fail(FW_STATUS.INVALID_DEV_CTX, `dev_ctx_sla names no live device context (page 0x${p.toString(16)})`, { spa: BigInt(p) });
}

export function tdiOf(c: CommandContext, ctx: DevCtx, sla: bigint): TdiCtx | CommandOutcome {
  const p = firstPage(c, sla, 'tdi_ctx_sla');
  if (isOutcome(p)) return p;
  const t = c.tio.tdis.find((x) => x.pages[0] === p);
  if (t === undefined) return fail(FW_STATUS.INVALID_TDI_CTX, `tdi_ctx_sla names no live TDI context (page 0x${p.toString(16)})`, { spa: BigInt(p) });
  if (t.ctxDeviceId !== ctx.deviceId) return fail(FW_STATUS.INVALID_TDI_CTX, `the TDI context belongs to device ${hexId(t.ctxDeviceId)}, not ${hexId(ctx.deviceId)}`, { deviceId: t.ctxDeviceId });
  return t;
}

/** A firmware page holding `bytes` at spa (the output pages Linux points into data_pg). */
export function outputPage(c: CommandContext, paddr: bigint, bytes: number, what: string): number | CommandOutcome {
  const spa = c.strip(paddr);
  if (!c.memory.contains(spa, bytes)) return fail(FW_STATUS.INVALID_ADDRESS, `${what} 0x${spa.toString(16)} is outside memory`, { spa: BigInt(spa) });
  if (!isFirmwarePage(c, spa - (spa % PAGE))) return fail(FW_STATUS.INVALID_PAGE_STATE, `${what} 0x${spa.toString(16)} is not in a firmware page`, { spa: BigInt(spa) });
  return spa;
}

export interface Ctrl {
  req: number[];
  resp: number[];
  output: number[];
}

export function ctrlOf(c: CommandContext, b: { reqSla: bigint; respSla: bigint; outputSla: bigint }): Ctrl | CommandOutcome {
  const pages = (sla: bigint, what: string, hv: boolean): number[] | CommandOutcome => {
    const r = slaPages(c.memory, sla, (v) => c.strip(v));
    if (!r.ok) return fail(FW_STATUS.INVALID_ADDRESS, `${what}: ${r.why}`);
    for (const p of r.pages) {
      const e = c.rmp.read(p);
      const good = hv ? !e.assigned && !e.immutable : e.assigned && e.asid === 0 && e.immutable;
      if (!good) return fail(FW_STATUS.INVALID_PAGE_STATE, `${what}: page 0x${p.toString(16)} is not ${hv ? 'hypervisor-owned' : 'a firmware page'}`, { spa: BigInt(p) });
    }
    return r.pages;
  };
  const req = pages(b.reqSla, 'spdm_ctrl.req', false);
  if (isOutcome(req)) return req;
  const resp = pages(b.respSla, 'spdm_ctrl.resp', true);
  if (isOutcome(resp)) return resp;
  const output = pages(b.outputSla, 'spdm_ctrl.output', false);
  if (isOutcome(output)) return output;
  return { req, resp, output };
}

/** Moves a TDI to `state` and tells the IOMMU: RUN binds; leaving a bound state fences its DMA from the guest's ASID. */
function setState(c: CommandContext, t: TdiCtx, state: TdiCtx['state']): void {
  const wasBound = t.state === 'RUN' || t.state === 'CONFIG_LOCKED' || t.state === 'ERROR';
  t.state = state;
  if (state === 'RUN' && t.asid !== null) {
    c.firmware.setBinding(t.functionId, t.asid);
    if (c.firmware.fencedAsid(t.functionId) === t.asid) c.firmware.setFence(t.functionId, null);
    return;
  }
  if (c.firmware.boundAsid(t.functionId) >= 0) c.firmware.setBinding(t.functionId, null);
  if ((state === 'CONFIG_UNLOCKED' || state === 'ERROR') && wasBound && t.asid !== null) c.firmware.setFence(t.functionId, t.asid);
  if (state === 'CONFIG_UNLOCKED') t.asid = null;
}

/** Unbinds every TDI of a device context without an exchange (DEV_DISCONNECT with FORCE). */
export function unbindTdisOf(c: CommandContext, ctx: DevCtx): void {
  for (const t of c.tio.tdis) if (t.ctxDeviceId === ctx.deviceId && t.state !== 'CONFIG_UNLOCKED') setState(c, t, 'CONFIG_UNLOCKED');
}

/** A device context's TDIs that are bound (CONFIG_LOCKED, RUN or ERROR). */
export function boundTdisOf(c: CommandContext, ctx: DevCtx): TdiCtx[] {
  return c.tio.tdis.filter((t) => t.ctxDeviceId === ctx.deviceId && t.state !== 'CONFIG_UNLOCKED');
}

/** Whether a device context still has TDI contexts (DEV_RECLAIM: RECLAIM_REQUIRED). */
export function hasTdis(c: CommandContext, ctx: DevCtx): boolean {
  return c.tio.tdis.some((t) => t.ctxDeviceId === ctx.deviceId);
}

/** Whether a page is part of a live TDI context (SNP_PAGE_RECLAIM: INVALID_PAGE_STATE). */
export function tdiHolding(c: CommandContext, spa: number, bytes: number): TdiCtx | undefined {
  return c.tio.tdis.find((t) => t.pages.some((p) => p >= spa && p < spa + bytes));
}

// ---- the TDISP exchange ---------------------------------------------------------------

/** The TDISP request of the exchange's step. */
function tdispRequest(ex: Exchange, t: TdiCtx, ideStreamId: number): Uint8Array {
  const f = t.functionId;
  switch (ex.step) {
    case TDI_STEP.LOCK:
      return tdispMessage(TDISP_REQUEST.LOCK_INTERFACE, f, lockInterfacePayload(t.lockFlags, ideStreamId));
    case TDI_STEP.REPORT:
      return tdispMessage(TDISP_REQUEST.GET_DEVICE_INTERFACE_REPORT, f, reportRequestPayload(ex.cert.length / 2, REPORT_CHUNK_BYTES));
    case TDI_STEP.START:
      return tdispMessage(TDISP_REQUEST.START_INTERFACE, f, hexToBytes(t.nonce));
    default:
      return tdispMessage(TDISP_REQUEST.STOP_INTERFACE, f);
  }
}

type Verdict = { ok: true } | { ok: false; why: string; tdispError?: number };

/** Checks the device's answer to the step and moves the exchange on; `next` decides the step after a complete one. */
function acceptTdisp(ex: Exchange, t: TdiCtx, raw: Uint8Array, next: (step: number) => number): Verdict {
  const u = unsecured(raw);
  if (u === undefined || u.sessionId !== ex.sessionId) return { ok: false, why: `the secured response does not carry session 0x${(ex.sessionId ?? 0).toString(16)}` };
  const h = spdmHeader(u.message);
  if (h === undefined) return { ok: false, why: 'the response is shorter than an SPDM header' };
  if (h.code === SPDM_RESPONSE.ERROR) return { ok: false, why: `the device answered with SPDM ERROR 0x${h.param1.toString(16)}`, tdispError: h.param1 };
  if (h.code !== SPDM_RESPONSE.VENDOR_DEFINED_RESPONSE) return { ok: false, why: `response code 0x${h.code.toString(16)} is not VENDOR_DEFINED_RESPONSE` };
  const m = tdispOf(u.message);
  if (m === undefined) return { ok: false, why: 'the VENDOR_DEFINED_RESPONSE carries no TDISP message' };
  const name = tdispRequestName(ex.requestCode) ?? `0x${ex.requestCode.toString(16)}`;
  if (m.type === TDISP_RESPONSE.TDISP_ERROR) return { ok: false, why: `the device refused ${name} with TDISP_ERROR 0x${tdispErrorCode(m.payload).toString(16)}`, tdispError: tdispErrorCode(m.payload) };
  if (m.type !== tdispResponseFor(ex.requestCode) || (m.functionId & 0xffff) !== t.functionId) return { ok: false, why: `TDISP response 0x${m.type.toString(16)} does not answer ${name} for ${hexId(t.functionId)}` };
  if (ex.step === TDI_STEP.LOCK) {
    if (m.payload.length < 32) return { ok: false, why: 'LOCK_INTERFACE_RESPONSE is shorter than its nonce' };
    t.nonce = bytesToHex(m.payload.subarray(0, 32));
  } else if (ex.step === TDI_STEP.REPORT) {
    const r = parseReportPortion(m.payload);
    if (r === undefined || r.portion.length === 0) return { ok: false, why: 'DEVICE_INTERFACE_REPORT is malformed or empty' };
    ex.cert += bytesToHex(r.portion);
    if (ex.cert.length / 2 > 0xffff) return { ok: false, why: 'the interface report is longer than 64 KiB' };
    if (r.remainder > 0) return { ok: true };
  }
  ex.step = next(ex.step);
  return { ok: true };
}

/**
 * One turn of a TDI command's exchange (as the connect's: a re-issue checks the
 * answer in resp, then the next request goes to req with SPDM_REQUEST, or the plan
 * is done). On a bad answer the exchange ends: `failed` is told, SPDM_ERROR.
 */
function turn(
  c: CommandContext,
  name: string,
  command: number,
  ctx: DevCtx,
  t: TdiCtx,
  ctrl: Ctrl,
  first: number,
  next: (step: number) => number,
  failed: (v: Verdict & { ok: false }, step: number) => void,
): CommandOutcome | { done: Exchange } {
  let ex = c.tio.exchange;
  if (ex !== null && ex.ctxSpa === t.pages[0] && ex.command === command) {
    const r = readResponse(c.memory, ctrl.resp);
    const step = ex.step;
    const verdict: Verdict = 'why' in r ? { ok: false, why: r.why } : acceptTdisp(ex, t, r.message, next);
    c.spdmStep({
      command: name,
      deviceId: ctx.deviceId,
      functionId: t.functionId,
      phase: 'response',
      request: tdispRequestName(ex.requestCode) ?? ex.requestCode,
      ok: verdict.ok,
      ...(verdict.ok ? {} : { why: verdict.why }),
    });
    if (!verdict.ok) {
      c.tio.exchange = null;
      failed(verdict, step);
      return fail(FW_STATUS.SPDM_ERROR, verdict.why, { deviceId: ctx.deviceId, functionId: t.functionId, ...(verdict.tdispError !== undefined ? { tdispError: verdict.tdispError } : {}) });
    }
  } else {
    ex = { ctxSpa: t.pages[0] as number, command, step: first, sub: 0, requestCode: 0, securedRequest: true, cert: '', reqSessionId: 0, sessionId: ctx.sessionId };
    c.tio.exchange = ex;
  }
  if (ex.step === TDI_STEP.DONE) {
    c.tio.exchange = null;
    return { done: ex };
  }
  const tdisp = tdispRequest(ex, t, ctx.ideStreamId);
  ex.requestCode = tdisp[1] as number;
  const message = secured(ex.sessionId ?? 0, spdmMessage(SPDM_VERSION_12, SPDM_REQUEST.VENDOR_DEFINED_REQUEST, 0, 0, tdispVendorBody(tdisp)));
  writeRequest(c.memory, ctrl.req, { message, secured: true });
  c.spdmStep({ command: name, deviceId: ctx.deviceId, functionId: t.functionId, phase: 'request', request: tdispRequestName(ex.requestCode) ?? ex.requestCode, secured: true, bytes: message.length });
  return { status: FW_STATUS.SPDM_REQUEST };
}

/** The interface report to `output` as data object 6 (REPORT, type 1). */
function writeReport(c: CommandContext, ctrl: Ctrl, ctx: DevCtx, report: Uint8Array): CommandOutcome | null {
  return writeDataObject(c.memory, ctrl.output, DOBJ_ID.REPORT, ctx.deviceId, report) ? null : fail(FW_STATUS.RESPONSE_TOO_LARGE, 'the interface report does not fit in output');
}

// ---- commands ---------------------------------------------------------------------------

/**
 * TIO_GUEST_REQUEST (0xE0): not served. Its buffer is public (docs/sev-firmware.md
 * §2.8) but `req_paddr` and `res_paddr` hold SNP guest messages encrypted with the
 * guest's VMPCK whose TIO message types and payloads only AMD's SEV-TIO firmware
 * specification (#58271, not public) defines: answering would mean inventing them.
 * After the checks every command gets (id, buffer address, `length`): UNSUPPORTED.
 */
export function tioGuestRequestUnsupported(): CommandOutcome {
  return fail(
    FW_STATUS.UNSUPPORTED,
    "TIO_GUEST_REQUEST is not served: its guest messages (req_paddr, res_paddr) are defined only in AMD's SEV-TIO firmware specification #58271, which is not public; nothing was read or changed",
    { command: 'TIO_GUEST_REQUEST', notPublic: true },
  );
}

/** TIO_TDI_CREATE (0xDA): the tdi_ctx pages become a TDI of a connected device, CONFIG_UNLOCKED. */
export function tioTdiCreate(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_CREATE_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if (ctx.state !== 'connected') return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is not connected`, { deviceId: ctx.deviceId });
  const rid = b.functionId & 0xffff;
  const rsegValid = (b.functionId >>> 24) & 1;
  if (rsegValid === 1 && ((b.functionId >>> 16) & 0xff) !== 0) return fail(FW_STATUS.INVALID_PARAM, 'interface_id: only segment 0 exists');
  // A TDI is a function of the device: same bus and device number.
  if (rid >>> 3 !== ctx.deviceId >>> 3) return fail(FW_STATUS.INVALID_PARAM, `interface_id RID ${hexId(rid)} is not a function of device ${hexId(ctx.deviceId)}`, { functionId: rid });
  const r = slaPages(c.memory, b.tdiCtxSla, (v) => c.strip(v));
  if (!r.ok) return fail(FW_STATUS.INVALID_ADDRESS, `tdi_ctx_sla: ${r.why}`);
  for (const p of r.pages) if (!isFirmwarePage(c, p)) return fail(FW_STATUS.INVALID_PAGE_STATE, `tdi_ctx_sla: page 0x${p.toString(16)} is not a firmware page (RMP Assigned, ASID 0, Immutable)`, { spa: BigInt(p) });
  if (r.pages.length * PAGE < c.config.tio.tdictxSize) return fail(FW_STATUS.INCORRECT_BUFFER_LENGTH, `tdi_ctx_sla: ${r.pages.length * PAGE} bytes, below the ${c.config.tio.tdictxSize} TIO_STATUS asks for`);
  if (c.tio.tdis.some((t) => t.functionId === rid)) return fail(FW_STATUS.IN_USE, `function ${hexId(rid)} already has a TDI context`, { functionId: rid });
  const taken = (p: number) => c.tio.contexts.some((x) => x.pages.includes(p)) || c.tio.tdis.some((t) => t.pages.includes(p));
  if (r.pages.some(taken)) return fail(FW_STATUS.INVALID_PAGE_STATE, 'a tdi_ctx page is already part of a live context');
  c.tio.tdis.push({ ctxDeviceId: ctx.deviceId, functionId: rid, pages: r.pages, state: 'CONFIG_UNLOCKED', asid: null, guestDeviceId: 0, lockFlags: 0, nonce: '', report: '', reportCounter: 0 });
  return ok;
}

/** TIO_TDI_RECLAIM (0xDB): an unbound TDI; its pages become reclaimable. A bound one: INVALID_TDI_STATE. */
export function tioTdiReclaim(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_RECLAIM_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const t = tdiOf(c, ctx, b.tdiCtxSla);
  if (isOutcome(t)) return t;
  if (t.state !== 'CONFIG_UNLOCKED') return fail(FW_STATUS.INVALID_TDI_STATE, `the TDI of ${hexId(t.functionId)} is ${t.state}: unbind it first`, { functionId: t.functionId, tdispState: t.state });
  c.tio.tdis = c.tio.tdis.filter((x) => x !== t);
  if (c.tio.exchange?.ctxSpa === t.pages[0]) c.tio.exchange = null;
  return ok;
}

/**
 * TIO_TDI_BIND (0xDC): secured TDISP LOCK_INTERFACE (from CONFIG_UNLOCKED), the
 * interface report in chunks (to `output`, object 6), then with RUN_FORCE
 * START_INTERFACE. A refused LOCK changes nothing; a failure after the device
 * locked leaves the TDI in ERROR (fenced).
 */
export function tioTdiBind(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_BIND_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if (ctx.state !== 'connected') return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is not connected`, { deviceId: ctx.deviceId });
  const t = tdiOf(c, ctx, b.tdiCtxSla);
  if (isOutcome(t)) return t;
  const run = (b.runFlags & BIND_RUN_FORCE) !== 0;
  const inExchange = c.tio.exchange !== null && c.tio.exchange.ctxSpa === t.pages[0] && c.tio.exchange.command === PSP_COMMAND.TIO_TDI_BIND;
  if (!inExchange) {
    const gctx = c.strip(b.gctxPaddr);
    const guest = c.guests.byContextPage(gctx);
    if (guest === undefined) return fail(FW_STATUS.INVALID_GUEST, `gctx_paddr 0x${gctx.toString(16)} is not a live guest's context page`, { spa: BigInt(gctx) });
    const domain = c.firmware.deviceDomain(t.functionId);
    if (b.hostDomainId !== domain) return fail(FW_STATUS.INVALID_PARAM, `host_domain_id ${b.hostDomainId} is not the domain of ${hexId(t.functionId)}'s DTE (${domain})`, { functionId: t.functionId, domainId: domain });
    if (t.state === 'RUN' || t.state === 'ERROR') return fail(FW_STATUS.INVALID_TDI_STATE, `the TDI of ${hexId(t.functionId)} is ${t.state}`, { functionId: t.functionId, tdispState: t.state });
    if (t.state === 'CONFIG_LOCKED' && !run)
      return fail(FW_STATUS.INVALID_TDI_STATE, `the TDI of ${hexId(t.functionId)} is already CONFIG_LOCKED: bind again with RUN_FORCE to start it`, { functionId: t.functionId, tdispState: t.state });
    if (t.state === 'CONFIG_LOCKED' && t.asid !== guest.asid) return fail(FW_STATUS.INVALID_GUEST, `the TDI is locked for ASID ${t.asid}`, { functionId: t.functionId, asid: t.asid });
    t.asid = guest.asid;
    t.guestDeviceId = b.guestDeviceId;
    t.lockFlags = b.tdispLockIfFlags;
  }
  const ctrl = ctrlOf(c, b);
  if (isOutcome(ctrl)) return ctrl;
  const first = t.state === 'CONFIG_UNLOCKED' ? TDI_STEP.LOCK : TDI_STEP.REPORT;
  const next = (s: number) => (s === TDI_STEP.LOCK ? TDI_STEP.REPORT : s === TDI_STEP.REPORT && run ? TDI_STEP.START : TDI_STEP.DONE);
  const r = turn(c, 'TIO_TDI_BIND', PSP_COMMAND.TIO_TDI_BIND, ctx, t, ctrl, first, next, (_v, step) => {
    if (step === TDI_STEP.LOCK) {
      t.asid = null;
      return;
    }
    setState(c, t, 'ERROR');
  });
  if (!('done' in r)) {
    // LOCK answered: the device is locked from here on.
    if (r.status === FW_STATUS.SPDM_REQUEST && c.tio.exchange !== null && c.tio.exchange.step !== TDI_STEP.LOCK && t.state === 'CONFIG_UNLOCKED') setState(c, t, 'CONFIG_LOCKED');
    return r;
  }
  if (t.state === 'CONFIG_UNLOCKED') setState(c, t, 'CONFIG_LOCKED');
  const report = hexToBytes(r.done.cert);
  t.report = r.done.cert;
  t.reportCounter++;
  const tooBig = writeReport(c, ctrl, ctx, report);
  if (tooBig !== null) return tooBig;
  if (run) setState(c, t, 'RUN');
  return { status: FW_STATUS.SUCCESS, detail: { functionId: t.functionId, tdispState: t.state, reportBytes: report.length } };
}

/** TIO_TDI_UNBIND (0xDD): secured STOP_INTERFACE (FORCE: nothing exchanged); CONFIG_UNLOCKED, the function's DMA fenced from the ASID. */
export function tioTdiUnbind(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_UNBIND_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const t = tdiOf(c, ctx, b.tdiCtxSla);
  if (isOutcome(t)) return t;
  if (t.state === 'CONFIG_UNLOCKED') return fail(FW_STATUS.INVALID_TDI_STATE, `the TDI of ${hexId(t.functionId)} is not bound`, { functionId: t.functionId, tdispState: t.state });
  const guest = c.guests.byContextPage(c.strip(b.gctxPaddr));
  if (guest === undefined || guest.asid !== t.asid) return fail(FW_STATUS.INVALID_GUEST, `gctx_paddr is not the context page of the TDI's guest (ASID ${t.asid})`, { functionId: t.functionId, asid: t.asid });
  if ((b.flags & UNBIND_FORCE) !== 0 || ctx.state !== 'connected') {
    if ((b.flags & UNBIND_FORCE) === 0) return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is not connected: unbind with FORCE`, { deviceId: ctx.deviceId });
    if (c.tio.exchange?.ctxSpa === t.pages[0]) c.tio.exchange = null;
    setState(c, t, 'CONFIG_UNLOCKED');
    return ok;
  }
  const ctrl = ctrlOf(c, b);
  if (isOutcome(ctrl)) return ctrl;
  const r = turn(
    c,
    'TIO_TDI_UNBIND',
    PSP_COMMAND.TIO_TDI_UNBIND,
    ctx,
    t,
    ctrl,
    TDI_STEP.STOP,
    () => TDI_STEP.DONE,
    () => undefined,
  );
  if (!('done' in r)) return r;
  setState(c, t, 'CONFIG_UNLOCKED');
  return ok;
}

/** TIO_TDI_REPORT (0xDE): the last interface report read (by TDI_BIND) to `output` again. */
export function tioTdiReport(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_REPORT_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const t = tdiOf(c, ctx, b.tdiCtxSla);
  if (isOutcome(t)) return t;
  if (t.state === 'CONFIG_UNLOCKED' || t.report === '')
    return fail(FW_STATUS.INVALID_TDI_STATE, `the TDI of ${hexId(t.functionId)} has no interface report (bind it first)`, { functionId: t.functionId, tdispState: t.state });
  const ctrl = ctrlOf(c, b);
  if (isOutcome(ctrl)) return ctrl;
  return writeReport(c, ctrl, ctx, hexToBytes(t.report)) ?? ok;
}
