/**
 * TIO_DEV_CERTIFICATES (0xD8) and TIO_DEV_MEASUREMENTS (0xD7), phase 2 (AMD's tree;
 * docs/sev-firmware.md §2.8, §3.3): a connected device's certificate chain (as
 * DEV_CONNECT read it) and its measurements (a secured SPDM GET_MEASUREMENTS through
 * the host) to `output` as data objects 4 (CERTIFICATE) and 5 (MEASUREMENT), type 1.
 */
import { FW_STATUS } from '../firmware/status.js';
import { bytesToHex, hexToBytes } from './bytes.js';
import { decode } from './layout.js';
import { MEAS_NONCE, MEAS_RAW_BITSTREAM, TIO_DEV_CERTIFICATES_BUF, TIO_DEV_MEASUREMENTS_BUF } from './tdi-buffers.js';
import { DOBJ_ID } from './sla.js';
import type { CommandContext, CommandOutcome, DevCtx } from './psp-config.js';
import { fail } from './command-outcome.js';
import { readResponse, writeDataObject, writeRequest } from './spdm-exchange.js';
import { getMeasurementsBody, MEAS_ALL_BLOCKS, MEAS_SIGNATURE_REQUESTED, parseMeasurements, secured, SPDM_REQUEST, SPDM_RESPONSE, SPDM_VERSION_12, spdmHeader, spdmMessage, unsecured } from './spdm.js';
import { PSP_COMMAND } from './command-ids.js';
import { ctrlOf, devCtxOf, isOutcome, needTio, type Ctrl } from './tdi-commands.js';

const hexId = (id: number) => '0x' + id.toString(16).padStart(4, '0');

/** Exchange steps of DEV_MEASUREMENTS (after the connect's and the TDI commands'). */
export const MEAS_STEP = { GET_MEASUREMENTS: 40, DONE: 41 } as const;

/** A CERTIFICATE / MEASUREMENT data object to `output`, or RESPONSE_TOO_LARGE. */
function writeObject(c: CommandContext, ctrl: Ctrl, ctx: DevCtx, id: number, body: Uint8Array, what: string): CommandOutcome | null {
  return writeDataObject(c.memory, ctrl.output, id, ctx.deviceId, body) ? null : fail(FW_STATUS.RESPONSE_TOO_LARGE, `${what} does not fit in output`);
}

/** The checks both commands make, in order: TIO up, a live context, a connected device, the req/resp/output SLAs. */
function connectedDevice(c: CommandContext, b: { devCtxSla: bigint; reqSla: bigint; respSla: bigint; outputSla: bigint }): { ctx: DevCtx; ctrl: Ctrl } | CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if (ctx.state !== 'connected') return fail(FW_STATUS.INVALID_DEV_STATE, `device ${hexId(ctx.deviceId)} is not connected`, { deviceId: ctx.deviceId });
  const ctrl = ctrlOf(c, b);
  if (isOutcome(ctrl)) return ctrl;
  return { ctx, ctrl };
}

/** TIO_DEV_CERTIFICATES (0xD8): the chain DEV_CONNECT read, to `output` as data object 4 (nothing exchanged). */
export function tioDevCertificates(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const b = decode(TIO_DEV_CERTIFICATES_BUF, buf);
  const dev = connectedDevice(c, b);
  if (isOutcome(dev)) return dev;
  const { ctx, ctrl } = dev;
  // A context loaded from a state document older than the recorded chain: the device's slot 0 is what its connect read.
  ctx.certChain ??= bytesToHex(c.certChainOf(ctx.deviceId));
  const chain = hexToBytes(ctx.certChain);
  return writeObject(c, ctrl, ctx, DOBJ_ID.CERTIFICATE, chain, 'the certificate chain') ?? { status: FW_STATUS.SUCCESS, detail: { deviceId: ctx.deviceId, certificateBytes: chain.length } };
}

/**
 * TIO_DEV_MEASUREMENTS (0xD7): one secured GET_MEASUREMENTS (every block, signature
 * asked for with the command's nonce, slot 0) relayed through SPDM_REQUEST; the
 * measurement record of the answer to `output` as data object 5. An ERROR answer, or
 * one that is not MEASUREMENTS, ends it with SPDM_ERROR and writes nothing.
 */
export function tioDevMeasurements(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const b = decode(TIO_DEV_MEASUREMENTS_BUF, buf);
  const dev = connectedDevice(c, b);
  if (isOutcome(dev)) return dev;
  const { ctx, ctrl } = dev;
  const name = 'TIO_DEV_MEASUREMENTS';
  const ex = c.tio.exchange;
  if (ex !== null && ex.ctxSpa === ctx.pages[0] && ex.command === PSP_COMMAND.TIO_DEV_MEASUREMENTS) {
    c.tio.exchange = null;
    const r = readResponse(c.memory, ctrl.resp);
    let why: string | null = 'why' in r ? r.why : null;
    let spdmError: number | undefined;
    let record: Uint8Array | undefined;
    let blocks = 0;
    if ('message' in r) {
      const u = unsecured(r.message);
      const h = u === undefined || u.sessionId !== ctx.sessionId ? undefined : spdmHeader(u.message);
      if (u === undefined || u.sessionId !== ctx.sessionId) why = `the secured response does not carry session 0x${(ctx.sessionId ?? 0).toString(16)}`;
      else if (h === undefined) why = 'the response is shorter than an SPDM header';
      else if (h.code === SPDM_RESPONSE.ERROR) {
        why = `the device answered GET_MEASUREMENTS with SPDM ERROR 0x${h.param1.toString(16)}`;
        spdmError = h.param1;
      } else if (h.code !== SPDM_RESPONSE.MEASUREMENTS) why = `response code 0x${h.code.toString(16)} is not MEASUREMENTS`;
      else {
        const p = parseMeasurements(u.message);
        if (p === undefined) why = 'MEASUREMENTS is malformed';
        else {
          record = p.record;
          blocks = p.blocks;
        }
      }
    }
    c.spdmStep({ command: name, deviceId: ctx.deviceId, phase: 'response', request: 'GET_MEASUREMENTS', ok: why === null, ...(why === null ? {} : { why }) });
    if (why !== null || record === undefined) return fail(FW_STATUS.SPDM_ERROR, why ?? 'no measurement record', { deviceId: ctx.deviceId, ...(spdmError !== undefined ? { spdmError } : {}) });
    const written = writeObject(c, ctrl, ctx, DOBJ_ID.MEASUREMENT, record, 'the measurement record');
    if (written !== null) return written;
    // What DEV_STATUS and TDI_INFO digest from now on (tdi-digests.ts).
    ctx.measurements = bytesToHex(record);
    return { status: FW_STATUS.SUCCESS, detail: { deviceId: ctx.deviceId, blocks, measurementBytes: record.length, rawBitstream: (b.flags & MEAS_RAW_BITSTREAM) !== 0 } };
  }
  // The nonce: meas_nonce (32 bytes at 48), as the device must echo it in the signed transcript.
  const nonce = buf.subarray(MEAS_NONCE.offset, MEAS_NONCE.offset + MEAS_NONCE.bytes);
  const message = secured(ctx.sessionId ?? 0, spdmMessage(SPDM_VERSION_12, SPDM_REQUEST.GET_MEASUREMENTS, MEAS_SIGNATURE_REQUESTED, MEAS_ALL_BLOCKS, getMeasurementsBody(nonce, 0)));
  c.tio.exchange = {
    ctxSpa: ctx.pages[0] as number,
    command: PSP_COMMAND.TIO_DEV_MEASUREMENTS,
    step: MEAS_STEP.GET_MEASUREMENTS,
    sub: 0,
    requestCode: SPDM_REQUEST.GET_MEASUREMENTS,
    securedRequest: true,
    cert: '',
    reqSessionId: 0,
    sessionId: ctx.sessionId,
  };
  writeRequest(c.memory, ctrl.req, { message, secured: true });
  c.spdmStep({ command: name, deviceId: ctx.deviceId, phase: 'request', request: 'GET_MEASUREMENTS', secured: true, bytes: message.length });
  return { status: FW_STATUS.SPDM_REQUEST };
}
