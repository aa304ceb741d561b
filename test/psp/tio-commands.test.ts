import { describe, it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { parseScenario } from '../../src/protocol/scenario-schema.js';
import { PSP_COMMAND } from '../../src/psp/commands.js';
import { SEV_RET } from '../../src/psp/statuses.js';
import { decode, encode } from '../../src/psp/layout.js';
import { INIT_EX_TIO_EN, SNP_INIT_EX_BUF, TIO_DEV_CONNECT_BUF, TIO_DEV_CREATE_BUF, TIO_DEV_RECLAIM_BUF, TIO_STATUS_BUF, TIO_STATUS_PAGE, TIO_INIT_BUF } from '../../src/psp/buffers.js';
import { DOBJ_CERT_HDR, DOBJ_REQ_RESP_HDR, encodeSla, SLA_EOL } from '../../src/psp/sla.js';
import { allocBuffer, relay } from '../../src/platform/platform-psp.js';
import { bufferPage, mailbox, markFirmware, read } from '../helpers/psp.js';

const BIOS = { firmware: { snpInit: false, tioInit: false } };

function spdmSteps(p: ReturnType<typeof createPlatform>): Array<Record<string, unknown>> {
  const steps: Array<Record<string, unknown>> = [];
  p.bus.subscribe(['psp'], (_t, _at, d) => {
    if (d['kind'] === 'spdm' && d['phase'] === 'request') steps.push(d);
  });
  return steps;
}

describe('the default scenario and the BIOS scenario', () => {
  it('starts as Linux probe leaves the PSP: SNP_INIT_EX with tio_en, TIO_INIT done, device 0x0100 connected and bound', async () => {
    const p = createPlatform();
    expect(p.pspRegs().firmware).toMatchObject({ snpInit: true, tioEn: true, tioInit: true, devices: [{ deviceId: 0x100, state: 'connected', pages: 2 }] });
    expect((await p.fwPlatformStatus()).tdis).toEqual([{ deviceId: 0x100, asid: 1 }]);
  });

  it('with firmware {snpInit: false, tioInit: false} runs Linux v6.19 bring-up: TIO_STATUS says tio_en 1, init_done 0 before TIO_INIT', async () => {
    const p = createPlatform(parseScenario(BIOS));
    expect(p.pspRegs().firmware).toMatchObject({ snpInit: false, tioInit: false, devices: [] });
    expect((await p.fwPlatformStatus()).tdis).toEqual([]);
    expect((await mailbox(p, PSP_COMMAND.SNP_INIT_EX, bufferPage(p, encode(SNP_INIT_EX_BUF, { flags: 1 | INIT_EX_TIO_EN })))).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.SNP_DF_FLUSH, 0)).status).toBe(0);
    const statusPage = Number(p.memAlloc(1).spa);
    const statusBuf = bufferPage(p, encode(TIO_STATUS_BUF, { length: 16, statusPaddr: BigInt(statusPage) }));
    expect((await mailbox(p, PSP_COMMAND.TIO_STATUS, statusBuf)).status).toBe(SEV_RET.INVALID_PAGE_STATE);
    markFirmware(p, statusPage);
    expect((await mailbox(p, PSP_COMMAND.TIO_STATUS, statusBuf)).status).toBe(0);
    expect(decode(TIO_STATUS_PAGE, read(p, statusPage, 64))).toMatchObject({ length: 64, flags: 1, spdmReqSizeMin: 4096, spdmReqSizeMax: 16384, spdmRspSizeMax: 16384, devctxSize: 8192, tdictxSize: 4096 });
    const init = bufferPage(p, encode(TIO_INIT_BUF, { length: 16 }));
    expect((await mailbox(p, PSP_COMMAND.TIO_INIT, init)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.TIO_STATUS, statusBuf)).status).toBe(0);
    expect(decode(TIO_STATUS_PAGE, read(p, statusPage, 64)).flags).toBe(3);
    expect((await mailbox(p, PSP_COMMAND.TIO_INIT, init)).status).toBe(SEV_RET.INVALID_PLATFORM_STATE);
  });
});

describe('tio.connect: TIO_DEV_CREATE, TIO_DEV_CONNECT and the SPDM relay', () => {
  it('connects device 0x0200 through the whole SPDM 1.2 sequence and writes its certificate chain to output', async () => {
    const p = createPlatform();
    const steps = spdmSteps(p);
    const r = await p.tioConnect(0x200);
    // As AMD's dsm_connect: DEV_CONNECT, then DEV_MEASUREMENTS (one secured GET_MEASUREMENTS), then DEV_CERTIFICATES as a self-check.
    expect(r).toMatchObject({ status: 0, statusName: 'SUCCESS', deviceId: 0x200, certificateBytes: 1452, measurementBytes: 220, certificatesMatch: true });
    const names = steps.map((s) => s['request']);
    expect(names.slice(0, 8)).toEqual(['GET_VERSION', 'GET_CAPABILITIES', 'NEGOTIATE_ALGORITHMS', 'GET_DIGESTS', 'GET_CERTIFICATE', 'GET_CERTIFICATE', 'KEY_EXCHANGE', 'FINISH']);
    expect(names.slice(8)).toEqual([...Array(13).fill('VENDOR_DEFINED_REQUEST'), 'GET_MEASUREMENTS']);
    expect(steps.slice(7).every((s) => s['secured'] === true)).toBe(true);
    expect(r.steps).toBe(22);
    expect(p.pspRegs().firmware.devices).toContainEqual(expect.objectContaining({ deviceId: 0x200, state: 'connected' }));
    const host = p.m.tioHost.devices.get(0x200)!;
    const out = read(p, host.ctrl!.output.spa + 0x40, 32);
    expect(decode(DOBJ_CERT_HDR, out)).toMatchObject({ id: 4, length: 32 + 1452, deviceId: 0x200, type: 1 });
    // One mailbox command per step plus DEV_CREATE and the first DEV_CONNECT (23), DEV_MEASUREMENTS twice, DEV_CERTIFICATES: 26 x cmdNs.
    expect(p.clockNow().nowNs).toBe(26 * 10_000);
    expect(await p.tioConnect(0x200)).toMatchObject({ status: SEV_RET.INVALID_DEV_STATE });
  });

  it('refuses a device that is not TEE-IO capable (INVALID_PARAM) and gives every page back', async () => {
    const p = createPlatform();
    const held = p.m.pool.allocatedPages();
    expect(await p.tioConnect(0x300)).toMatchObject({ status: SEV_RET.INVALID_PARAM, steps: 0 });
    expect(p.m.pool.allocatedPages()).toBe(held);
  });

  it('ends with SPDM_ERROR when the device answers ERROR (fault rule spdm.GET_CERTIFICATE), changes nothing and reclaims the context', async () => {
    const p = createPlatform();
    const held = p.m.pool.allocatedPages();
    p.faultAdd({ method: 'spdm.GET_CERTIFICATE', status: 0x03 });
    const r = await p.tioConnect(0x200);
    expect(r).toMatchObject({ status: SEV_RET.SPDM_ERROR, statusName: 'SPDM_ERROR', detail: { spdmError: 3 } });
    expect(r.steps).toBe(5);
    expect(p.pspRegs().firmware.devices.map((d) => d.deviceId)).toEqual([0x100]);
    expect(p.m.pool.allocatedPages()).toBe(held);
    expect(await p.tioConnect(0x200)).toMatchObject({ status: 0 });
  });

  it('a device refusing GET_MEASUREMENTS fails the connect (SPDM_ERROR): the context is disconnected (FORCE), reclaimed and every page given back', async () => {
    const p = createPlatform();
    const held = p.m.pool.allocatedPages();
    const commands: string[] = [];
    p.bus.subscribe(['psp'], (_t, _at, d) => {
      if (d['kind'] === 'command') commands.push(String(d['commandName']));
    });
    p.faultAdd({ method: 'spdm.GET_MEASUREMENTS', status: 0x05 });
    const r = await p.tioConnect(0x200);
    expect(r).toMatchObject({ status: SEV_RET.SPDM_ERROR, deviceId: 0x200, connectStatus: 'SUCCESS', detail: { spdmError: 5 } });
    expect(r.steps).toBe(22);
    expect(commands.filter((c) => !c.startsWith('SNP_')).slice(-4)).toEqual(['TIO_DEV_MEASUREMENTS', 'TIO_DEV_MEASUREMENTS', 'TIO_DEV_DISCONNECT', 'TIO_DEV_RECLAIM']);
    expect(commands).not.toContain('TIO_DEV_CERTIFICATES');
    expect(p.pspRegs().firmware.devices.map((d) => d.deviceId)).toEqual([0x100]);
    expect(p.m.pool.allocatedPages()).toBe(held);
    expect(p.m.tioHost.devices.has(0x200)).toBe(false);
  });

  it('applies psp.TIO_DEV_CONNECT fault rules to the command the relay re-issues', async () => {
    const p = createPlatform();
    p.faultAdd({ method: 'psp.TIO_DEV_CONNECT', status: SEV_RET.RESOURCE_LIMIT, nth: 3 });
    expect(await p.tioConnect(0x200)).toMatchObject({ status: SEV_RET.RESOURCE_LIMIT, steps: 2, detail: { injected: true } });
  });
});

describe('tio.disconnect: TIO_DEV_DISCONNECT, TIO_DEV_RECLAIM, every page back', () => {
  it('disconnects with one secured END_SESSION, reclaims and frees every page', async () => {
    const p = createPlatform();
    const held = p.m.pool.allocatedPages();
    await p.tioConnect(0x200);
    const steps = spdmSteps(p);
    expect(await p.tioDisconnect(0x200)).toMatchObject({ status: 0, steps: 1, forced: false, reclaimStatus: 'SUCCESS' });
    expect(steps.map((s) => s['request'])).toEqual(['END_SESSION']);
    expect(p.pspRegs().firmware.devices.map((d) => d.deviceId)).toEqual([0x100]);
    expect(p.m.pool.allocatedPages()).toBe(held);
  });

  it('a bound TDI refuses a plain disconnect (IN_USE); the convenience retries with FORCE, which unbinds it', async () => {
    const p = createPlatform();
    const r = await p.tioDisconnect(0x100);
    expect(r).toMatchObject({ status: SEV_RET.IN_USE, forced: true, reclaimStatus: 'SUCCESS' });
    expect((await p.fwPlatformStatus()).tdis).toEqual([]);
    expect(p.pspRegs().firmware.devices).toEqual([]);
    expect(await p.tioDisconnect(0x100)).toMatchObject({ status: SEV_RET.INVALID_DEV_CTX });
  });
});

describe('TIO commands from a host driver', () => {
  function driver(p: ReturnType<typeof createPlatform>) {
    const devCtx = allocBuffer(p.m, 8192, true);
    const ctrl = { req: allocBuffer(p.m, 16384, true), resp: allocBuffer(p.m, 16384, false), scratch: allocBuffer(p.m, 65536, true), output: allocBuffer(p.m, 65536, true) };
    const sla = (b: { spa: number; scatterSpa: number | null }) => (b.scatterSpa === null ? encodeSla(BigInt(b.spa)) : encodeSla(BigInt(b.scatterSpa), true));
    const connect = (over: Record<string, unknown> = {}) =>
      encode(TIO_DEV_CONNECT_BUF, { length: 80, reqSla: sla(ctrl.req), respSla: sla(ctrl.resp), scratchSla: sla(ctrl.scratch), outputSla: sla(ctrl.output), devCtxSla: sla(devCtx), tcMask: 1, ...over });
    return { devCtx, ctrl, sla, connect };
  }

  it('checks dev_ctx pages, tc_mask, buffer ownership and sizes, and a second context (IN_USE)', async () => {
    const p = createPlatform();
    const d = driver(p);
    const create = bufferPage(p, encode(TIO_DEV_CREATE_BUF, { length: 32, devCtxSla: d.sla(d.devCtx), deviceId: 0x200 }));
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CREATE, create)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CREATE, create)).status).toBe(SEV_RET.IN_USE);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, bufferPage(p, d.connect({ tcMask: 0 })))).status).toBe(SEV_RET.INVALID_PARAM);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, bufferPage(p, d.connect({ respSla: d.sla(d.ctrl.req) })))).status).toBe(SEV_RET.INVALID_PAGE_STATE);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, bufferPage(p, d.connect({ scratchSla: encodeSla(BigInt(d.ctrl.req.spa)) })))).status).toBe(SEV_RET.INCORRECT_BUFFER_LENGTH);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, bufferPage(p, d.connect({ length: 81 })))).status).toBe(SEV_RET.INVALID_LEN);
    const first = await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, bufferPage(p, d.connect()));
    expect(first.status).toBe(SEV_RET.SPDM_REQUEST);
    // The request: a REQ object of exactly 16 + the 4-byte GET_VERSION.
    const req = decode(DOBJ_REQ_RESP_HDR, read(p, d.ctrl.req.spa + 0x40, 16));
    expect(req).toMatchObject({ id: 1, length: 20, dataType: 1 });
    expect([...read(p, d.ctrl.req.spa + 0x50, 4)]).toEqual([0x10, 0x84, 0, 0]);
    const reclaim = bufferPage(p, encode(TIO_DEV_RECLAIM_BUF, { length: 16, devCtxSla: d.sla(d.devCtx) }));
    expect(SLA_EOL).toBe(0x000f_ffff_ffff_f000n);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_RECLAIM, reclaim)).status).toBe(0);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_RECLAIM, reclaim)).status).toBe(SEV_RET.INVALID_DEV_CTX);
  });

  it('ends the exchange with SPDM_ERROR when the answer does not answer the request', async () => {
    const p = createPlatform();
    const d = driver(p);
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CREATE, bufferPage(p, encode(TIO_DEV_CREATE_BUF, { length: 32, devCtxSla: d.sla(d.devCtx), deviceId: 0x200 })))).status).toBe(0);
    const buf = bufferPage(p, d.connect());
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, buf)).status).toBe(SEV_RET.SPDM_REQUEST);
    // A CAPABILITIES answer to GET_VERSION.
    p.m.memory.writeWords(d.ctrl.resp.spa + 0x40, [0x0000_0020_0000_0002n, 0n, 0x0000_0000_0000_6112n, 0n]);
    const r = await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, buf);
    expect(r.status).toBe(SEV_RET.SPDM_ERROR);
    expect(p.pspRegs().firmware.exchange).toBeNull();
  });

  it('relays through a state document: a dump taken mid-exchange loads and finishes the connect identically', async () => {
    const p = createPlatform();
    const d = driver(p);
    await mailbox(p, PSP_COMMAND.TIO_DEV_CREATE, bufferPage(p, encode(TIO_DEV_CREATE_BUF, { length: 32, devCtxSla: d.sla(d.devCtx), deviceId: 0x200 })));
    const buf = bufferPage(p, d.connect());
    expect((await mailbox(p, PSP_COMMAND.TIO_DEV_CONNECT, buf)).status).toBe(SEV_RET.SPDM_REQUEST);
    const { state } = p.dumpState();
    const q = createPlatform();
    q.loadState(JSON.parse(JSON.stringify(state)));
    const finish = async (x: typeof p) => {
      const r = await relay(x.m, 0x200, PSP_COMMAND.TIO_DEV_CONNECT, read(x, buf, 80), d.ctrl, true);
      return { r: r.done.status, steps: r.steps, now: x.clockNow().nowNs, dump: JSON.stringify(x.dumpState().state.psp) };
    };
    const a = await finish(p);
    const b = await finish(q);
    expect(a.r).toBe(SEV_RET.SUCCESS);
    expect(b).toEqual(a);
  });
});
