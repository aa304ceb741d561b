/**
 * The six SEV-TIO commands of Linux v6.19 (docs/sev-firmware.md §2.7; the rules
 * where Linux is silent in protocol/README.md §4.6): TIO_STATUS, TIO_INIT and the
 * device context's life (DEV_CREATE, DEV_CONNECT with its SPDM exchange,
 * DEV_DISCONNECT, DEV_RECLAIM).
 */
import { FW_STATUS } from '../firmware/status.js';
import { writeBytes } from './bytes.js';
import { decode, encode } from './layout.js';
import { DISCONNECT_FORCE, TIO_DEV_CONNECT_BUF, TIO_DEV_CREATE_BUF, TIO_DEV_DISCONNECT_BUF, TIO_DEV_RECLAIM_BUF, TIO_STATUS_BUF, TIO_STATUS_PAGE, TIO_STATUS_TIO_EN, TIO_STATUS_TIO_INIT_DONE } from './buffers.js';
import { DOBJ_ID, PAGE, slaPages } from './sla.js';
import type { CommandContext, CommandOutcome, DevCtx, Exchange } from './psp-config.js';
import { fail, isFirmwarePage, ok } from './command-outcome.js';
import { acceptResponse, exchangeCert, readResponse, requestFor, STEP, writeDataObject, writeRequest } from './spdm-exchange.js';
import { spdmRequestName, unsecured, spdmHeader } from './spdm.js';
import { PSP_COMMAND } from './command-ids.js';
import { boundTdisOf, hasTdis, isOutcome, unbindTdisOf } from './tdi-commands.js';

const hexId = (id: number) => '0x' + id.toString(16).padStart(4, '0');

function needTio(c: CommandContext): CommandOutcome | null {
  if (c.firmware.snpInitialized && c.firmware.tioInitialized) return null;
  return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SEV-TIO is not initialised (SNP_INIT_EX with tio_en, then TIO_INIT)');
}

/** TIO_STATUS (0xD0): the 64-byte status to a firmware page. */
export function tioStatus(c: CommandContext, buf: Uint8Array): CommandOutcome {
  if (!c.firmware.snpInitialized) return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SNP is not initialised');
  const spa = c.strip(decode(TIO_STATUS_BUF, buf).statusPaddr);
  if (!c.memory.contains(spa, TIO_STATUS_PAGE.bytes)) return fail(FW_STATUS.INVALID_ADDRESS, `status_paddr 0x${spa.toString(16)} is outside memory`, { spa: BigInt(spa) });
  if (!isFirmwarePage(c, spa - (spa % PAGE))) return fail(FW_STATUS.INVALID_PAGE_STATE, `status_paddr 0x${spa.toString(16)} is not in a firmware page`, { spa: BigInt(spa) });
  const t = c.config.tio;
  writeBytes(
    c.memory,
    spa,
    encode(TIO_STATUS_PAGE, {
      length: TIO_STATUS_PAGE.bytes,
      flags: (c.tio.tioEn ? TIO_STATUS_TIO_EN : 0) | (c.firmware.tioInitialized ? TIO_STATUS_TIO_INIT_DONE : 0),
      ...t,
      tioCryptoAlg: 0,
    }),
  );
  return ok;
}

/** TIO_INIT (0xD1): SNP initialised with tio_en, TIO not yet. */
export function tioInit(c: CommandContext): CommandOutcome {
  if (!c.firmware.snpInitialized || !c.tio.tioEn) return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'TIO_INIT needs SNP initialised by SNP_INIT_EX with tio_en');
  if (c.firmware.tioInitialized) return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SEV-TIO is already initialised');
  c.firmware.tioInitialized = true;
  return ok;
}

type Pages = { pages: number[] } | CommandOutcome;

/** An SLA buffer's DATA pages, each firmware-owned (or hypervisor-owned for `resp`), at least `min` bytes. */
function buffer(c: CommandContext, sla: bigint, what: string, min: number, hypervisor = false): Pages {
  const r = slaPages(c.memory, sla, (v) => c.strip(v));
  if (!r.ok) return fail(FW_STATUS.INVALID_ADDRESS, `${what}: ${r.why}`, r.spa !== undefined ? { spa: BigInt(r.spa) } : {});
  for (const p of r.pages) {
    const e = c.rmp.read(p);
    const good = hypervisor ? !e.assigned && !e.immutable : e.assigned && e.asid === 0 && e.immutable;
    if (!good)
      return fail(FW_STATUS.INVALID_PAGE_STATE, `${what}: page 0x${p.toString(16)} is not ${hypervisor ? 'hypervisor-owned (RMP Assigned 0, not immutable)' : 'a firmware page (RMP Assigned, ASID 0, Immutable)'}`, {
        spa: BigInt(p),
      });
  }
  if (r.pages.length * PAGE < min) return fail(FW_STATUS.INCORRECT_BUFFER_LENGTH, `${what}: ${r.pages.length * PAGE} bytes, below the ${min} TIO_STATUS asks for`);
  return { pages: r.pages };
}

/** The live context a dev_ctx SLA names (by its first DATA page). */
function contextOf(c: CommandContext, sla: bigint): DevCtx | CommandOutcome {
  const r = slaPages(c.memory, sla, (v) => c.strip(v));
  if (!r.ok) return fail(FW_STATUS.INVALID_ADDRESS, `dev_ctx_sla: ${r.why}`);
  const ctx = c.tio.contexts.find((x) => x.pages[0] === r.pages[0]);
  return ctx ?? fail(FW_STATUS.INVALID_DEV_CTX, `dev_ctx_sla names no live device context (page 0x${(r.pages[0] as number).toString(16)})`, { spa: BigInt(r.pages[0] as number) });
}

/** TIO_DEV_CREATE (0xD2): the dev_ctx pages become the device's live context. */
export function tioDevCreate(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_DEV_CREATE_BUF, buf);
  if (b.segmentId !== 0) return fail(FW_STATUS.INVALID_PARAM, `segment_id ${b.segmentId}: only segment 0 exists`);
  if (!c.config.tioDevices.includes(b.deviceId)) return fail(FW_STATUS.INVALID_PARAM, `device ${hexId(b.deviceId)} is not a TEE-IO capable device of this platform`, { deviceId: b.deviceId });
  const pages = buffer(c, b.devCtxSla, 'dev_ctx_sla', c.config.tio.devctxSize);
  if (isOutcome(pages)) return pages;
  if (c.tio.contexts.some((x) => x.deviceId === b.deviceId)) return fail(FW_STATUS.IN_USE, `device ${hexId(b.deviceId)} already has a device context`, { deviceId: b.deviceId });
  for (const x of c.tio.contexts) {
    if (x.pages.some((p) => pages.pages.includes(p))) return fail(FW_STATUS.INVALID_PAGE_STATE, `a dev_ctx page is already part of the context of device ${hexId(x.deviceId)}`, { deviceId: x.deviceId });
  }
  c.tio.contexts.push({ deviceId: b.deviceId, pages: pages.pages, state: 'created', sessionId: null, ideStreamId: 0 });
  return ok;
}

interface Ctrl {
  req: number[];
  resp: number[];
  output: number[];
}

function spdmCtrl(c: CommandContext, b: { reqSla: bigint; respSla: bigint; scratchSla: bigint; outputSla: bigint }): Ctrl | CommandOutcome {
  const t = c.config.tio;
  const req = buffer(c, b.reqSla, 'spdm_ctrl.req', t.spdmReqSizeMin);
  if (isOutcome(req)) return req;
  const resp = buffer(c, b.respSla, 'spdm_ctrl.resp', t.spdmReqSizeMin, true);
  if (isOutcome(resp)) return resp;
  const scratch = buffer(c, b.scratchSla, 'spdm_ctrl.scratch', t.spdmScratchSizeMin);
  if (isOutcome(scratch)) return scratch;
  const output = buffer(c, b.outputSla, 'spdm_ctrl.output', t.spdmOutSizeMin);
  if (isOutcome(output)) return output;
  return { req: req.pages, resp: resp.pages, output: output.pages };
}

/**
 * One turn of an exchange: on a re-issue, the answer in `resp` is checked and the
 * exchange moves on; then the next request goes to `req` (SPDM_REQUEST), or the
 * exchange is done (null). A bad answer drops the exchange: SPDM_ERROR.
 */
function turn(c: CommandContext, ctx: DevCtx, command: number, ctrl: Ctrl, start: () => Exchange): CommandOutcome | { done: Exchange } {
  const name = command === PSP_COMMAND.TIO_DEV_CONNECT ? 'TIO_DEV_CONNECT' : 'TIO_DEV_DISCONNECT';
  let ex = c.tio.exchange;
  if (ex !== null && ex.ctxSpa === ctx.pages[0] && ex.command === command) {
    const r = readResponse(c.memory, ctrl.resp);
    const verdict = 'why' in r ? { ok: false as const, why: r.why } : acceptResponse(ex, r.message);
    const resp = 'message' in r ? r.message : undefined;
    const code = resp === undefined ? undefined : spdmHeader(ex.securedRequest ? (unsecured(resp)?.message ?? resp) : resp)?.code;
    c.spdmStep({
      command: name,
      deviceId: ctx.deviceId,
      phase: 'response',
      request: spdmRequestName(ex.requestCode) ?? ex.requestCode,
      responseCode: code ?? null,
      ok: verdict.ok,
      ...(verdict.ok ? {} : { why: verdict.why }),
    });
    if (!verdict.ok) {
      c.tio.exchange = null;
      return fail(FW_STATUS.SPDM_ERROR, verdict.why, { deviceId: ctx.deviceId, ...('spdmError' in verdict && verdict.spdmError !== undefined ? { spdmError: verdict.spdmError } : {}) });
    }
  } else {
    ex = start();
    c.tio.exchange = ex;
  }
  if (ex.step === STEP.CONNECTED || ex.step === STEP.DISCONNECTED) {
    c.tio.exchange = null;
    return { done: ex };
  }
  const r = requestFor(ex, ctx.ideStreamId, c.rand32);
  const plain = r.secured ? r.message.subarray(4) : r.message;
  ex.requestCode = plain[1] as number;
  ex.securedRequest = r.secured;
  writeRequest(c.memory, ctrl.req, r);
  c.spdmStep({ command: name, deviceId: ctx.deviceId, phase: 'request', request: spdmRequestName(ex.requestCode) ?? ex.requestCode, secured: r.secured, bytes: r.message.length });
  return { status: FW_STATUS.SPDM_REQUEST };
}

/** TIO_DEV_CONNECT (0xD4): the SPDM exchange, then the device is connected and its certificates go to `output`. */
export function tioDevConnect(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_DEV_CONNECT_BUF, buf);
  const ctx = contextOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if ((b.tcMask & 1) === 0) return fail(FW_STATUS.INVALID_PARAM, `tc_mask 0x${b.tcMask.toString(16)}: bit 0 (TC0) is required`);
  if (ctx.state === 'connected') return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is already connected`, { deviceId: ctx.deviceId });
  const ctrl = spdmCtrl(c, b);
  if (isOutcome(ctrl)) return ctrl;
  ctx.ideStreamId = Number(b.ideStreamIds & 0xffn);
  const t = turn(c, ctx, PSP_COMMAND.TIO_DEV_CONNECT, ctrl, () => ({
    ctxSpa: ctx.pages[0] as number,
    command: PSP_COMMAND.TIO_DEV_CONNECT,
    step: STEP.GET_VERSION,
    sub: 0,
    requestCode: 0,
    securedRequest: false,
    cert: '',
    reqSessionId: 1 + (c.rand32() % 0xfffe),
    sessionId: null,
  }));
  if (!('done' in t)) return t;
  const chain = exchangeCert(t.done);
  if (!writeDataObject(c.memory, ctrl.output, DOBJ_ID.CERTIFICATE, ctx.deviceId, chain)) return fail(FW_STATUS.RESPONSE_TOO_LARGE, 'the certificate chain does not fit in output');
  ctx.state = 'connected';
  ctx.sessionId = t.done.sessionId;
  ctx.certChain = t.done.cert;
  return { status: FW_STATUS.SUCCESS, detail: { certificateBytes: chain.length } };
}

/** TIO_DEV_DISCONNECT (0xD5): one secured END_SESSION, or with FORCE nothing exchanged and the TDIs unbound. */
export function tioDevDisconnect(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_DEV_DISCONNECT_BUF, buf);
  const ctx = contextOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if (ctx.state !== 'connected') return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is not connected`, { deviceId: ctx.deviceId });
  const force = (b.flags & DISCONNECT_FORCE) !== 0;
  if (force) {
    unbindTdisOf(c, ctx);
    if (c.tio.exchange?.ctxSpa === ctx.pages[0]) c.tio.exchange = null;
    ctx.state = 'created';
    ctx.sessionId = null;
    delete ctx.certChain;
    delete ctx.measurements;
    return ok;
  }
  if (boundTdisOf(c, ctx).length > 0) return fail(FW_STATUS.IN_USE, `device ${hexId(ctx.deviceId)} has a bound TDI: unbind it first, or disconnect with FORCE`, { deviceId: ctx.deviceId });
  const ctrl = spdmCtrl(c, b);
  if (isOutcome(ctrl)) return ctrl;
  const t = turn(c, ctx, PSP_COMMAND.TIO_DEV_DISCONNECT, ctrl, () => ({
    ctxSpa: ctx.pages[0] as number,
    command: PSP_COMMAND.TIO_DEV_DISCONNECT,
    step: STEP.END_SESSION,
    sub: 0,
    requestCode: 0,
    securedRequest: true,
    cert: '',
    reqSessionId: 0,
    sessionId: ctx.sessionId,
  }));
  if (!('done' in t)) return t;
  ctx.state = 'created';
  ctx.sessionId = null;
  delete ctx.certChain;
  delete ctx.measurements;
  return ok;
}

/** TIO_DEV_RECLAIM (0xD3): a device not connected; its context pages become reclaimable. */
export function tioDevReclaim(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const ctx = contextOf(c, decode(TIO_DEV_RECLAIM_BUF, buf).devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if (ctx.state === 'connected') return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is connected: disconnect it first`, { deviceId: ctx.deviceId });
  if (hasTdis(c, ctx)) return fail(FW_STATUS.RECLAIM_REQUIRED, `device ${hexId(ctx.deviceId)} still has TDI contexts: TIO_TDI_RECLAIM them first`, { deviceId: ctx.deviceId });
  c.tio.contexts = c.tio.contexts.filter((x) => x !== ctx);
  if (c.tio.exchange?.ctxSpa === ctx.pages[0]) c.tio.exchange = null;
  return ok;
}
