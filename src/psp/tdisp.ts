/**
 * TDISP (PCIe r6.1 §11.3) as the firmware speaks it to a device inside secured
 * SPDM VENDOR_DEFINED messages (docs/sev-firmware.md §2.8, §5): the PCI-SIG vendor
 * header with protocol id 1, then {TDISPVersion 0x10, MessageType, reserved(2),
 * INTERFACE_ID(12)} and the message's payload. Both sides (the firmware's TDI
 * commands and the emulated device) use these encoders. No cryptography: nonces
 * and reports are deterministic bytes.
 */
import { concatBytes, put16, put32, u16, u32 } from './bytes.js';
import { SPDM_HDR_BYTES, VDM_STANDARD_PCISIG, VDM_VENDOR_PCISIG } from './spdm.js';

export const TDISP_PROTOCOL = 1;
export const TDISP_VERSION_10 = 0x10;

export const TDISP_REQUEST = {
  LOCK_INTERFACE: 0x83,
  GET_DEVICE_INTERFACE_REPORT: 0x84,
  GET_DEVICE_INTERFACE_STATE: 0x85,
  START_INTERFACE: 0x86,
  STOP_INTERFACE: 0x87,
} as const;
export type TdispRequestName = keyof typeof TDISP_REQUEST;
export const TDISP_REQUEST_NAMES = Object.keys(TDISP_REQUEST) as TdispRequestName[];

export const TDISP_RESPONSE = {
  LOCK_INTERFACE_RESPONSE: 0x03,
  DEVICE_INTERFACE_REPORT: 0x04,
  DEVICE_INTERFACE_STATE: 0x05,
  START_INTERFACE_RESPONSE: 0x06,
  STOP_INTERFACE_RESPONSE: 0x07,
  TDISP_ERROR: 0x7f,
} as const;

/** TDISP ERROR codes (ERROR_CODE of a TDISP_ERROR). */
export const TDISP_ERROR_CODE = { INVALID_REQUEST: 0x01, BUSY: 0x03, INVALID_INTERFACE_STATE: 0x04, UNSPECIFIED: 0x05, UNSUPPORTED_REQUEST: 0x07, INVALID_INTERFACE: 0x101 } as const;

/** The TDI's TDISP state, as TDI_STATUS reports it (docs/sev-firmware.md §2.8): 0..3. */
export const TDISP_STATE = { CONFIG_UNLOCKED: 0, CONFIG_LOCKED: 1, RUN: 2, ERROR: 3 } as const;
export type TdispStateName = keyof typeof TDISP_STATE;
export const TDISP_STATE_NAMES = Object.keys(TDISP_STATE) as TdispStateName[];

/** The 12-byte INTERFACE_ID: FUNCTION_ID (bits 15:0 RID, 23:16 RSEG, bit 24 RSEG_VALID), then 8 reserved bytes. */
export const INTERFACE_ID_BYTES = 12;
export const START_NONCE_BYTES = 32;
/** The report is read in chunks of this many bytes (GET_DEVICE_INTERFACE_REPORT LENGTH). */
export const REPORT_CHUNK_BYTES = 0x400;
/** TDISP header: version, message type, reserved(2), INTERFACE_ID. */
export const TDISP_HDR_BYTES = 4 + INTERFACE_ID_BYTES;

const REQUEST_NAME = new Map<number, TdispRequestName>(Object.entries(TDISP_REQUEST).map(([k, v]) => [v, k as TdispRequestName]));
export function tdispRequestName(code: number): TdispRequestName | undefined {
  return REQUEST_NAME.get(code);
}

/** A TDISP message: header, then payload. */
export function tdispMessage(type: number, functionId: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new Uint8Array(TDISP_HDR_BYTES);
  h[0] = TDISP_VERSION_10;
  h[1] = type;
  put32(h, 4, functionId);
  return concatBytes(h, payload);
}

export interface TdispParsed {
  type: number;
  functionId: number;
  payload: Uint8Array;
}

export function parseTdisp(t: Uint8Array): TdispParsed | undefined {
  if (t.length < TDISP_HDR_BYTES || t[0] !== TDISP_VERSION_10) return undefined;
  return { type: t[1] as number, functionId: u32(t, 4), payload: t.subarray(TDISP_HDR_BYTES) };
}

/** The body of a VENDOR_DEFINED SPDM message carrying a TDISP message (PCI-SIG, protocol id 1 first). */
export function tdispVendorBody(tdisp: Uint8Array): Uint8Array {
  const b = new Uint8Array(7 + 1 + tdisp.length);
  put16(b, 0, VDM_STANDARD_PCISIG);
  b[2] = 2;
  put16(b, 3, VDM_VENDOR_PCISIG);
  put16(b, 5, 1 + tdisp.length);
  b[7] = TDISP_PROTOCOL;
  b.set(tdisp, 8);
  return b;
}

/** The TDISP message inside a plain VENDOR_DEFINED SPDM message, or undefined when it carries none. */
export function tdispOf(m: Uint8Array): TdispParsed | undefined {
  if (m.length < SPDM_HDR_BYTES + 8) return undefined;
  if (u16(m, 4) !== VDM_STANDARD_PCISIG || m[6] !== 2 || u16(m, 7) !== VDM_VENDOR_PCISIG) return undefined;
  const len = u16(m, 9);
  if (len < 1 || m.length < 11 + len || m[11] !== TDISP_PROTOCOL) return undefined;
  return parseTdisp(m.subarray(12, 11 + len));
}

/** LOCK_INTERFACE_REQUEST payload: FLAGS(2), DEFAULT_STREAM_ID(1), reserved(1), MMIO_REPORTING_OFFSET(8), BIND_P2P_ADDRESS_MASK(8). */
export function lockInterfacePayload(flags: number, streamId: number): Uint8Array {
  const b = new Uint8Array(20);
  put16(b, 0, flags);
  b[2] = streamId;
  return b;
}
/** GET_DEVICE_INTERFACE_REPORT: OFFSET(2), LENGTH(2); DEVICE_INTERFACE_REPORT: PORTION_LENGTH(2), REMAINDER_LENGTH(2), the bytes. */
export function reportRequestPayload(offset: number, length: number): Uint8Array {
  const b = new Uint8Array(4);
  put16(b, 0, offset);
  put16(b, 2, length);
  return b;
}
export function parseReportPortion(p: Uint8Array): { portion: Uint8Array; remainder: number } | undefined {
  if (p.length < 4 || p.length < 4 + u16(p, 0)) return undefined;
  return { portion: p.subarray(4, 4 + u16(p, 0)), remainder: u16(p, 2) };
}
/** TDISP_ERROR payload: ERROR_CODE(4), ERROR_DATA(4). */
export function tdispErrorPayload(code: number): Uint8Array {
  const b = new Uint8Array(8);
  put32(b, 0, code);
  return b;
}
export function tdispErrorCode(p: Uint8Array): number {
  return p.length >= 4 ? u32(p, 0) : 0;
}

/** A TDISP response answers a request when its code is the request's with bit 7 clear. */
export function tdispResponseFor(requestCode: number): number {
  return requestCode & 0x7f;
}
