/**
 * TIO_DEV_CERTIFICATES (0xD8) and TIO_DEV_MEASUREMENTS (0xD7) through the real
 * server, as a host driver does it with nothing but the raw mailbox (psp.writeReg),
 * memory (mem.*, rmp.update) and the device's DOE mailbox (pci.doe): DEV_CREATE,
 * DEV_CONNECT relayed, then the two commands, a fault rule on spdm.GET_MEASUREMENTS,
 * and both refused once the device is disconnected. Offsets from docs/sev-firmware.md
 * §2.5, §2.7 (not from src/psp).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.stop();
});
const call = (method: string, params: Record<string, unknown> = {}): Promise<any> => (t.client.call as (m: string, p: unknown) => Promise<any>)(method, params);

const DEV = 0x200;
const SLA_EOL = 0x000f_ffff_ffff_f000n;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const u16 = (b: Uint8Array, o: number) => (b[o] as number) | ((b[o + 1] as number) << 8);
const u32 = (b: Uint8Array, o: number) => (u16(b, o) | (u16(b, o + 2) << 16)) >>> 0;
function put(b: Uint8Array, off: number, size: number, v: bigint | number): void {
  let x = BigInt(v);
  for (let i = 0; i < size; i++, x >>= 8n) b[off + i] = Number(x & 0xffn);
}

async function write(spa: bigint, bytes: Uint8Array): Promise<void> {
  const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
  padded.set(bytes);
  const values: string[] = [];
  const v = new DataView(padded.buffer);
  for (let i = 0; i < padded.length; i += 8) values.push('0x' + v.getBigUint64(i, true).toString(16));
  await call('mem.write64', { spa: '0x' + spa.toString(16), values });
}
async function read(spa: bigint, length: number): Promise<Uint8Array> {
  const { values } = await call('mem.read64', { spa: '0x' + spa.toString(16), count: Math.ceil(length / 8) });
  const out = new Uint8Array(values.length * 8);
  const v = new DataView(out.buffer);
  (values as string[]).forEach((w, i) => v.setBigUint64(i * 8, BigInt(w), true));
  return out.subarray(0, length);
}

interface Buf {
  spa: bigint;
  pages: number;
  sla: bigint;
}
/** sla_alloc: DATA pages (firmware-owned when asked), a SCATTER page past one page, capacity_sz in the buffer header. */
async function alloc(pages: number, firmware: boolean): Promise<Buf> {
  const spa = BigInt((await call('mem.alloc', { pages })).spa);
  if (firmware) for (let i = 0; i < pages; i++) expect((await call('rmp.update', { spa: '0x' + (spa + BigInt(i * 4096)).toString(16), assigned: true, pageSize: '4K', asid: 0, immutable: true })).rc).toBe(0);
  const hdr = new Uint8Array(8);
  put(hdr, 0, 4, pages * 4096);
  await write(spa, hdr);
  if (pages === 1) return { spa, pages, sla: spa };
  const scatter = BigInt((await call('mem.alloc', { pages: 1 })).spa);
  const list = new Uint8Array((pages + 1) * 8);
  for (let i = 0; i < pages; i++) put(list, i * 8, 8, spa + BigInt(i * 4096));
  put(list, pages * 8, 8, SLA_EOL);
  await write(scatter, list);
  return { spa, pages, sla: scatter | 1n };
}

let cmdPage = 0n;
/** The raw mailbox: the buffer in a page, CMDBUFF_ADDR_LO/HI, CMDRESP = id << 16 | IOC, the clock past the command, the status read back. */
async function issue(command: number, buf: Uint8Array): Promise<number> {
  if (cmdPage === 0n) cmdPage = BigInt((await call('mem.alloc', { pages: 1 })).spa);
  await write(cmdPage, buf);
  await call('psp.writeReg', { offset: 0x109e0, value: Number(cmdPage & 0xffffffffn) });
  await call('psp.writeReg', { offset: 0x109e4, value: Number(cmdPage >> 32n) });
  await call('psp.writeReg', { offset: 0x10980, value: ((command << 16) | 1) >>> 0 });
  await call('clock.advance', { ns: 10_000 });
  const { value } = await call('psp.readReg', { offset: 0x10980 });
  expect(value >>> 31, 'CMDRESP bit 31 (done)').toBe(1);
  return value & 0xffff;
}

/** sev_tio_do_cmd / sev_tio_continue: while SPDM_REQUEST (0x32), req's REQ object to pci.doe, the answer to resp as a RESP object padded to 32, the same buffer again. */
async function relay(command: number, buf: Uint8Array, req: Buf, resp: Buf): Promise<{ status: number; steps: number; requests: number[] }> {
  let status = await issue(command, buf);
  let steps = 0;
  const requests: number[] = [];
  while (status === 0x32) {
    const h = await read(req.spa + 0x40n, 16);
    const dataType = h[10] as number;
    const message = await read(req.spa + 0x50n, u32(h, 4) - 16);
    requests.push((dataType === 2 ? message[5] : message[1]) as number);
    const { response } = await call('pci.doe', { deviceId: DEV, feature: dataType === 2 ? 'ssession' : 'cma', request: hex(message) });
    const answer = Buffer.from(response as string, 'hex');
    const len = Math.ceil((16 + answer.length) / 32) * 32;
    const out = new Uint8Array(0x40 + len);
    put(out, 0, 4, resp.pages * 4096);
    put(out, 4, 4, len);
    put(out, 0x40, 4, 2); // RESP
    put(out, 0x44, 4, len);
    out[0x49] = 1;
    out[0x4a] = dataType;
    out.set(answer, 0x50);
    await write(resp.spa, out);
    steps++;
    status = await issue(command, buf);
  }
  return { status, steps, requests };
}

describe('TIO_DEV_CERTIFICATES and TIO_DEV_MEASUREMENTS over the raw mailbox', () => {
  it('connect by hand, the chain as object 4, measurements as object 5 through one GET_MEASUREMENTS, SPDM_ERROR on a fault rule, INVALID_DEV_STATE once disconnected', async () => {
    const devCtx = await alloc(2, true);
    const req = await alloc(1, true);
    const resp = await alloc(1, false);
    const scratch = await alloc(4, true);
    const output = await alloc(4, true);
    const create = new Uint8Array(32);
    put(create, 0, 4, 32);
    put(create, 8, 8, devCtx.sla);
    put(create, 16, 2, DEV);
    expect(await issue(0xd2, create)).toBe(0);
    const ctrl = (b: Uint8Array) => {
      put(b, 8, 8, req.sla);
      put(b, 16, 8, resp.sla);
      put(b, 24, 8, scratch.sla);
      put(b, 32, 8, output.sla);
      put(b, 40, 8, 0n);
    };
    const connect = new Uint8Array(80);
    put(connect, 0, 4, 80);
    ctrl(connect);
    put(connect, 48, 8, devCtx.sla);
    connect[56] = 1; // tc_mask: TC0
    put(connect, 64, 8, 0xffff_ffff_ffff_ff00n);
    const c = await relay(0xd4, connect, req, resp);
    expect(c.status).toBe(0);
    const connected = await read(output.spa, 0x40 + 32 + 1452);
    expect(u32(connected, 0x40)).toBe(4);

    // TIO_DEV_CERTIFICATES, 48 B: spdm_ctrl at 8, dev_ctx_sla at 40. Output spoiled first: the command writes it again.
    await write(output.spa + 0x40n, new Uint8Array(32 + 1452));
    const certs = new Uint8Array(48);
    put(certs, 0, 4, 48);
    ctrl(certs);
    put(certs, 40, 8, devCtx.sla);
    const cr = await relay(0xd8, certs, req, resp);
    expect(cr).toMatchObject({ status: 0, steps: 0 });
    const o = await read(output.spa, 0x40 + 32 + 1452);
    expect(hex(o)).toBe(hex(connected));
    expect(u32(o, 0)).toBe(4 * 4096);
    expect(u32(o, 4)).toBe(Math.ceil((32 + 1452) / 32) * 32);
    expect(u32(o, 0x40)).toBe(4); // CERTIFICATE
    expect(u32(o, 0x44)).toBe(32 + 1452);
    expect([o[0x48], o[0x49]]).toEqual([0, 1]);
    expect(u16(o, 0x50)).toBe(DEV);
    expect([o[0x52], o[0x53]]).toEqual([0, 1]);
    expect(u16(o, 0x60)).toBe(1452); // the SPDM chain's own Length

    // TIO_DEV_MEASUREMENTS, 80 B: flags RAW_BITSTREAM at 4, spdm_ctrl, dev_ctx_sla at 40, meas_nonce 48:32.
    const meas = new Uint8Array(80);
    put(meas, 0, 4, 80);
    put(meas, 4, 4, 1);
    ctrl(meas);
    put(meas, 40, 8, devCtx.sla);
    meas.set(
      Uint8Array.from({ length: 32 }, (_, i) => i),
      48,
    );
    const mr = await relay(0xd7, meas, req, resp);
    expect(mr).toEqual({ status: 0, steps: 1, requests: [0xe0] });
    const m = await read(output.spa, 0x40 + 32 + 220);
    expect(u32(m, 0x40)).toBe(5); // MEASUREMENT
    expect(u32(m, 0x44)).toBe(32 + 220);
    expect(u16(m, 0x50)).toBe(DEV);
    expect(m[0x53]).toBe(1);
    expect([m[0x60], m[0x61], u16(m, 0x62), m[0x64], u16(m, 0x65)]).toEqual([1, 1, 51, 0, 48]); // block 1: DMTF, 3 + 48, immutable ROM digest
    expect(m[0x60 + 3 * 55]).toBe(4);

    // The device answering ERROR: SPDM_ERROR (0x33), output unchanged.
    await call('fault.add', { method: 'spdm.GET_MEASUREMENTS', status: 5, times: 1 });
    expect(await relay(0xd7, meas, req, resp)).toMatchObject({ status: 0x33, steps: 1 });
    expect(hex(await read(output.spa, 0x40 + 32 + 220))).toBe(hex(m));
    expect((await call('psp.regs')).CMDRESP).toMatchObject({ command: 0xd7, statusName: 'SPDM_ERROR' });

    // Disconnected (FORCE): both commands INVALID_DEV_STATE (0x3B).
    const disc = new Uint8Array(48);
    put(disc, 0, 4, 48);
    put(disc, 4, 4, 1);
    ctrl(disc);
    put(disc, 40, 8, devCtx.sla);
    expect(await issue(0xd5, disc)).toBe(0);
    expect(await issue(0xd8, certs)).toBe(0x3b);
    expect(await issue(0xd7, meas)).toBe(0x3b);
  });
});
