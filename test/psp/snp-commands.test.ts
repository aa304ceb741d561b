import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { parseScenario } from '../../src/protocol/scenario-schema.js';
import { PSP_COMMAND } from '../../src/psp/commands.js';
import { SEV_RET } from '../../src/psp/statuses.js';
import { encode } from '../../src/psp/layout.js';
import { INIT_EX_LIST_PADDR_EN, INIT_EX_TIO_EN, SNP_ADDR_BUF, SNP_INIT_EX_BUF, SNP_SHUTDOWN_EX_BUF, RANGE_LIST_HDR, RANGE_ENTRY } from '../../src/psp/buffers.js';
import { concatBytes } from '../../src/psp/bytes.js';
import { TMPM_REG } from '../../src/tmpm/registers.js';
import { bufferPage, mailbox, markFirmware } from '../helpers/psp.js';

const BIOS = { firmware: { snpInit: false, tioInit: false } };

describe('SNP_INIT / SNP_INIT_EX', () => {
  it('INIT_EX with a RANGE_LIST makes each range Hypervisor-Fixed, tio_en enables TIO; a second init is INVALID_PLATFORM_STATE', async () => {
    const p = createPlatform(parseScenario(BIOS));
    const range = Number(p.memAlloc(2).spa);
    const list = bufferPage(p, concatBytes(encode(RANGE_LIST_HDR, { numElements: 1 }), encode(RANGE_ENTRY, { base: BigInt(range), pageCount: 2 })));
    const buf = bufferPage(p, encode(SNP_INIT_EX_BUF, { flags: 1 | INIT_EX_LIST_PADDR_EN | INIT_EX_TIO_EN, listPaddr: BigInt(list) | (1n << 51n) }));
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT_EX, buf)).status).toBe(0);
    for (const spa of [range, range + 4096]) expect(p.rmpRead(spa)).toMatchObject({ assigned: false, immutable: true });
    expect(p.pspRegs().firmware).toMatchObject({ snpInit: true, tioEn: true, tioInit: false });
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT_EX, buf)).status).toBe(SEV_RET.INVALID_PLATFORM_STATE);
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT, 0)).status).toBe(SEV_RET.INVALID_PLATFORM_STATE);
  });

  it('refuses a range holding a guest page (INVALID_PAGE_STATE) and changes nothing', async () => {
    const p = createPlatform(parseScenario(BIOS));
    const free = Number(p.memAlloc(1).spa);
    const list = bufferPage(p, concatBytes(encode(RANGE_LIST_HDR, { numElements: 2 }), encode(RANGE_ENTRY, { base: BigInt(free), pageCount: 1 }), encode(RANGE_ENTRY, { base: 0x1_0000_0000n, pageCount: 1 })));
    const buf = bufferPage(p, encode(SNP_INIT_EX_BUF, { flags: INIT_EX_LIST_PADDR_EN, listPaddr: BigInt(list) }));
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT_EX, buf)).status).toBe(SEV_RET.INVALID_PAGE_STATE);
    expect(p.rmpRead(free)).toMatchObject({ immutable: false });
    expect(p.m.firmware.snpInitialized).toBe(false);
  });

  it('answers tio_en with UNSUPPORTED when the platform has no SEV-TIO, and then TIO commands are INVALID_COMMAND', async () => {
    const p = createPlatform(parseScenario({ ...BIOS, tio: { supported: false } }));
    const buf = bufferPage(p, encode(SNP_INIT_EX_BUF, { flags: INIT_EX_TIO_EN }));
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT_EX, buf)).status).toBe(SEV_RET.UNSUPPORTED);
    expect((await mailbox(p, PSP_COMMAND.TIO_INIT, bufferPage(p, Uint8Array.of(16)))).status).toBe(SEV_RET.INVALID_COMMAND);
  });
});

describe('SNP_SHUTDOWN_EX', () => {
  it('is refused with IN_USE while a TIO device context lives; fw.shutdown disconnects and reclaims first and always succeeds', async () => {
    const p = createPlatform();
    const buf = bufferPage(p, encode(SNP_SHUTDOWN_EX_BUF, { length: 8 }));
    expect((await mailbox(p, PSP_COMMAND.SNP_SHUTDOWN_EX, buf)).status).toBe(SEV_RET.IN_USE);
    expect(await p.fwShutdown()).toMatchObject({ status: 0 });
    expect(p.pspRegs().firmware).toMatchObject({ snpInit: false, tioInit: false, tioEn: false, devices: [] });
    expect((await p.fwPlatformStatus()).tdis).toEqual([]);
    expect(await p.fwInit()).toMatchObject({ status: 0 });
    expect(p.pspRegs().firmware).toMatchObject({ snpInit: true, tioInit: true, tioEn: true });
    expect(await p.fwInit()).toMatchObject({ status: SEV_RET.INVALID_PLATFORM_STATE });
  });
});

describe('SNP_PLATFORM_STATUS and SNP_DF_FLUSH', () => {
  it('before SNP_INIT any 32 bytes will do; after it the page must be a firmware page', async () => {
    const p = createPlatform(parseScenario(BIOS));
    const page = Number(p.memAlloc(1).spa);
    const buf = bufferPage(p, encode(SNP_ADDR_BUF, { address: BigInt(page + 0x123) }));
    expect((await mailbox(p, PSP_COMMAND.SNP_PLATFORM_STATUS, buf)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.SNP_DF_FLUSH, 0)).status).toBe(SEV_RET.INVALID_PLATFORM_STATE);
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT, 0)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.SNP_PLATFORM_STATUS, buf)).status).toBe(SEV_RET.INVALID_PAGE_STATE);
    markFirmware(p, page);
    expect((await mailbox(p, PSP_COMMAND.SNP_PLATFORM_STATUS, buf)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.SNP_DF_FLUSH, 0)).status).toBe(0);
  });
});

describe('SNP_PAGE_RECLAIM (fw.pageReclaim)', () => {
  it("frees the TMPM's ring page: INIT 0, then SNP_PAGE_RECLAIM of the Hypervisor-Fixed page, then RMPUPDATE succeeds", async () => {
    const p = createPlatform();
    const ring = Number(p.info().tmpm.ringSpa);
    expect(p.rmpUpdate(ring, { assigned: false, pageSize: '4K' }).rc).toBe(2); // FAIL_PERMISSION: immutable
    p.tmpmWriteReg(TMPM_REG.RBCTL, 0);
    await p.clockAdvance(10_000);
    expect(p.tmpmRegs().engine.initialised).toBe(false);
    expect(await p.fwPageReclaim(ring, '4K')).toMatchObject({ status: 0, statusName: 'SUCCESS' });
    expect(p.rmpRead(ring)).toMatchObject({ assigned: false, immutable: false });
    expect(p.rmpUpdate(ring, { assigned: false, pageSize: '4K' })).toEqual({ rc: 0, rcName: 'SUCCESS' });
  });

  it('reclaims a firmware page (it stays Assigned to ASID 0 until RMPUPDATE), refuses a guest context page, a guest page and a misaligned address', async () => {
    const p = createPlatform();
    const page = Number(p.memAlloc(1).spa);
    markFirmware(p, page);
    expect(await p.fwPageReclaim(page)).toMatchObject({ status: 0 });
    expect(p.rmpRead(page)).toMatchObject({ assigned: true, asid: 0, immutable: false });
    expect(await p.fwPageReclaim(page)).toMatchObject({ status: SEV_RET.INVALID_PAGE_STATE });
    const gctx = Number(p.info().guests[0]!.gctxSpa);
    expect(await p.fwPageReclaim(gctx)).toMatchObject({ status: SEV_RET.INVALID_PAGE_STATE, detail: { asid: 1 } });
    expect(await p.fwPageReclaim(0x1_0000_0000, '2M')).toMatchObject({ status: SEV_RET.INVALID_PAGE_STATE });
    expect(await p.fwPageReclaim(page + 8)).toMatchObject({ status: SEV_RET.INVALID_ADDRESS });
    expect(await p.fwPageReclaim(0x1_0000_0000 + 4096, '2M')).toMatchObject({ status: SEV_RET.INVALID_ADDRESS });
  });

  it('refuses a page of a live TIO context until TIO_DEV_RECLAIM', async () => {
    const p = createPlatform();
    const ctxSpa = Number(p.pspRegs().firmware.devices[0]!.ctxSpa);
    expect(await p.fwPageReclaim(ctxSpa)).toMatchObject({ status: SEV_RET.INVALID_PAGE_STATE, detail: { deviceId: 0x100 } });
  });
});

describe('SNP_PAGE_UNSMASH (fw.pageUnsmash)', () => {
  it('goes through the mailbox: RESP, the id and the status in CMDRESP', async () => {
    const p = createPlatform();
    expect(p.rmpPsmash(0x1_0020_0000).rc).toBe(0);
    expect(await p.fwPageUnsmash(0x1_0020_0000)).toMatchObject({ status: 0 });
    expect(p.pspReadReg(0x10980).value).toBe(0x80c8_0000);
  });
});

describe('the mailbox in realtime mode', () => {
  it('completes commands as wall time passes: fw.pageReclaim and a connect answer without clock.advance', async () => {
    const { systemWallClock } = await import('../../src/clock/wall-clock.js');
    const p = createPlatform(undefined, { wall: systemWallClock });
    try {
      p.clockSetMode('realtime', 1);
      const page = Number(p.memAlloc(1).spa);
      markFirmware(p, page);
      expect(await p.fwPageReclaim(page)).toMatchObject({ status: 0 });
      expect(await p.tioConnect(0x200)).toMatchObject({ status: 0 });
      expect(p.clockNow().nowNs).toBeGreaterThanOrEqual(23 * 10_000);
    } finally {
      p.dispose();
    }
  });
});
