/**
 * The emulated device's TDISP responder (PCIe r6.1 §11.3): each function's TDI
 * state as the device keeps it, answering LOCK_INTERFACE, GET_DEVICE_INTERFACE_REPORT,
 * GET_DEVICE_INTERFACE_STATE, START_INTERFACE and STOP_INTERFACE inside secured SPDM
 * VENDOR_DEFINED messages (spdm-device.ts calls it). A fault rule `spdm.NAME` on a
 * TDISP request name makes the device refuse it with TDISP_ERROR (the rule's status
 * as the error code).
 */
import { bytesToHex, put16, put32, put64, u16 } from './bytes.js';
import { spdmMessage, SPDM_VERSION_12, SPDM_RESPONSE } from './spdm.js';
import { START_NONCE_BYTES, TDISP_ERROR_CODE, TDISP_REQUEST, TDISP_RESPONSE, TDISP_STATE, tdispErrorPayload, tdispMessage, tdispRequestName, type TdispParsed, type TdispRequestName } from './tdisp.js';

/** One function's TDI at the device. */
export interface DeviceTdi {
  functionId: number;
  state: keyof typeof TDISP_STATE;
  nonce: string;
}

/** The interface report (TDISP DEVICE_INTERFACE_REPORT): INTERFACE_INFO, MSI-X and LNR control, TPH, one MMIO range, no device-specific data. */
export function interfaceReport(functionId: number): Uint8Array {
  const b = new Uint8Array(16 + 16 + 4);
  put16(b, 0, 0x0001); // INTERFACE_INFO bit 0: no firmware update while locked
  put32(b, 12, 1); // MMIO_RANGE_COUNT
  put64(b, 16, BigInt(0xfe000 + (functionId & 0xfff) * 0x10)); // first 4 KB page of the BAR range
  put32(b, 24, 16); // pages
  put32(b, 28, 0); // range attributes: BAR 0
  return b;
}

export function tdispAnswer(tdis: DeviceTdi[], m: TdispParsed, nonce: () => Uint8Array, faultFor: (name: TdispRequestName) => number | null): Uint8Array {
  const f = m.functionId & 0xffff;
  const err = (code: number) => tdispMessage(TDISP_RESPONSE.TDISP_ERROR, m.functionId, tdispErrorPayload(code));
  const name = tdispRequestName(m.type);
  if (name === undefined) return err(TDISP_ERROR_CODE.UNSUPPORTED_REQUEST);
  const injected = faultFor(name);
  if (injected !== null) return err(injected);
  let t = tdis.find((x) => x.functionId === f);
  if (t === undefined) {
    t = { functionId: f, state: 'CONFIG_UNLOCKED', nonce: '' };
    tdis.push(t);
  }
  const reply = (type: number, payload?: Uint8Array) => tdispMessage(type, m.functionId, payload);
  switch (m.type) {
    case TDISP_REQUEST.LOCK_INTERFACE: {
      if (t.state !== 'CONFIG_UNLOCKED') return err(TDISP_ERROR_CODE.INVALID_INTERFACE_STATE);
      const n = nonce();
      t.state = 'CONFIG_LOCKED';
      t.nonce = bytesToHex(n);
      return reply(TDISP_RESPONSE.LOCK_INTERFACE_RESPONSE, n);
    }
    case TDISP_REQUEST.GET_DEVICE_INTERFACE_REPORT: {
      if (t.state !== 'CONFIG_LOCKED' && t.state !== 'RUN') return err(TDISP_ERROR_CODE.INVALID_INTERFACE_STATE);
      if (m.payload.length < 4) return err(TDISP_ERROR_CODE.INVALID_REQUEST);
      const report = interfaceReport(f);
      const offset = u16(m.payload, 0);
      if (offset > report.length) return err(TDISP_ERROR_CODE.INVALID_REQUEST);
      const portion = report.subarray(offset, Math.min(report.length, offset + u16(m.payload, 2)));
      const p = new Uint8Array(4 + portion.length);
      put16(p, 0, portion.length);
      put16(p, 2, report.length - offset - portion.length);
      p.set(portion, 4);
      return reply(TDISP_RESPONSE.DEVICE_INTERFACE_REPORT, p);
    }
    case TDISP_REQUEST.GET_DEVICE_INTERFACE_STATE:
      return reply(TDISP_RESPONSE.DEVICE_INTERFACE_STATE, Uint8Array.of(TDISP_STATE[t.state]));
    case TDISP_REQUEST.START_INTERFACE: {
      if (t.state !== 'CONFIG_LOCKED') return err(TDISP_ERROR_CODE.INVALID_INTERFACE_STATE);
      if (m.payload.length < START_NONCE_BYTES || bytesToHex(m.payload.subarray(0, START_NONCE_BYTES)) !== t.nonce) {
        t.state = 'ERROR';
        return err(TDISP_ERROR_CODE.INVALID_REQUEST);
      }
      t.state = 'RUN';
      return reply(TDISP_RESPONSE.START_INTERFACE_RESPONSE);
    }
    default:
      t.state = 'CONFIG_UNLOCKED';
      t.nonce = '';
      return reply(TDISP_RESPONSE.STOP_INTERFACE_RESPONSE);
  }
}

/** The SPDM VENDOR_DEFINED_RESPONSE around a TDISP answer. */
export function tdispSpdmResponse(vendorBody: Uint8Array): Uint8Array {
  return spdmMessage(SPDM_VERSION_12, SPDM_RESPONSE.VENDOR_DEFINED_RESPONSE, 0, 0, vendorBody);
}
