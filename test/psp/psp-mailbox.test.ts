import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { parseScenario } from '../../src/protocol/scenario-schema.js';
import { PSP_REG, SEV_CMD_COMPLETE, CMDRESP_RESP } from '../../src/psp/registers.js';
import { PSP_COMMAND } from '../../src/psp/commands.js';
import { SEV_RET } from '../../src/psp/statuses.js';
import { encode, decode } from '../../src/psp/layout.js';
import { SNP_ADDR_BUF, SNP_STATUS_PAGE, SNP_FEATURE_INFO_BUF, SNP_FEATURE_INFO_OUT, SNP_SHUTDOWN_EX_BUF, SEV_USER_DATA_STATUS } from '../../src/psp/buffers.js';
import { bufferPage, CMD_NS, mailbox, markFirmware, read } from '../helpers/psp.js';

const C_BIT = 1n << 51n;

describe('PspDevice: the SEV mailbox registers and protocol', () => {
  it('reads FEATURE bit 0 (SEV) and refuses offsets the mailbox does not have', () => {
    const p = createPlatform();
    expect(p.pspReadReg(PSP_REG.FEATURE).value).toBe(1);
    expect(() => p.pspReadReg(0x10544)).toThrow(/not a PSP SEV mailbox register/);
    expect(() => p.pspWriteReg(PSP_REG.FEATURE, 0)).toThrow(/read-only/);
  });

  it('clears RESP while a command runs, completes it at start + cmdNs with the id kept and the status in bits 15:0', async () => {
    const p = createPlatform();
    const page = Number(p.memAlloc(1).spa);
    markFirmware(p, page);
    const spa = bufferPage(p, encode(SNP_ADDR_BUF, { address: BigInt(page) }));
    p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_LO, spa % 2 ** 32);
    p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_HI, Math.floor(spa / 2 ** 32));
    p.pspWriteReg(PSP_REG.CMDRESP, (PSP_COMMAND.SNP_PLATFORM_STATUS << 16) | 1);
    expect(p.pspReadReg(PSP_REG.CMDRESP).value).toBe((0x83 << 16) | 1);
    await p.clockAdvance(CMD_NS - 1);
    expect(p.pspReadReg(PSP_REG.CMDRESP).value & CMDRESP_RESP).toBe(0);
    expect(read(p, page, 4)).toEqual(new Uint8Array(4)); // outputs are written at the end
    await p.clockAdvance(1);
    expect(p.pspReadReg(PSP_REG.CMDRESP).value).toBe(0x8083_0000);
    const s = decode(SNP_STATUS_PAGE, read(p, page, 32));
    expect(s).toMatchObject({ apiMajor: 1, apiMinor: 55, state: 1, isRmpInitialized: 1, featureFlags: 8, guestCount: 1 });
  });

  it('raises SEV_CMD_COMPLETE in INTSTS only with IOC and INTEN bit 1; INTSTS is write-1-to-clear', async () => {
    const p = createPlatform();
    const events: Array<Record<string, unknown>> = [];
    p.bus.subscribe(['psp'], (_t, _at, d) => events.push(d));
    await mailbox(p, PSP_COMMAND.SNP_DF_FLUSH, 0);
    expect(p.pspReadReg(PSP_REG.INTSTS).value).toBe(0);
    p.pspWriteReg(PSP_REG.INTEN, SEV_CMD_COMPLETE);
    await mailbox(p, PSP_COMMAND.SNP_DF_FLUSH, 0, { ioc: false });
    expect(p.pspReadReg(PSP_REG.INTSTS).value).toBe(0);
    const r = await mailbox(p, PSP_COMMAND.SNP_DF_FLUSH, 0);
    expect(r).toMatchObject({ resp: true, status: 0, command: 0x84 });
    expect(p.pspReadReg(PSP_REG.INTSTS).value).toBe(SEV_CMD_COMPLETE);
    expect(events.filter((e) => e['kind'] === 'interrupt')).toHaveLength(1);
    p.pspWriteReg(PSP_REG.INTSTS, SEV_CMD_COMPLETE);
    expect(p.pspReadReg(PSP_REG.INTSTS).value).toBe(0);
  });

  it('ignores a CMDRESP write while a command runs and says so on topic psp', async () => {
    const p = createPlatform();
    const events: Array<Record<string, unknown>> = [];
    p.bus.subscribe(['psp'], (_t, _at, d) => events.push(d));
    p.pspWriteReg(PSP_REG.CMDRESP, (PSP_COMMAND.SNP_DF_FLUSH << 16) | 1);
    p.pspWriteReg(PSP_REG.CMDRESP, (PSP_COMMAND.SNP_INIT << 16) | 1);
    expect(events.some((e) => e['kind'] === 'ignored')).toBe(true);
    await p.clockAdvance(CMD_NS);
    expect(p.pspReadReg(PSP_REG.CMDRESP).value).toBe(0x8084_0000);
    expect(events.filter((e) => e['kind'] === 'command')).toHaveLength(1);
  });

  it('answers INVALID_COMMAND for an unknown id, INVALID_ADDRESS for a buffer outside memory, INVALID_LEN for a wrong length', async () => {
    const p = createPlatform();
    expect((await mailbox(p, 0x7ff, 0)).status).toBe(SEV_RET.INVALID_COMMAND);
    expect((await mailbox(p, PSP_COMMAND.SNP_PLATFORM_STATUS, 2 ** 40)).status).toBe(SEV_RET.INVALID_ADDRESS);
    const spa = bufferPage(p, encode(SNP_SHUTDOWN_EX_BUF, { length: 12 }));
    expect((await mailbox(p, PSP_COMMAND.SNP_SHUTDOWN_EX, spa)).status).toBe(SEV_RET.INVALID_LEN);
    expect(p.m.firmware.snpInitialized).toBe(true);
  });

  it('strips the C-bit from the buffer address and the addresses inside it', async () => {
    const p = createPlatform();
    const page = Number(p.memAlloc(1).spa);
    markFirmware(p, page);
    const spa = bufferPage(p, encode(SNP_FEATURE_INFO_BUF, { length: 16, ecxIn: 0, featureInfoPaddr: BigInt(page) | C_BIT }));
    expect((await mailbox(p, PSP_COMMAND.SNP_FEATURE_INFO, BigInt(spa) | C_BIT)).status).toBe(0);
    expect(decode(SNP_FEATURE_INFO_OUT, read(p, page, 16))).toEqual({ eax: 0, ebx: 2, ecx: 2, edx: 0 });
  });

  it('reads the buffer when the command starts: a change during the run does not count', async () => {
    const p = createPlatform();
    const spa = bufferPage(p, encode(SNP_FEATURE_INFO_BUF, { length: 16, ecxIn: 1, featureInfoPaddr: 0n }));
    p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_LO, spa % 2 ** 32);
    p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_HI, Math.floor(spa / 2 ** 32));
    p.pspWriteReg(PSP_REG.CMDRESP, PSP_COMMAND.SNP_FEATURE_INFO << 16);
    p.m.memory.setWord(spa, 16n); // ecx_in 0 now
    await p.clockAdvance(CMD_NS);
    expect(p.pspReadReg(PSP_REG.CMDRESP).value & 0xffff).toBe(SEV_RET.INVALID_PARAM);
  });

  it('takes the per-command run time of the scenario, and a psp.COMMAND fault rule however the command arrives', async () => {
    const p = createPlatform(parseScenario({ psp: { commandNs: { SNP_DF_FLUSH: 500 } } }));
    p.pspWriteReg(PSP_REG.CMDRESP, PSP_COMMAND.SNP_DF_FLUSH << 16);
    await p.clockAdvance(500);
    expect(p.pspReadReg(PSP_REG.CMDRESP).value).toBe(0x8084_0000);
    p.faultAdd({ method: 'psp.SNP_PAGE_UNSMASH', status: SEV_RET.RESOURCE_LIMIT, times: 2 });
    expect(await p.fwPageUnsmash(0x1_0000_0000)).toMatchObject({ status: SEV_RET.RESOURCE_LIMIT, detail: { injected: true } });
    const spa = bufferPage(p, encode(SNP_ADDR_BUF, { address: 0x1_0000_0000n }));
    expect((await mailbox(p, PSP_COMMAND.SNP_PAGE_UNSMASH, spa)).status).toBe(SEV_RET.RESOURCE_LIMIT);
  });

  it('answers SEV PLATFORM_STATUS in every state, in place, with the SNP API version', async () => {
    const p = createPlatform(parseScenario({ firmware: { snpInit: false, tioInit: false } }));
    const spa = bufferPage(p, new Uint8Array(12));
    expect((await mailbox(p, PSP_COMMAND.PLATFORM_STATUS, spa)).status).toBe(0);
    expect(decode(SEV_USER_DATA_STATUS, read(p, spa, 12))).toMatchObject({ apiMajor: 1, apiMinor: 55, state: 0, flags: 0 });
  });
});
