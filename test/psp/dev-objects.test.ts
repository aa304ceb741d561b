/**
 * TIO_DEV_CERTIFICATES (0xD8) and TIO_DEV_MEASUREMENTS (0xD7) over the mailbox: the
 * data objects they write to `output` checked byte by byte at the offsets
 * docs/sev-firmware.md §2.5 gives (buffer header 0x40 B, then the 32-byte
 * CERTIFICATE / MEASUREMENT object header: id @0, length @4 (header included),
 * version minor @8 / major @9, device_id u16 @16, segment_id @18, type @19), the
 * command buffers at the §2.7 offsets, a device not connected, and the device
 * answering GET_MEASUREMENTS with ERROR (fault rule spdm.GET_MEASUREMENTS).
 */
import { describe, expect, it } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { PSP_COMMAND } from '../../src/psp/commands.js';
import { SEV_RET } from '../../src/psp/statuses.js';
import { encode } from '../../src/psp/layout.js';
import { TIO_DEV_DISCONNECT_BUF } from '../../src/psp/buffers.js';
import { allocCtrl, relay, slaOf } from '../../src/platform/platform-psp.js';
import { writeBytes } from '../../src/psp/bytes.js';
import { bufferPage, mailbox, read } from '../helpers/psp.js';

const DEV = 0x200;
const BUILT = 0x100;

const u16 = (b: Uint8Array, o: number) => (b[o] as number) | ((b[o + 1] as number) << 8);
const u32 = (b: Uint8Array, o: number) => (u16(b, o) | (u16(b, o + 2) << 16)) >>> 0;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A command buffer from the reference's offsets alone (not src/psp's layouts). */
function put(b: Uint8Array, off: number, size: number, v: bigint | number): void {
  let x = BigInt(v);
  for (let i = 0; i < size; i++, x >>= 8n) b[off + i] = Number(x & 0xffn);
}
interface Slas {
  req: bigint;
  resp: bigint;
  scratch: bigint;
  output: bigint;
  devCtx: bigint;
}
/** TIO_DEV_CERTIFICATES, 48 B: 0:4 length; 4:4 rsvd; 8:32 spdm_ctrl (req @8, resp @16, scratch @24, output @32); 40:8 dev_ctx_sla. */
function certsBuf(s: Slas): Uint8Array {
  const b = new Uint8Array(48);
  put(b, 0, 4, 48);
  put(b, 8, 8, s.req);
  put(b, 16, 8, s.resp);
  put(b, 24, 8, s.scratch);
  put(b, 32, 8, s.output);
  put(b, 40, 8, s.devCtx);
  return b;
}
/** TIO_DEV_MEASUREMENTS, 80 B: 0:4 length; 4:4 flags (bit 0 RAW_BITSTREAM); 8:32 spdm_ctrl; 40:8 dev_ctx_sla; 48:32 meas_nonce. */
function measBuf(s: Slas, nonce: Uint8Array, flags = 1): Uint8Array {
  const b = new Uint8Array(80);
  put(b, 0, 4, 80);
  put(b, 4, 4, flags);
  put(b, 8, 8, s.req);
  put(b, 16, 8, s.resp);
  put(b, 24, 8, s.scratch);
  put(b, 32, 8, s.output);
  put(b, 40, 8, s.devCtx);
  b.set(nonce, 48);
  return b;
}

function hostOf(p: Platform, deviceId: number) {
  const host = p.m.tioHost.devices.get(deviceId)!;
  const ctrl = (host.ctrl ??= allocCtrl(p.m));
  const slas: Slas = { req: slaOf(ctrl.req), resp: slaOf(ctrl.resp), scratch: slaOf(ctrl.scratch), output: slaOf(ctrl.output), devCtx: slaOf(host.devCtx) };
  return { ctrl, slas };
}

/** The data object in `output` (its pages are contiguous): buffer header and the 32-byte object header checked, the body returned. */
function outputObject(p: Platform, outputSpa: number, outputPages: number, id: number, deviceId: number): Uint8Array {
  const hdr = read(p, outputSpa, 0x40 + 32);
  expect(u32(hdr, 0)).toBe(outputPages * 4096); // capacity_sz
  const length = u32(hdr, 0x40 + 4);
  expect(u32(hdr, 4)).toBe(Math.ceil(length / 32) * 32); // payload_sz, a multiple of 32
  expect(u32(hdr, 8)).toBe(0); // flags: not encrypted
  expect(u32(hdr, 0x40)).toBe(id);
  expect(hdr[0x40 + 8]).toBe(0); // version.minor
  expect(hdr[0x40 + 9]).toBe(1); // version.major
  expect(hex(hdr.subarray(0x40 + 10, 0x40 + 16))).toBe('000000000000');
  expect(u16(hdr, 0x40 + 16)).toBe(deviceId);
  expect(hdr[0x40 + 18]).toBe(0); // segment_id
  expect(hdr[0x40 + 19]).toBe(1); // type 1: certificates / measurements
  expect(hex(hdr.subarray(0x40 + 20, 0x40 + 32))).toBe('00'.repeat(12));
  return read(p, outputSpa + 0x40 + 32, length - 32);
}

describe('TIO_DEV_CERTIFICATES (0xD8)', () => {
  it('writes the chain DEV_CONNECT read to output as data object 4, byte for byte', async () => {
    const p = createPlatform();
    expect(await p.tioConnect(DEV)).toMatchObject({ status: 0, certificateBytes: 1452 });
    const { ctrl, slas } = hostOf(p, DEV);
    const afterConnect = read(p, ctrl.output.spa, 0x40 + 32 + 1452);
    // Spoil output so the command has to write it again.
    writeBytes(p.m.memory, ctrl.output.spa + 0x40, new Uint8Array(32 + 1452));
    const r = await relay(p.m, DEV, PSP_COMMAND.TIO_DEV_CERTIFICATES, certsBuf(slas), ctrl);
    expect(r.steps).toBe(0); // nothing exchanged: the firmware has the chain
    expect(r.done).toMatchObject({ status: 0, detail: { certificateBytes: 1452 } });
    const chain = outputObject(p, ctrl.output.spa, ctrl.output.pages, 4, DEV);
    expect(chain.length).toBe(1452);
    // The chain the device holds in slot 0 (SPDM format: Length u16 = the whole chain) and what connect wrote.
    const [, dev] = p.m.doe.getState().find(([id]) => id === DEV)!;
    expect(hex(chain)).toBe(dev.certChain);
    expect(u16(chain, 0)).toBe(1452);
    expect(hex(read(p, ctrl.output.spa, 0x40 + 32 + 1452))).toBe(hex(afterConnect));
  });

  it('serves the device the build connected (the chain of its slot 0)', async () => {
    const p = createPlatform();
    const { ctrl, slas } = hostOf(p, BUILT);
    const r = await relay(p.m, BUILT, PSP_COMMAND.TIO_DEV_CERTIFICATES, certsBuf(slas), ctrl);
    expect(r.done.status).toBe(0);
    const chain = outputObject(p, ctrl.output.spa, ctrl.output.pages, 4, BUILT);
    const [, dev] = p.m.doe.getState().find(([id]) => id === BUILT)!;
    expect(hex(chain)).toBe(dev.certChain);
    // A connect through the exchange would read the same chain: GET_CERTIFICATE at offset 0 answers its first bytes.
    expect(chain.length).toBe(u16(chain, 0));
  });

  it('a device not connected: INVALID_DEV_STATE (0x3B); output untouched', async () => {
    const p = createPlatform();
    await p.tioConnect(DEV);
    const { ctrl, slas } = hostOf(p, DEV);
    const disc = encode(TIO_DEV_DISCONNECT_BUF, { length: 48, flags: 1, devCtxSla: slas.devCtx });
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_DISCONNECT, bufferPage(p, disc))).status).toBe(0);
    const before = hex(read(p, ctrl.output.spa, 4096));
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CERTIFICATES, bufferPage(p, certsBuf(slas)))).status).toBe(SEV_RET.INVALID_DEV_STATE);
    expect(SEV_RET.INVALID_DEV_STATE).toBe(0x3b);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_MEASUREMENTS, bufferPage(p, measBuf(slas, new Uint8Array(32))))).status).toBe(0x3b);
    expect(hex(read(p, ctrl.output.spa, 4096))).toBe(before);
    expect(p.m.psp.tio.exchange).toBeNull();
  });
});

describe('TIO_DEV_MEASUREMENTS (0xD7)', () => {
  it('one secured GET_MEASUREMENTS through SPDM_REQUEST; the measurement record to output as data object 5', async () => {
    const p = createPlatform();
    await p.tioConnect(DEV);
    const { ctrl, slas } = hostOf(p, DEV);
    const spdm: Array<Record<string, unknown>> = [];
    p.bus.subscribe(['psp'], (_t, _at, d) => {
      if (d['kind'] === 'spdm' && d['command'] === 'TIO_DEV_MEASUREMENTS') spdm.push(d);
    });
    const nonce = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
    const r = await relay(p.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(slas, nonce), ctrl);
    expect(r.steps).toBe(1);
    expect(r.done).toMatchObject({ status: 0, detail: { blocks: 4, measurementBytes: 220, rawBitstream: true } });
    expect(spdm.map((d) => `${String(d['phase'])}:${String(d['request'])}`)).toEqual(['request:GET_MEASUREMENTS', 'response:GET_MEASUREMENTS']);
    expect(spdm[0]).toMatchObject({ secured: true });

    // The request the firmware left in req: a REQ object (id 1), data_type 2 (secured SPDM), then the session id and GET_MEASUREMENTS.
    const req = read(p, ctrl.req.spa, 0x40 + 16 + 4 + 4 + 33);
    expect(u32(req, 0x40)).toBe(1);
    expect(u32(req, 0x44)).toBe(16 + 4 + 4 + 33);
    expect(req[0x40 + 10]).toBe(2);
    const session = p.m.psp.tio.contexts.find((c) => c.deviceId === DEV)!.sessionId!;
    expect(u32(req, 0x50)).toBe(session);
    expect(hex(req.subarray(0x54, 0x58))).toBe('12e001ff'); // SPDM 1.2, GET_MEASUREMENTS, signature requested, every block
    expect(hex(req.subarray(0x58, 0x78))).toBe(hex(nonce));
    expect(req[0x78]).toBe(0); // slot 0

    // The record: four DMTF blocks, index 1-4, spec 1 (DMTF), size 3 + 48, value types 0-3 (digests), 48-byte values.
    const rec = outputObject(p, ctrl.output.spa, ctrl.output.pages, 5, DEV);
    expect(rec.length).toBe(4 * (4 + 3 + 48));
    for (let i = 0; i < 4; i++) {
      const o = i * 55;
      expect(rec[o]).toBe(i + 1);
      expect(rec[o + 1]).toBe(1);
      expect(u16(rec, o + 2)).toBe(51);
      expect(rec[o + 4]).toBe(i);
      expect(u16(rec, o + 5)).toBe(48);
    }
    // Deterministic: the device keeps its record; a second run writes the same bytes.
    const [, dev] = p.m.doe.getState().find(([id]) => id === DEV)!;
    expect(dev.measurements).toBe(hex(rec));
    const again = await relay(p.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(slas, nonce, 0), ctrl);
    expect(again.done).toMatchObject({ status: 0, detail: { rawBitstream: false } });
    expect(hex(outputObject(p, ctrl.output.spa, ctrl.output.pages, 5, DEV))).toBe(hex(rec));
    // The same seed gives the same record on another platform.
    const q = createPlatform();
    await q.tioConnect(DEV);
    const h2 = hostOf(q, DEV);
    await relay(q.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(h2.slas, nonce), h2.ctrl);
    expect(hex(outputObject(q, h2.ctrl.output.spa, h2.ctrl.output.pages, 5, DEV))).toBe(hex(rec));
  });

  it('the device answering ERROR (fault rule spdm.GET_MEASUREMENTS): SPDM_ERROR (0x33), output and state unchanged', async () => {
    const p = createPlatform();
    await p.tioConnect(DEV);
    const { ctrl, slas } = hostOf(p, DEV);
    const before = hex(read(p, ctrl.output.spa, 4096));
    const ctxBefore = structuredClone(p.m.psp.tio.contexts);
    p.faultAdd({ method: 'spdm.GET_MEASUREMENTS', status: 0x05, times: 1 });
    const r = await relay(p.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(slas, new Uint8Array(32)), ctrl);
    expect(r.steps).toBe(1);
    expect(r.done).toMatchObject({ status: 0x33, detail: { spdmError: 0x05 } });
    expect(SEV_RET.SPDM_ERROR).toBe(0x33);
    expect(hex(read(p, ctrl.output.spa, 4096))).toBe(before);
    expect(p.m.psp.tio.contexts).toEqual(ctxBefore);
    expect(p.m.psp.tio.exchange).toBeNull();
    // The rule spent, the next run succeeds.
    expect((await relay(p.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(slas, new Uint8Array(32)), ctrl)).done.status).toBe(0);
  });

  it("the device's blocks and the recorded chain live in the state document: a loaded platform answers the same bytes; a bad measurements string is refused", async () => {
    const p = createPlatform();
    await p.tioConnect(DEV);
    const { ctrl, slas } = hostOf(p, DEV);
    await relay(p.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(slas, new Uint8Array(32)), ctrl);
    const rec = hex(outputObject(p, ctrl.output.spa, ctrl.output.pages, 5, DEV));
    const { state } = p.dumpState();
    const q = createPlatform();
    q.loadState(structuredClone(state));
    expect(q.m.psp.tio.contexts.find((c) => c.deviceId === DEV)!.certChain).toHaveLength(1452 * 2);
    const h = hostOf(q, DEV);
    expect((await relay(q.m, DEV, PSP_COMMAND.TIO_DEV_MEASUREMENTS, measBuf(h.slas, new Uint8Array(32)), h.ctrl)).done.status).toBe(0);
    expect(hex(outputObject(q, h.ctrl.output.spa, h.ctrl.output.pages, 5, DEV))).toBe(rec);
    expect((await relay(q.m, DEV, PSP_COMMAND.TIO_DEV_CERTIFICATES, certsBuf(h.slas), h.ctrl)).done.status).toBe(0);
    const bad = structuredClone(state) as unknown as { psp: { doe: Array<[number, Record<string, unknown>]> } };
    const entry = bad.psp.doe.find(([id]) => id === DEV)!;
    entry[1]['measurements'] = 'XYZ';
    expect(() => createPlatform().loadState(bad as unknown as typeof state)).toThrow(/measurements/);
  });
});
