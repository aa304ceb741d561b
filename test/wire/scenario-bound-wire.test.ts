/**
 * The default scenario through the real server: its device 0x0100 starts bound by
 * the firmware command path (protocol/README.md §4.7.5) at virtual time 0, a host
 * driver's raw TIO_TDI_STATUS / TIO_TDI_INFO / TIO_DEV_STATUS over the mailbox
 * registers read RUN and the digests; tio.connect measures as AMD's dsm_connect;
 * TIO_GUEST_REQUEST is UNSUPPORTED.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.stop();
});

const CMDRESP = 0x10980;
const LO = 0x109e0;
const HI = 0x109e4;
const hex = (n: bigint | number) => '0x' + BigInt(n).toString(16);

/** A firmware page (RMP Assigned, ASID 0, Immutable) from the pool. */
async function firmwarePage(): Promise<string> {
  const { spa } = await t.call('mem.alloc', { pages: 1 });
  expect(await t.call('rmp.update', { spa, assigned: true, pageSize: '4K', asid: 0, gpa: '0x0', immutable: true })).toMatchObject({ rc: 0 });
  return spa;
}

/** Writes the command buffer (u64 words) to a page, issues `command` as Linux does, runs the clock to its end; the status from CMDRESP. */
async function issue(command: number, words: bigint[]): Promise<number> {
  const { spa } = await t.call('mem.alloc', { pages: 1 });
  await t.call('mem.write64', { spa, values: words.map(hex) });
  const a = BigInt(spa);
  await t.call('psp.writeReg', { offset: LO, value: Number(a & 0xffff_ffffn) });
  await t.call('psp.writeReg', { offset: HI, value: Number(a >> 32n) });
  await t.call('psp.writeReg', { offset: CMDRESP, value: ((command << 16) | 1) >>> 0 });
  await t.call('clock.advance', { ns: 10_000 });
  const { value } = await t.call('psp.readReg', { offset: CMDRESP });
  expect(value >>> 31).toBe(1);
  return value & 0xffff;
}

async function readBytes(spa: string, bytes: number): Promise<Buffer> {
  const { values } = await t.call('mem.read64', { spa, count: Math.ceil(bytes / 8) });
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v: string, i: number) => b.writeBigUInt64LE(BigInt(v), i * 8));
  return b.subarray(0, bytes);
}

describe('the default scenario over the wire', () => {
  it('starts at time 0 with device 0x0100 connected and its TDI in RUN; TDI_STATUS, TDI_INFO and DEV_STATUS over the mailbox say so, with SHA-384 digests', async () => {
    expect(await t.call('clock.now')).toMatchObject({ nowNs: 0 });
    const fw = (await t.call('psp.regs')).firmware;
    expect(fw.devices).toEqual([expect.objectContaining({ deviceId: 0x100, state: 'connected' })]);
    expect(fw.tdis).toEqual([expect.objectContaining({ deviceId: 0x100, functionId: 0x100, tdispState: 'RUN', asid: 1, fencedAsid: -1 })]);
    // The IOMMU's RMP check treats it as ASID 1's: DMA to the guest's memory completes.
    expect(await t.call('dma.issue', { deviceId: 0x100, iova: '0x1000', bytes: 64, write: true })).toMatchObject({ outcome: 'ok' });

    const dev = BigInt(fw.devices[0].ctxSpa);
    const tdi = BigInt(fw.tdis[0].ctxSpa);
    const out = await firmwarePage();
    // TIO_TDI_STATUS (64 B): length, spdm_ctrl, dev_ctx_sla @40, tdi_ctx_sla @48, status_paddr @56.
    expect(await issue(0xdf, [64n, 0n, 0n, 0n, 0n, dev, tdi, BigInt(out)])).toBe(0);
    expect((await readBytes(out, 16))[4]).toBe(2); // RUN
    // TIO_TDI_INFO (48 B): length, version 1 @4, dev_ctx_sla @8, tdi_ctx_sla @16, status_paddr @24.
    expect(await issue(0xe3, [48n | (1n << 32n), dev, tdi, BigInt(out), 0n, 0n])).toBe(0);
    const info = await readBytes(out, 200);
    expect(info.readUInt32LE(4) & 0xffff).toBe(0x100);
    expect(info.readUInt32LE(16)).toBe((2 << 2) | 1); // RUN, meas_digest_valid
    expect(info.readUInt32LE(184)).toBe(1); // ASID
    const sha = (b: Uint8Array) => createHash('sha384').update(b).digest('hex');
    // The report digest is the SHA-384 of the report TIO_TDI_REPORT hands back (object 6 in output).
    const ctrl = (await t.call('emu.dumpState')).state.psp.host[0].ctrl;
    const sla = (b: { spa: number; scatterSpa: number | null }) => BigInt(b.scatterSpa ?? b.spa) | (b.scatterSpa === null ? 0n : 1n);
    expect(await issue(0xde, [64n, sla(ctrl.req), sla(ctrl.resp), sla(ctrl.scratch), sla(ctrl.output), dev, tdi, 0n])).toBe(0);
    const obj = await readBytes(hex(ctrl.output.spa), 0x40 + 32 + 36);
    expect(obj.readUInt32LE(0x40)).toBe(6);
    expect(info.subarray(128, 176).toString('hex')).toBe(sha(obj.subarray(0x40 + 32)));
    expect(info.subarray(32, 80).toString('hex')).not.toBe('00'.repeat(48));
    // TIO_DEV_STATUS (32 B): the same certificate and measurement digests, meas_digest_valid in p2.
    expect(await issue(0xd6, [32n, dev, BigInt(out), 0n])).toBe(0);
    const ds = await readBytes(out, 160);
    expect([ds[4], ds.readUInt16LE(8), ds[28], ds.readUInt32LE(144), ds.readUInt32LE(148)]).toEqual([1, 0x100, 1, 1, 1]);
    expect(ds.subarray(48, 144).toString('hex')).toBe(info.subarray(32, 128).toString('hex'));
  });

  it("tio.connect measures the device and checks its certificates, as AMD's dsm_connect", async () => {
    expect(await t.call('tio.connect', { deviceId: 0x200 })).toMatchObject({ status: 0, statusName: 'SUCCESS', deviceId: 0x200, steps: 22, certificateBytes: 1452, measurementBytes: 220, certificatesMatch: true });
  });

  it('TIO_GUEST_REQUEST is UNSUPPORTED (0x15) and says why; a wrong length is still INVALID_LEN', async () => {
    const events: any[] = [];
    await t.client.subscribe(['psp'], (e) => {
      const d = (e as unknown as { data: any }).data;
      if (d.kind === 'command') events.push(d);
    });
    expect(await issue(0xe0, [80n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])).toBe(0x15);
    expect(events.at(-1)).toMatchObject({ commandName: 'TIO_GUEST_REQUEST', statusName: 'UNSUPPORTED', detail: { notPublic: true } });
    expect(events.at(-1).detail.reason).toMatch(/#58271/);
    expect(await issue(0xe0, [72n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n])).toBe(0x04);
  });
});
