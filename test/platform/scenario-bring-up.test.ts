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
import { TIO_TDI_INFO_BUF, TIO_TDI_INFO_PAGE, TIO_TDI_STATUS_BUF, TIO_TDI_STATUS_PAGE } from '../../src/psp/tdi-buffers.js';
import { bufferPage, CMD_NS, mailbox, markFirmware, read } from '../helpers/psp.js';

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
