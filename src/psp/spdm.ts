/**
 * SPDM 1.2 (DMTF DSP0274) as the firmware speaks it to a device through the host
 * (docs/sev-firmware.md §2.6, §4): the request and response codes, the fixed
 * message layouts both sides use, the IDE_KM objects carried in
 * VENDOR_DEFINED_REQUEST (PCIe r6 §6.33.6), and the secured-message wrapper (the
 * 4-byte session id, then the plain message: no encryption, no MAC). There is no
 * cryptography: signatures, certificates and keys are deterministic bytes.
 */
import { concatBytes, put16, put32, u16, u32 } from './bytes.js';

export const SPDM_VERSION_10 = 0x10;
export const SPDM_VERSION_12 = 0x12;

export const SPDM_REQUEST = {
  GET_DIGESTS: 0x81,
  GET_CERTIFICATE: 0x82,
  GET_VERSION: 0x84,
  GET_MEASUREMENTS: 0xe0,
  GET_CAPABILITIES: 0xe1,
  NEGOTIATE_ALGORITHMS: 0xe3,
  KEY_EXCHANGE: 0xe4,
  FINISH: 0xe5,
  END_SESSION: 0xec,
  VENDOR_DEFINED_REQUEST: 0xfe,
} as const;
export type SpdmRequestName = keyof typeof SPDM_REQUEST;
export const SPDM_REQUEST_NAMES = Object.keys(SPDM_REQUEST) as SpdmRequestName[];

export const SPDM_RESPONSE = {
  DIGESTS: 0x01,
  CERTIFICATE: 0x02,
  VERSION: 0x04,
  MEASUREMENTS: 0x60,
  CAPABILITIES: 0x61,
  ALGORITHMS: 0x63,
  KEY_EXCHANGE_RSP: 0x64,
  FINISH_RSP: 0x65,
  END_SESSION_ACK: 0x6c,
  VENDOR_DEFINED_RESPONSE: 0x7e,
  ERROR: 0x7f,
} as const;

/** SPDM ERROR codes (param1 of an ERROR response). */
export const SPDM_ERROR_CODE = { InvalidRequest: 0x01, InvalidSession: 0x02, Busy: 0x03, UnexpectedRequest: 0x04, Unspecified: 0x05, UnsupportedRequest: 0x07 } as const;

const REQUEST_NAME = new Map<number, SpdmRequestName>(Object.entries(SPDM_REQUEST).map(([k, v]) => [v, k as SpdmRequestName]));
export function spdmRequestName(code: number): SpdmRequestName | undefined {
  return REQUEST_NAME.get(code);
}
const RESPONSE_NAME = new Map<number, string>(Object.entries(SPDM_RESPONSE).map(([k, v]) => [v, k]));
export function spdmResponseName(code: number): string {
  return RESPONSE_NAME.get(code) ?? `0x${code.toString(16)}`;
}

/** A response answers a request when its code is the request's with bit 7 clear. */
export function responseCodeFor(requestCode: number): number {
  return requestCode & 0x7f;
}

/** Sizes of the algorithms the exchange negotiates: ECDSA P-384 and SHA-384. */
export const HASH_BYTES = 48;
export const SIGNATURE_BYTES = 96;
export const DHE_BYTES = 96;
export const RANDOM_BYTES = 32;
/** The certificate chain is read in chunks of this many bytes. */
export const CERT_CHUNK_BYTES = 0x400;
/** The 4-byte header of every SPDM message. */
export const SPDM_HDR_BYTES = 4;

/** The 4-byte header {version, code, param1, param2} and `body`. */
export function spdmMessage(version: number, code: number, param1: number, param2: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concatBytes(Uint8Array.of(version, code, param1 & 0xff, param2 & 0xff), body);
}

export interface SpdmHeader {
  version: number;
  code: number;
  param1: number;
  param2: number;
}

export function spdmHeader(m: Uint8Array): SpdmHeader | undefined {
  if (m.length < SPDM_HDR_BYTES) return undefined;
  return { version: m[0] as number, code: m[1] as number, param1: m[2] as number, param2: m[3] as number };
}

// ---- message bodies (offsets after the 4-byte header; DSP0274 1.2) ------------------------

/** VERSION: reserved(1), VersionNumberEntryCount(1), entries (u16: bits 15:8 major.minor). */
export function versionBody(): Uint8Array {
  const b = new Uint8Array(4);
  b[1] = 1;
  put16(b, 2, SPDM_VERSION_12 << 8);
  return b;
}

/** GET_CAPABILITIES / CAPABILITIES 1.2: reserved, CTExponent, reserved(2), Flags(4), DataTransferSize(4), MaxSPDMmsgSize(4). */
export function capabilitiesBody(flags: number, ctExponent: number, maxBytes: number): Uint8Array {
  const b = new Uint8Array(16);
  b[1] = ctExponent;
  put32(b, 4, flags);
  put32(b, 8, maxBytes);
  put32(b, 12, maxBytes);
  return b;
}
/** CAPABILITIES flags: CERT_CAP 1, CHAL_CAP 2, MEAS_CAP(sig) 4, ENCRYPT 6, MAC 7, KEY_EX 9, HBEAT 13, KEY_UPD 14. */
export const CAPS_FLAGS = (1 << 1) | (1 << 2) | (2 << 3) | (1 << 6) | (1 << 7) | (1 << 9);

/** NEGOTIATE_ALGORITHMS / ALGORITHMS: Length(2), MeasurementSpec, OtherParams, then the algorithm words. */
export const ALG = { BASE_ASYM_ECDSA_P384: 1 << 7, BASE_HASH_SHA384: 1 << 1, MEAS_HASH_SHA384: 1 << 2 } as const;
export function negotiateAlgorithmsBody(): Uint8Array {
  const b = new Uint8Array(28);
  put16(b, 0, SPDM_HDR_BYTES + 28);
  b[2] = 1; // MeasurementSpecification: DMTF
  put32(b, 4, ALG.BASE_ASYM_ECDSA_P384);
  put32(b, 8, ALG.BASE_HASH_SHA384);
  return b;
}
export function algorithmsBody(): Uint8Array {
  const b = new Uint8Array(32);
  put16(b, 0, SPDM_HDR_BYTES + 32);
  b[2] = 1;
  put32(b, 4, ALG.MEAS_HASH_SHA384);
  put32(b, 8, ALG.BASE_ASYM_ECDSA_P384);
  put32(b, 12, ALG.BASE_HASH_SHA384);
  return b;
}

/** GET_CERTIFICATE: Offset(2), Length(2); CERTIFICATE: PortionLength(2), RemainderLength(2), the bytes. */
export function getCertificateBody(offset: number, length: number): Uint8Array {
  const b = new Uint8Array(4);
  put16(b, 0, offset);
  put16(b, 2, length);
  return b;
}
export function parseGetCertificate(m: Uint8Array): { offset: number; length: number } | undefined {
  if (m.length < 8) return undefined;
  return { offset: u16(m, 4), length: u16(m, 6) };
}
export function parseCertificate(m: Uint8Array): { portion: Uint8Array; remainder: number } | undefined {
  if (m.length < 8) return undefined;
  const portionLength = u16(m, 4);
  if (m.length < 8 + portionLength) return undefined;
  return { portion: m.subarray(8, 8 + portionLength), remainder: u16(m, 6) };
}

/**
 * GET_MEASUREMENTS (DSP0274 1.2 §10.11): param1 bit 0 SignatureRequested, param2 the
 * operation (0xFF: every block); with a signature, Nonce(32) then SlotIDParam(1).
 */
export const MEAS_SIGNATURE_REQUESTED = 1 << 0;
export const MEAS_ALL_BLOCKS = 0xff;
export const NONCE_BYTES = 32;
export function getMeasurementsBody(nonce: Uint8Array, slot: number): Uint8Array {
  const b = new Uint8Array(NONCE_BYTES + 1);
  b.set(nonce.subarray(0, NONCE_BYTES));
  b[NONCE_BYTES] = slot;
  return b;
}
/**
 * MEASUREMENTS: param1 0 (blocks asked for), param2 the slot; NumberOfBlocks(1),
 * MeasurementRecordLength(3), the record, Nonce(32), OpaqueDataLength(2), then the
 * signature when one was asked for.
 */
export function measurementsBody(blocks: number, record: Uint8Array, nonce: Uint8Array, signature: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + record.length + NONCE_BYTES + 2 + signature.length);
  b[0] = blocks;
  b[1] = record.length & 0xff;
  b[2] = (record.length >>> 8) & 0xff;
  b[3] = (record.length >>> 16) & 0xff;
  b.set(record, 4);
  b.set(nonce.subarray(0, NONCE_BYTES), 4 + record.length);
  b.set(signature, 4 + record.length + NONCE_BYTES + 2);
  return b;
}
export function parseMeasurements(m: Uint8Array): { blocks: number; record: Uint8Array } | undefined {
  if (m.length < SPDM_HDR_BYTES + 4) return undefined;
  const len = (m[5] as number) | ((m[6] as number) << 8) | ((m[7] as number) << 16);
  if (m.length < SPDM_HDR_BYTES + 4 + len + NONCE_BYTES + 2) return undefined;
  return { blocks: m[4] as number, record: m.subarray(8, 8 + len) };
}
/** A DMTF measurement block: Index, MeasurementSpecification (1 DMTF), MeasurementSize(2), then DMTFSpecMeasurementValueType, ValueSize(2), Value. */
export function measurementBlock(index: number, valueType: number, value: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + 3 + value.length);
  b[0] = index;
  b[1] = 1;
  put16(b, 2, 3 + value.length);
  b[4] = valueType;
  put16(b, 5, value.length);
  b.set(value, 7);
  return b;
}

/** KEY_EXCHANGE: ReqSessionID(2), SessionPolicy, reserved, RandomData, ExchangeData, OpaqueDataLength(2) = 0. */
export function keyExchangeBody(reqSessionId: number, random: Uint8Array, exchange: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + RANDOM_BYTES + DHE_BYTES + 2);
  put16(b, 0, reqSessionId);
  b.set(random, 4);
  b.set(exchange, 4 + RANDOM_BYTES);
  return b;
}
export function parseKeyExchange(m: Uint8Array): { reqSessionId: number } | undefined {
  return m.length >= SPDM_HDR_BYTES + 4 + RANDOM_BYTES + DHE_BYTES + 2 ? { reqSessionId: u16(m, 4) } : undefined;
}
/** KEY_EXCHANGE_RSP: RspSessionID(2), MutAuthRequested, ReqSlotIDParam, RandomData, ExchangeData, OpaqueDataLength(2) = 0, Signature, ResponderVerifyData. */
export function keyExchangeRspBody(rspSessionId: number, random: Uint8Array, exchange: Uint8Array, signature: Uint8Array, verify: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + RANDOM_BYTES + DHE_BYTES + 2 + SIGNATURE_BYTES + HASH_BYTES);
  put16(b, 0, rspSessionId);
  b.set(random, 4);
  b.set(exchange, 4 + RANDOM_BYTES);
  b.set(signature, 4 + RANDOM_BYTES + DHE_BYTES + 2);
  b.set(verify, 4 + RANDOM_BYTES + DHE_BYTES + 2 + SIGNATURE_BYTES);
  return b;
}
export function parseKeyExchangeRsp(m: Uint8Array): { rspSessionId: number } | undefined {
  return m.length >= SPDM_HDR_BYTES + 4 + RANDOM_BYTES + DHE_BYTES + 2 + SIGNATURE_BYTES + HASH_BYTES ? { rspSessionId: u16(m, 4) } : undefined;
}

/** The session id of a secured message: ReqSessionID in bits 15:0, RspSessionID in 31:16. */
export function sessionIdOf(reqSessionId: number, rspSessionId: number): number {
  return ((rspSessionId & 0xffff) * 0x10000 + (reqSessionId & 0xffff)) >>> 0;
}

/** A secured message: the session id (little-endian), then the plain SPDM message. */
export function secured(sessionId: number, message: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + message.length);
  put32(b, 0, sessionId);
  b.set(message, 4);
  return b;
}
export function unsecured(m: Uint8Array): { sessionId: number; message: Uint8Array } | undefined {
  return m.length < 4 ? undefined : { sessionId: u32(m, 0), message: m.subarray(4) };
}

// ---- IDE_KM in VENDOR_DEFINED_REQUEST (PCIe r6 §6.33.6) ---------------------------------------
/** StandardID 3 (PCI-SIG), vendor id length 2, vendor id 0x0001, then the payload length and payload. */
export const VDM_STANDARD_PCISIG = 3;
export const VDM_VENDOR_PCISIG = 0x0001;
export const IDE_KM_PROTOCOL = 0;
export const IDE_KM = { QUERY: 0, QUERY_RESP: 1, KEY_PROG: 2, KP_ACK: 3, K_SET_GO: 4, K_SET_STOP: 5, K_GOSTOP_ACK: 6 } as const;
/** The reply object of each IDE_KM request object. */
export const IDE_KM_REPLY: Readonly<Record<number, number>> = { [IDE_KM.QUERY]: IDE_KM.QUERY_RESP, [IDE_KM.KEY_PROG]: IDE_KM.KP_ACK, [IDE_KM.K_SET_GO]: IDE_KM.K_GOSTOP_ACK, [IDE_KM.K_SET_STOP]: IDE_KM.K_GOSTOP_ACK };
/** Key bytes and IV bytes of KEY_PROG. */
export const IDE_KEY_BYTES = 32;
export const IDE_IV_BYTES = 8;

export function vendorDefinedBody(payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(7 + payload.length);
  put16(b, 0, VDM_STANDARD_PCISIG);
  b[2] = 2;
  put16(b, 3, VDM_VENDOR_PCISIG);
  put16(b, 5, payload.length);
  b.set(payload, 7);
  return b;
}
/** The IDE_KM payload of a VENDOR_DEFINED message, or undefined when it is not PCI-SIG IDE_KM. */
export function vendorPayload(m: Uint8Array): Uint8Array | undefined {
  if (m.length < SPDM_HDR_BYTES + 7) return undefined;
  if (u16(m, 4) !== VDM_STANDARD_PCISIG || m[6] !== 2 || u16(m, 7) !== VDM_VENDOR_PCISIG) return undefined;
  const len = u16(m, 9);
  if (m.length < 11 + len || len < 2 || m[11] !== IDE_KM_PROTOCOL) return undefined;
  return m.subarray(11, 11 + len);
}
/** IDE_KM object: protocol, object id, reserved(2), stream id, status/reserved, key set|rx/tx|substream, port index, then key and IV for KEY_PROG. */
export function ideKmObject(objectId: number, streamId: number, keySub: number, key?: Uint8Array, iv?: Uint8Array): Uint8Array {
  const extra = objectId === IDE_KM.KEY_PROG ? IDE_KEY_BYTES + IDE_IV_BYTES : 0;
  const b = new Uint8Array(8 + extra);
  b[0] = IDE_KM_PROTOCOL;
  b[1] = objectId;
  b[4] = streamId;
  b[6] = keySub;
  if (key !== undefined) b.set(key, 8);
  if (iv !== undefined) b.set(iv, 8 + IDE_KEY_BYTES);
  return b;
}
