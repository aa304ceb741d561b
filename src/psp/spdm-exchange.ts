/**
 * The firmware's side of the SPDM exchange a TIO command runs through the host
 * (protocol/README.md §4.6; docs/sev-firmware.md §2.6): which request comes at each
 * step, how it is written into `req` and how the answer in `resp` is read and
 * checked. The connect sequence is ours (no cryptography): GET_VERSION,
 * GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, GET_DIGESTS, GET_CERTIFICATE in chunks,
 * KEY_EXCHANGE, then secured FINISH and the IDE_KM key programming (QUERY, six
 * KEY_PROG, six K_SET_GO: the three substreams each way); a disconnect is one
 * secured END_SESSION.
 */
import type { HostMemory } from '../memory/host-memory.js';
import { bytesToHex, concatBytes, hexToBytes, put32 } from './bytes.js';
import { decode, encode } from './layout.js';
import { DOBJ_CERT_HDR, DOBJ_DATA_TYPE, DOBJ_ID, DOBJ_OFFSET, DOBJ_REQ_RESP_HDR, PAGE, readBuffer, RESP_ALIGN, SLA_BUFFER_HDR, writeBuffer } from './sla.js';
import {
  CERT_CHUNK_BYTES,
  DHE_BYTES,
  getCertificateBody,
  IDE_IV_BYTES,
  IDE_KEY_BYTES,
  IDE_KM,
  IDE_KM_REPLY,
  ideKmObject,
  keyExchangeBody,
  negotiateAlgorithmsBody,
  parseCertificate,
  parseKeyExchangeRsp,
  RANDOM_BYTES,
  responseCodeFor,
  secured,
  sessionIdOf,
  capabilitiesBody,
  CAPS_FLAGS,
  SPDM_REQUEST,
  SPDM_RESPONSE,
  SPDM_VERSION_10,
  SPDM_VERSION_12,
  spdmHeader,
  spdmMessage,
  spdmRequestName,
  unsecured,
  vendorDefinedBody,
  vendorPayload,
  HASH_BYTES,
} from './spdm.js';
import type { Exchange } from './psp-config.js';

export const STEP = {
  GET_VERSION: 0,
  GET_CAPABILITIES: 1,
  NEGOTIATE_ALGORITHMS: 2,
  GET_DIGESTS: 3,
  GET_CERTIFICATE: 4,
  KEY_EXCHANGE: 5,
  FINISH: 6,
  IDE_QUERY: 7,
  IDE_KEY_PROG: 8,
  IDE_K_SET_GO: 9,
  CONNECTED: 10,
  END_SESSION: 20,
  DISCONNECTED: 21,
} as const;
/** KEY_PROG and K_SET_GO run for each substream (PR, NPR, CPL) and direction (Rx, Tx). */
export const IDE_KEYS = 6;

export interface SpdmRequestOut {
  message: Uint8Array;
  secured: boolean;
}

/** The request of the exchange's current step (random bytes from `rand32`). */
export function requestFor(ex: Exchange, ideStreamId: number, rand32: () => number): SpdmRequestOut {
  const v = SPDM_VERSION_12;
  const plain = (m: Uint8Array): SpdmRequestOut => ({ message: m, secured: false });
  const inSession = (m: Uint8Array): SpdmRequestOut => ({ message: secured(ex.sessionId ?? 0, m), secured: true });
  const ide = (objectId: number, sub: number, withKey: boolean) =>
    inSession(
      spdmMessage(
        v,
        SPDM_REQUEST.VENDOR_DEFINED_REQUEST,
        0,
        0,
        vendorDefinedBody(ideKmObject(objectId, ideStreamId, keySub(sub), withKey ? randomBytes(IDE_KEY_BYTES, rand32) : undefined, withKey ? randomBytes(IDE_IV_BYTES, rand32) : undefined)),
      ),
    );
  switch (ex.step) {
    case STEP.GET_VERSION:
      return plain(spdmMessage(SPDM_VERSION_10, SPDM_REQUEST.GET_VERSION, 0, 0));
    case STEP.GET_CAPABILITIES:
      return plain(spdmMessage(v, SPDM_REQUEST.GET_CAPABILITIES, 0, 0, capabilitiesBody(CAPS_FLAGS, 12, 0x1000)));
    case STEP.NEGOTIATE_ALGORITHMS:
      return plain(spdmMessage(v, SPDM_REQUEST.NEGOTIATE_ALGORITHMS, 0, 0, negotiateAlgorithmsBody()));
    case STEP.GET_DIGESTS:
      return plain(spdmMessage(v, SPDM_REQUEST.GET_DIGESTS, 0, 0));
    case STEP.GET_CERTIFICATE:
      return plain(spdmMessage(v, SPDM_REQUEST.GET_CERTIFICATE, 0, 0, getCertificateBody(ex.cert.length / 2, CERT_CHUNK_BYTES)));
    case STEP.KEY_EXCHANGE:
      return plain(spdmMessage(v, SPDM_REQUEST.KEY_EXCHANGE, 0, 0, keyExchangeBody(ex.reqSessionId, randomBytes(RANDOM_BYTES, rand32), randomBytes(DHE_BYTES, rand32))));
    case STEP.FINISH:
      return inSession(spdmMessage(v, SPDM_REQUEST.FINISH, 0, 0, randomBytes(HASH_BYTES, rand32)));
    case STEP.IDE_QUERY:
      return ide(IDE_KM.QUERY, 0, false);
    case STEP.IDE_KEY_PROG:
      return ide(IDE_KM.KEY_PROG, ex.sub, true);
    case STEP.IDE_K_SET_GO:
      return ide(IDE_KM.K_SET_GO, ex.sub, false);
    default:
      return inSession(spdmMessage(v, SPDM_REQUEST.END_SESSION, 0, 0));
  }
}

/** IDE_KM byte 6: key set 0, bit 7 Rx(0)/Tx(1), bits 3:0 substream (0 PR, 1 NPR, 2 CPL). */
function keySub(sub: number): number {
  return (sub >= 3 ? 0x80 : 0) | (sub % 3);
}

function randomBytes(n: number, rand32: () => number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) put32(out, i, rand32());
  return out;
}

/** Writes the request into `req`: the buffer header, a REQ data object, the message (length exactly 16 + the message). */
export function writeRequest(memory: HostMemory, reqPages: readonly number[], r: SpdmRequestOut): void {
  const objLen = DOBJ_REQ_RESP_HDR.bytes + r.message.length;
  const hdr = encode(SLA_BUFFER_HDR, { capacitySz: reqPages.length * PAGE, payloadSz: align(objLen, RESP_ALIGN), flags: 0 });
  const obj = encode(DOBJ_REQ_RESP_HDR, { id: DOBJ_ID.REQ, length: objLen, versionMinor: 0, versionMajor: 1, dataType: r.secured ? DOBJ_DATA_TYPE.SECURE_SPDM : DOBJ_DATA_TYPE.SPDM });
  writeBuffer(memory, reqPages, 0, concatBytes(hdr, obj, r.message));
}

/**
 * A data object the firmware hands back (CERTIFICATE, MEASUREMENT, REPORT: the
 * 32-byte header, type 1) after the buffer header in `output`; false, with nothing
 * written, when it does not fit.
 */
export function writeDataObject(memory: HostMemory, outputPages: readonly number[], id: number, deviceId: number, body: Uint8Array): boolean {
  const obj = DOBJ_CERT_HDR.bytes + body.length;
  const capacity = outputPages.length * PAGE;
  if (SLA_BUFFER_HDR.bytes + obj > capacity) return false;
  writeBuffer(
    memory,
    outputPages,
    0,
    concatBytes(encode(SLA_BUFFER_HDR, { capacitySz: capacity, payloadSz: align(obj, RESP_ALIGN) }), encode(DOBJ_CERT_HDR, { id, length: obj, versionMinor: 0, versionMajor: 1, deviceId, segmentId: 0, type: 1 }), body),
  );
  return true;
}

export function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** The message in `resp`'s RESP data object, or why there is none. */
export function readResponse(memory: HostMemory, respPages: readonly number[]): { message: Uint8Array } | { why: string } {
  const capacity = respPages.length * PAGE;
  const h = decode(DOBJ_REQ_RESP_HDR, readBuffer(memory, respPages, DOBJ_OFFSET, DOBJ_REQ_RESP_HDR.bytes));
  if (h.id !== DOBJ_ID.RESP) return { why: `resp holds data object id ${h.id}, not RESP (2)` };
  if (h.length < DOBJ_REQ_RESP_HDR.bytes + 4 || DOBJ_OFFSET + h.length > capacity) return { why: `the RESP object's length ${h.length} is not 16 + an SPDM message inside the buffer` };
  return { message: readBuffer(memory, respPages, DOBJ_OFFSET + DOBJ_REQ_RESP_HDR.bytes, h.length - DOBJ_REQ_RESP_HDR.bytes) };
}

export type Verdict = { ok: true; responseCode: number } | { ok: false; why: string; spdmError?: number; responseCode?: number };

/**
 * Checks the device's answer to the current step and moves the exchange on (the
 * caller drops it on a failure: nothing changes). Linux pads the RESP object to a
 * multiple of 32: the parsers read each message's own length and ignore the rest.
 */
export function acceptResponse(ex: Exchange, raw: Uint8Array): Verdict {
  let m = raw;
  if (ex.securedRequest) {
    const u = unsecured(raw);
    if (u === undefined || u.sessionId !== ex.sessionId) return { ok: false, why: `the secured response does not carry session 0x${(ex.sessionId ?? 0).toString(16)}` };
    m = u.message;
  }
  const h = spdmHeader(m);
  if (h === undefined) return { ok: false, why: 'the response is shorter than an SPDM header' };
  if (h.code === SPDM_RESPONSE.ERROR)
    return { ok: false, why: `the device answered ${spdmRequestName(ex.requestCode) ?? ex.requestCode} with SPDM ERROR 0x${h.param1.toString(16)}`, spdmError: h.param1, responseCode: h.code };
  if (h.code !== responseCodeFor(ex.requestCode)) return { ok: false, why: `response code 0x${h.code.toString(16)} does not answer request 0x${ex.requestCode.toString(16)}`, responseCode: h.code };
  const bad = (why: string): Verdict => ({ ok: false, why, responseCode: h.code });
  switch (ex.step) {
    case STEP.GET_VERSION: {
      const n = m[5] ?? 0;
      let has12 = false;
      for (let i = 0; i < n && 6 + i * 2 + 1 < m.length; i++) if (m[6 + i * 2 + 1] === SPDM_VERSION_12) has12 = true;
      if (!has12) return bad('VERSION does not list SPDM 1.2');
      ex.step = STEP.GET_CAPABILITIES;
      break;
    }
    case STEP.GET_CAPABILITIES:
    case STEP.NEGOTIATE_ALGORITHMS:
    case STEP.GET_DIGESTS:
      ex.step++;
      break;
    case STEP.GET_CERTIFICATE: {
      const c = parseCertificate(m);
      if (c === undefined || c.portion.length === 0) return bad('CERTIFICATE is malformed or empty');
      ex.cert += bytesToHex(c.portion);
      if (ex.cert.length / 2 > 0xffff) return bad('the certificate chain is longer than 64 KiB');
      if (c.remainder === 0) ex.step = STEP.KEY_EXCHANGE;
      break;
    }
    case STEP.KEY_EXCHANGE: {
      const k = parseKeyExchangeRsp(m);
      if (k === undefined) return bad('KEY_EXCHANGE_RSP is too short');
      ex.sessionId = sessionIdOf(ex.reqSessionId, k.rspSessionId);
      ex.step = STEP.FINISH;
      break;
    }
    case STEP.FINISH:
      ex.step = STEP.IDE_QUERY;
      break;
    case STEP.IDE_QUERY:
    case STEP.IDE_KEY_PROG:
    case STEP.IDE_K_SET_GO: {
      const p = vendorPayload(m);
      const want = IDE_KM_REPLY[ex.step === STEP.IDE_QUERY ? IDE_KM.QUERY : ex.step === STEP.IDE_KEY_PROG ? IDE_KM.KEY_PROG : IDE_KM.K_SET_GO];
      if (p === undefined || p[1] !== want) return bad(`the VENDOR_DEFINED_RESPONSE is not IDE_KM object ${want}`);
      if (ex.step === STEP.IDE_QUERY) ex.step = STEP.IDE_KEY_PROG;
      else if (++ex.sub >= IDE_KEYS) {
        ex.sub = 0;
        ex.step++;
      }
      break;
    }
    default:
      ex.step = STEP.DISCONNECTED;
  }
  return { ok: true, responseCode: h.code };
}

/** The chain as read, bytes. */
export function exchangeCert(ex: Exchange): Uint8Array {
  return hexToBytes(ex.cert);
}
