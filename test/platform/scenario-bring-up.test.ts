/**
 * A scenario's bound TEE-IO device is bound by the firmware command path at build
 * (protocol/README.md §4.7.5): the state it starts in is exactly what fw.tdiBind
 * leaves on the same scenario without `boundAsid`, run on the bring-up's PRNG
 * stream; only the clock (set back to 0) and the PRNG (the seed's stream) differ.
 */
import { describe, expect, it } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { DEFAULT_SCENARIO, type Scenario } from '../../src/platform/scenario.js';
import { BRING_UP_SEED_XOR } from '../../src/platform/build-scenario.js';
import { SeededRng } from '../../src/util/rng.js';
import { decode, encode } from '../../src/psp/layout.js';
import { PSP_COMMAND } from '../../src/psp/command-ids.js';
import { encodeSla } from '../../src/psp/sla.js';
import { TIO_DEV_STATUS_BUF, TIO_DEV_STATUS_PAGE, TIO_TDI_INFO_BUF, TIO_TDI_INFO_PAGE, TIO_TDI_STATUS_BUF, TIO_TDI_STATUS_PAGE } from '../../src/psp/tdi-buffers.js';
import { interfaceReport } from '../../src/psp/tdisp-device.js';
import { TIO_DEV_CONNECT_BUF, TIO_DEV_CREATE_BUF, TIO_DEV_DISCONNECT_BUF } from '../../src/psp/buffers.js';
import { TIO_DEV_MEASUREMENTS_BUF } from '../../src/psp/tdi-buffers.js';
import { allocBuffer, allocCtrl, relay, slaOf } from '../../src/platform/platform-psp.js';
import { DOBJ_OFFSET } from '../../src/psp/sla.js';
import { createHash } from 'node:crypto';
import { bufferPage, CMD_NS, mailbox, markFirmware, read } from '../helpers/psp.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sha384 = (b: Uint8Array) => createHash('sha384').update(b).digest('hex');

const unbound: Scenario = { ...DEFAULT_SCENARIO, devices: DEFAULT_SCENARIO.devices.map(({ boundAsid: _bound, ...d }) => d) };

/** The state document with memory, minus what the bring-up sets back (clock time, PRNG). */
function stateOf(p: ReturnType<typeof createPlatform>) {
  const { clock, rng: _rng, ...rest } = p.dumpState().state;
  return { ...rest, clock: { ...clock, nowNs: 0 } };
}

describe('the default scenario binds device 0x0100 through the firmware', () => {
  it("starts in exactly the state fw.tdiBind leaves (TDI table, device contexts, DOE devices, RMP, DTEs, IOTLB, memory), at time 0 with the seed's PRNG", async () => {
    const built = createPlatform();
    expect(built.clockNow().nowNs).toBe(0);
    expect(built.m.rng.getState()).toEqual(new SeededRng(DEFAULT_SCENARIO.seed).getState());

    const byHand = createPlatform(unbound);
    expect(byHand.m.firmware.boundAsid(0x100)).toBe(-1);
    expect(byHand.pspRegs().firmware).toMatchObject({ devices: [], tdis: [], commands: 0 });
    byHand.m.rng.reseed((DEFAULT_SCENARIO.seed ^ BRING_UP_SEED_XOR) >>> 0);
    const r = await byHand.fwTdiBind(0x100, 1);
    expect(r).toMatchObject({ status: 0, statusName: 'SUCCESS', deviceId: 0x100, asid: 1, tdispState: 'RUN', reportBytes: 36 });
    // The path costs virtual time: 35 mailbox commands (connect, measurements, certificates, TDI create, bind twice, status, page reclaims).
    expect(byHand.clockNow().nowNs).toBe(35 * CMD_NS);
    expect(built.pspRegs().firmware.commands).toBe(35);

    expect(stateOf(built)).toEqual(stateOf(byHand));
    // The same thing, read as a client would.
    expect(built.pspRegs().firmware.tdis).toEqual([expect.objectContaining({ deviceId: 0x100, functionId: 0x100, tdispState: 'RUN', asid: 1, fencedAsid: -1 })]);
    expect(built.pspRegs().firmware.tdis).toEqual(byHand.pspRegs().firmware.tdis);
    expect(built.iommuReadDte(0x100)).toEqual(byHand.iommuReadDte(0x100));
    expect(built.m.firmware.boundAsid(0x100)).toBe(1);
    const { status: _s, ...fw } = await built.fwPlatformStatus();
    const { status: _t, ...fwByHand } = await byHand.fwPlatformStatus();
    expect(fw).toEqual(fwByHand);
    expect(fw).toMatchObject({ tdis: [{ deviceId: 0x100, asid: 1 }], devices: [{ deviceId: 0x100, state: 'connected' }] });
    expect(built.audit().violations).toEqual([]);
  });

  it('answers TIO_TDI_STATUS and TIO_TDI_INFO over the mailbox with RUN for ASID 1', async () => {
    const p = createPlatform();
    const fw = p.pspRegs().firmware;
    const devCtxSla = encodeSla(fw.devices[0]!.ctxSpa);
    const tdiCtxSla = encodeSla(fw.tdis[0]!.ctxSpa);
    const out = Number(p.memAlloc(1).spa);
    markFirmware(p, out);
    const status = bufferPage(p, encode(TIO_TDI_STATUS_BUF, { length: TIO_TDI_STATUS_BUF.bytes, devCtxSla, tdiCtxSla, statusPaddr: BigInt(out) }));
    expect(await mailbox(p, PSP_COMMAND.TIO_TDI_STATUS, status)).toMatchObject({ status: 0, resp: true });
    expect(decode(TIO_TDI_STATUS_PAGE, read(p, out, 16))).toEqual({ length: 16, tdispState: 2 });
    const info = bufferPage(p, encode(TIO_TDI_INFO_BUF, { length: TIO_TDI_INFO_BUF.bytes, version: 1, devCtxSla, tdiCtxSla, statusPaddr: BigInt(out) }));
    expect(await mailbox(p, PSP_COMMAND.TIO_TDI_INFO, info)).toMatchObject({ status: 0 });
    const i = decode(TIO_TDI_INFO_PAGE, read(p, out, TIO_TDI_INFO_PAGE.bytes));
    // Read twice: by the lock and by RUN_FORCE's bind.
    expect(i).toMatchObject({ length: 200, functionId: 0x100, p2: 0x11, intfReportCounter: 2n, asid: 1, tdiId: 0x100n });
    expect((i.p1 >> 2) & 3).toBe(2);
    // The digests: SHA-384 of the chain, the measurement record and the report the firmware read from the device (the connect measured: p1 bit 0).
    expect(i.p1 & 1).toBe(1);
    const page = read(p, out, TIO_TDI_INFO_PAGE.bytes);
    const ctx = p.m.psp.tio.contexts[0]!;
    expect(ctx.measurements).toHaveLength(220 * 2);
    expect(hex(page.subarray(32, 80))).toBe(sha384(p.m.doe.certificateChain(0x100)));
    expect(hex(page.subarray(80, 128))).toBe(sha384(Buffer.from(ctx.measurements!, 'hex')));
    expect(hex(page.subarray(128, 176))).toBe(sha384(interfaceReport(0x100)));
    // DEV_STATUS: the same certificate and measurement digests, meas_digest_valid in p2.
    const dev = bufferPage(p, encode(TIO_DEV_STATUS_BUF, { length: TIO_DEV_STATUS_BUF.bytes, devCtxSla, statusPaddr: BigInt(out) }));
    expect(await mailbox(p, PSP_COMMAND.TIO_DEV_STATUS, dev)).toMatchObject({ status: 0 });
    const ds = read(p, out, TIO_DEV_STATUS_PAGE.bytes);
    expect(decode(TIO_DEV_STATUS_PAGE, ds)).toMatchObject({ ctxState: 1, deviceId: 0x100, p2: 1, tdiCount: 1, boundTdiCount: 1 });
    expect(hex(ds.subarray(48, 96))).toBe(hex(page.subarray(32, 80)));
    expect(hex(ds.subarray(96, 144))).toBe(hex(page.subarray(80, 128)));
  });

  it('DEV_STATUS digests: the chain once connected, the measurement record once measured (meas_digest_valid), zero before; a disconnect forgets both', async () => {
    const p = createPlatform(unbound);
    const D = 0x200;
    const devCtx = allocBuffer(p.m, p.m.psp.config.tio.devctxSize, true);
    const ctrl = allocCtrl(p.m);
    const slas = { reqSla: slaOf(ctrl.req), respSla: slaOf(ctrl.resp), scratchSla: slaOf(ctrl.scratch), outputSla: slaOf(ctrl.output), devCtxSla: slaOf(devCtx) };
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CREATE, bufferPage(p, encode(TIO_DEV_CREATE_BUF, { length: 32, devCtxSla: slas.devCtxSla, deviceId: D })))).status).toBe(0);
    const out = Number(p.memAlloc(1).spa);
    markFirmware(p, out);
    const status = async () => {
      expect((await mailbox(p, PSP_COMMAND.TIO_DEV_STATUS, bufferPage(p, encode(TIO_DEV_STATUS_BUF, { length: 32, devCtxSla: slas.devCtxSla, statusPaddr: BigInt(out) })))).status).toBe(0);
      const page = read(p, out, TIO_DEV_STATUS_PAGE.bytes);
      return { p2: decode(TIO_DEV_STATUS_PAGE, page).p2, certs: hex(page.subarray(48, 96)), meas: hex(page.subarray(96, 144)) };
    };
    const zero = '00'.repeat(48);
    expect(await status()).toEqual({ p2: 0, certs: zero, meas: zero });
    expect((await relay(p.m, D, PSP_COMMAND.TIO_DEV_CONNECT, encode(TIO_DEV_CONNECT_BUF, { length: 80, ...slas, tcMask: 1, ideStreamIds: 0xffff_ffff_ffff_ff00n }), ctrl)).done.status).toBe(0);
    const chain = read(p, ctrl.output.spa + DOBJ_OFFSET + 32, 1452);
    expect(await status()).toEqual({ p2: 0, certs: sha384(chain), meas: zero });
    expect((await relay(p.m, D, PSP_COMMAND.TIO_DEV_MEASUREMENTS, encode(TIO_DEV_MEASUREMENTS_BUF, { length: 80, flags: 1, ...slas }), ctrl)).done.status).toBe(0);
    const record = read(p, ctrl.output.spa + DOBJ_OFFSET + 32, 220);
    expect(await status()).toEqual({ p2: 1, certs: sha384(chain), meas: sha384(record) });
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_DISCONNECT, bufferPage(p, encode(TIO_DEV_DISCONNECT_BUF, { length: 48, flags: 1, ...slas })))).status).toBe(0);
    expect(await status()).toEqual({ p2: 0, certs: zero, meas: zero });
  });

  it('emu.reset runs the bring-up silently: no psp or fw notification, the clock back at 0', async () => {
    const p = createPlatform();
    await p.clockAdvance(1_000_000);
    const seen: string[] = [];
    p.bus.subscribe(['psp', 'fw'], (topic) => seen.push(topic));
    p.reset();
    expect(seen).toEqual([]);
    expect(p.clockNow().nowNs).toBe(0);
    expect(p.pspRegs().firmware.tdis).toEqual([expect.objectContaining({ functionId: 0x100, tdispState: 'RUN' })]);
    // Afterwards the bus reports as usual.
    await p.fwTdiUnbind(0x100);
    expect(seen).toContain('psp');
    expect(seen).toContain('fw');
  });

  it('a bound device the firmware refuses (not TEE-IO capable) fails the build, naming the key', () => {
    const s: Scenario = { ...DEFAULT_SCENARIO, devices: DEFAULT_SCENARIO.devices.map((d) => (d.deviceId === 0x100 ? { ...d, teeIo: false } : d)) };
    expect(() => createPlatform(s)).toThrow(/scenario\.devices\[0\]\.boundAsid: binding device 0x100 to ASID 1 through the firmware returned INVALID_PARAM/);
  });

  it('with firmware {snpInit: false} nothing is connected or bound, and no command ran', () => {
    const p = createPlatform({ ...DEFAULT_SCENARIO, firmware: { ...DEFAULT_SCENARIO.firmware, snpInit: false, tioInit: false } });
    expect(p.pspRegs().firmware).toMatchObject({ devices: [], tdis: [], commands: 0 });
    expect(p.m.firmware.boundAsid(0x100)).toBe(-1);
  });
});
