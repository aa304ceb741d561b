/**
 * The emulated devices' DOE mailboxes (`pci.doe`): each TEE-IO capable device
 * answers SPDM 1.2 requests on the CMA feature and secured messages on the
 * SSESSION feature (docs/sev-firmware.md §2.6, §4). No cryptography: the
 * certificate chain, random data, exchange data, signatures and verify data are
 * bytes drawn from the platform's PRNG. A fault rule `spdm.NAME` makes the device
 * answer that request with ERROR, the rule's `status` as the error code.
 */
import type { SeededRng } from '../util/rng.js';
import { tdispAnswer, tdispSpdmResponse, type DeviceTdi } from './tdisp-device.js';
import { tdispOf, tdispVendorBody, type TdispRequestName } from './tdisp.js';
import { invalidArgument } from '../util/emu-error.js';
import { bytesToHex, concatBytes, hexToBytes, put16 } from './bytes.js';
import {
  algorithmsBody,
  CAPS_FLAGS,
  capabilitiesBody,
  DHE_BYTES,
  HASH_BYTES,
  IDE_KM_REPLY,
  ideKmObject,
  MEAS_SIGNATURE_REQUESTED,
  measurementBlock,
  measurementsBody,
  NONCE_BYTES,
  parseGetCertificate,
  parseKeyExchange,
  RANDOM_BYTES,
  secured,
  sessionIdOf,
  SIGNATURE_BYTES,
  SPDM_ERROR_CODE,
  SPDM_REQUEST,
  SPDM_VERSION_10,
  SPDM_VERSION_12,
  spdmHeader,
  spdmMessage,
  spdmRequestName,
  unsecured,
  vendorDefinedBody,
  vendorPayload,
  versionBody,
  type SpdmRequestName,
} from './spdm.js';

export type DoeFeature = 'cma' | 'ssession';

/** One device's SPDM responder state (kept in state documents). */
export interface DoeDeviceState {
  /** The certificate chain of slot 0 (SPDM format: Length, reserved, root hash, certificates), hex. */
  certChain: string;
  /** The open session's id, or null. */
  sessionId: number | null;
  /** FINISH done for the open session. */
  finished: boolean;
  /** IDE keys programmed (KEY_PROG) and streams started (K_SET_GO) since the session opened. */
  keysProgrammed: number;
  keysGo: number;
  /** Its measurement record (DMTF measurement blocks), hex; drawn from the PRNG at the first GET_MEASUREMENTS. */
  measurements?: string;
  /** Each function's TDI as the device keeps it (TDISP); absent until the first TDISP request. */
  tdis?: DeviceTdi[];
}

/** What a request did at the device, for the psp topic. */
export interface DoeStep {
  deviceId: number;
  feature: DoeFeature;
  request: string;
  response: string;
  error?: number;
}

/** Certificate bytes after the chain header (4 + the root hash). */
const CERT_BODY_BYTES = 1400;
/**
 * The device's measurement blocks (indices 1-4): DMTF value types 0 immutable ROM,
 * 1 mutable firmware, 2 hardware configuration, 3 firmware configuration, each a
 * SHA-384-sized digest (bit 7 of the type clear: digest, not raw bit stream).
 */
export const MEASUREMENT_BLOCKS = 4;
export const MEASUREMENT_DIGEST_BYTES = 48;

export class DoeDevices {
  private readonly devices = new Map<number, DoeDeviceState>();

  constructor(
    private readonly rng: SeededRng,
    /** TEE-IO capable devices (scenario): only they have a DOE mailbox. */
    private readonly capable: () => ReadonlySet<number>,
    /** A fault rule on `spdm.NAME` that fires: its SPDM error code, else null. */
    private readonly faultFor: (name: SpdmRequestName | TdispRequestName) => number | null,
  ) {}

  /** pci.doe: one request, one response. A device without a DOE mailbox is misuse (-32602). */
  exchange(deviceId: number, feature: DoeFeature, request: Uint8Array): { response: Uint8Array; step: DoeStep } {
    if (!this.capable().has(deviceId)) throw invalidArgument(`device 0x${deviceId.toString(16).padStart(4, '0')} has no DOE mailbox (it is not a TEE-IO capable device of the scenario)`, { path: ['deviceId'] });
    const dev = this.device(deviceId);
    let sessionId: number | null = null;
    let message = request;
    if (feature === 'ssession') {
      const u = unsecured(request);
      if (u === undefined || dev.sessionId === null || u.sessionId !== dev.sessionId) {
        return this.done(deviceId, feature, request, spdmMessage(SPDM_VERSION_12, 0x7f, SPDM_ERROR_CODE.InvalidSession, 0), SPDM_ERROR_CODE.InvalidSession);
      }
      sessionId = u.sessionId;
      message = u.message;
    }
    const hdr = spdmHeader(message);
    const wrap = (m: Uint8Array) => (sessionId === null ? m : secured(sessionId, m));
    const error = (code: number) => this.done(deviceId, feature, request, wrap(spdmMessage(SPDM_VERSION_12, 0x7f, code, 0)), code);
    if (hdr === undefined) return error(SPDM_ERROR_CODE.InvalidRequest);
    const name = spdmRequestName(hdr.code);
    if (name === undefined) return error(SPDM_ERROR_CODE.UnsupportedRequest);
    const injected = this.faultFor(name);
    if (injected !== null) return error(injected & 0xff);
    const inSession = name === 'FINISH' || name === 'END_SESSION' || name === 'VENDOR_DEFINED_REQUEST' || name === 'GET_MEASUREMENTS';
    if (inSession !== (feature === 'ssession')) return error(SPDM_ERROR_CODE.UnexpectedRequest);
    const reply = this.answer(dev, name, message);
    if (reply === null) return error(SPDM_ERROR_CODE.InvalidRequest);
    return this.done(deviceId, feature, request, wrap(reply));
  }

  private answer(dev: DoeDeviceState, name: SpdmRequestName, m: Uint8Array): Uint8Array | null {
    const v = SPDM_VERSION_12;
    switch (name) {
      case 'GET_VERSION':
        return spdmMessage(SPDM_VERSION_10, 0x04, 0, 0, versionBody());
      case 'GET_CAPABILITIES':
        return spdmMessage(v, 0x61, 0, 0, capabilitiesBody(CAPS_FLAGS, 12, 0x1000));
      case 'NEGOTIATE_ALGORITHMS':
        return spdmMessage(v, 0x63, 0, 0, algorithmsBody());
      case 'GET_DIGESTS':
        return spdmMessage(v, 0x01, 0, 1, this.chain(dev).subarray(4, 4 + HASH_BYTES));
      case 'GET_CERTIFICATE': {
        const q = parseGetCertificate(m);
        const chain = this.chain(dev);
        if (q === undefined || q.offset > chain.length) return null;
        const portion = chain.subarray(q.offset, Math.min(chain.length, q.offset + q.length));
        const b = new Uint8Array(4);
        put16(b, 0, portion.length);
        put16(b, 2, chain.length - q.offset - portion.length);
        return spdmMessage(v, 0x02, 0, 0, concatBytes(b, portion));
      }
      case 'KEY_EXCHANGE': {
        const q = parseKeyExchange(m);
        if (q === undefined) return null;
        const rspSessionId = 1 + this.rng.int(0xfffe);
        dev.sessionId = sessionIdOf(q.reqSessionId, rspSessionId);
        dev.finished = false;
        dev.keysProgrammed = 0;
        dev.keysGo = 0;
        // A new session starts every TDI over (TDISP state lives with the session that locked it).
        if (dev.tdis !== undefined) dev.tdis = [];
        const body = new Uint8Array(4 + RANDOM_BYTES + DHE_BYTES + 2 + SIGNATURE_BYTES + HASH_BYTES);
        put16(body, 0, rspSessionId);
        body.set(this.bytes(RANDOM_BYTES + DHE_BYTES), 4);
        body.set(this.bytes(SIGNATURE_BYTES + HASH_BYTES), 4 + RANDOM_BYTES + DHE_BYTES + 2);
        return spdmMessage(v, 0x64, 0, 0, body);
      }
      case 'GET_MEASUREMENTS': {
        if (!dev.finished) return null;
        const signed = ((m[2] as number) & MEAS_SIGNATURE_REQUESTED) !== 0;
        if (signed && m.length < 4 + NONCE_BYTES + 1) return null;
        const record = this.measurementRecord(dev);
        return spdmMessage(v, 0x60, 0, signed ? (m[4 + NONCE_BYTES] as number) : 0, measurementsBody(MEASUREMENT_BLOCKS, record, this.bytes(NONCE_BYTES), signed ? this.bytes(SIGNATURE_BYTES) : new Uint8Array(0)));
      }
      case 'FINISH':
        dev.finished = true;
        return spdmMessage(v, 0x65, 0, 0);
      case 'END_SESSION':
        dev.sessionId = null;
        dev.finished = false;
        return spdmMessage(v, 0x6c, 0, 0);
      case 'VENDOR_DEFINED_REQUEST': {
        const tdisp = tdispOf(m);
        if (tdisp !== undefined) {
          if (!dev.finished) return null;
          dev.tdis ??= [];
          return tdispSpdmResponse(tdispVendorBody(tdispAnswer(dev.tdis, tdisp, () => this.bytes(32), this.faultFor)));
        }
        const p = vendorPayload(m);
        const reply = p === undefined ? undefined : IDE_KM_REPLY[p[1] as number];
        if (p === undefined || reply === undefined || !dev.finished) return null;
        if (reply === 3) dev.keysProgrammed++;
        if (p[1] === 4) dev.keysGo++;
        return spdmMessage(v, 0x7e, 0, 0, vendorDefinedBody(ideKmObject(reply, p[4] ?? 0, p[6] ?? 0)));
      }
      default:
        return null;
    }
  }

  private done(deviceId: number, feature: DoeFeature, request: Uint8Array, response: Uint8Array, error?: number) {
    const step: DoeStep = { deviceId, feature, request: bytesToHex(request.subarray(0, 64)), response: bytesToHex(response.subarray(0, 64)), ...(error !== undefined ? { error } : {}) };
    return { response, step };
  }

  private device(deviceId: number): DoeDeviceState {
    let d = this.devices.get(deviceId);
    if (d === undefined) {
      d = { certChain: '', sessionId: null, finished: false, keysProgrammed: 0, keysGo: 0 };
      this.devices.set(deviceId, d);
    }
    return d;
  }

  /** Slot 0's chain, drawn from the PRNG the first time it is asked for. */
  private chain(dev: DoeDeviceState): Uint8Array {
    if (dev.certChain === '') {
      const total = 4 + HASH_BYTES + CERT_BODY_BYTES;
      const b = new Uint8Array(total);
      put16(b, 0, total);
      b.set(this.bytes(HASH_BYTES + CERT_BODY_BYTES), 4);
      dev.certChain = bytesToHex(b);
    }
    return hexToBytes(dev.certChain);
  }

  /** The device's measurement blocks, drawn from the PRNG the first time they are asked for. */
  private measurementRecord(dev: DoeDeviceState): Uint8Array {
    if (dev.measurements === undefined) {
      const blocks: Uint8Array[] = [];
      for (let i = 0; i < MEASUREMENT_BLOCKS; i++) blocks.push(measurementBlock(i + 1, i, this.bytes(MEASUREMENT_DIGEST_BYTES)));
      dev.measurements = bytesToHex(concatBytes(...blocks));
    }
    return hexToBytes(dev.measurements);
  }

  /** Slot 0's certificate chain (drawn on first use), for a context the build connected without an exchange. */
  certificateChain(deviceId: number): Uint8Array {
    return this.chain(this.device(deviceId));
  }

  private bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const w = this.rng.nextUint32();
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (w >>> (8 * k)) & 0xff;
    }
    return out;
  }

  /** A device's session, for the firmware's disconnect. */
  session(deviceId: number): number | null {
    return this.devices.get(deviceId)?.sessionId ?? null;
  }

  /** A session the build set up (the default scenario's connected device). */
  openSession(deviceId: number, sessionId: number): void {
    const d = this.device(deviceId);
    d.sessionId = sessionId;
    d.finished = true;
  }

  getState(): Array<[number, DoeDeviceState]> {
    return [...this.devices.entries()].sort((a, b) => a[0] - b[0]).map(([id, d]) => [id, structuredClone(d)]);
  }

  setState(s: Array<[number, DoeDeviceState]>): void {
    this.devices.clear();
    for (const [id, d] of s) this.devices.set(id, structuredClone(d));
  }

  /** A function the build left in RUN (the default scenario's bound TDI). */
  runTdi(deviceId: number, functionId: number): void {
    const d = this.device(deviceId);
    d.tdis = (d.tdis ?? []).filter((t) => t.functionId !== functionId);
    d.tdis.push({ functionId, state: 'RUN', nonce: '' });
  }
}

export { SPDM_REQUEST };
