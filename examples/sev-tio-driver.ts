/**
 * sev-tio-driver: a client-side SEV firmware driver for the emulated PSP, written
 * from the logic of Linux v6.19's drivers/crypto/ccp (sev-dev.c __sev_do_cmd_locked,
 * snp_reclaim_pages; sev-dev-tio.c sla_alloc, sev_tio_do_cmd / sev_tio_continue,
 * sev_tio_init_locked; sev-dev-tsm.c dsm_connect / dsm_disconnect), over JSON-RPC:
 * MMIO is psp.readReg / psp.writeReg, pages are mem.* and rmp.update, the DOE
 * mailbox is pci.doe, udelay is clock.advance. Its own copy of the layouts, as a
 * driver carries them (docs/sev-firmware.md has the emulator's).
 *
 * - bringUp(): SNP_PLATFORM_STATUS, SNP_FEATURE_INFO, SEV PLATFORM_STATUS,
 *   SNP_INIT_EX (init_rmp, a RANGE_LIST, tio_en), SNP_DF_FLUSH, TIO_STATUS,
 *   TIO_INIT, TIO_STATUS.
 * - connect(dev) / disconnect(dev): TIO_DEV_CREATE, TIO_DEV_CONNECT bouncing each
 *   SPDM_REQUEST through the device's DOE mailbox; TIO_DEV_DISCONNECT (FORCE retry),
 *   TIO_DEV_RECLAIM, every page reclaimed (a failed reclaim leaks the page).
 * - error paths: a device answering SPDM ERROR, a buffer not firmware-owned, a
 *   timeout (the PSP is then dead: every later command is -EBUSY).
 *
 *   npx tsx examples/sev-tio-driver.ts          (own server in process)
 *   SMASH_EMU_URL=ws://127.0.0.1:8547 npx tsx examples/sev-tio-driver.ts
 */
import { pathToFileURL } from 'node:url';
import type { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { DEFAULT_SCENARIO_DOC, runExample, withEmulator } from './lib/emulator.js';
import { heading, hex, step } from './lib/format.js';

// ---- The layouts, as the driver has them (include/linux/psp-sev.h, sev-dev-tio.h) ----
export const REG = { CMDRESP: 0x10980, CMDBUFF_ADDR_LO: 0x109e0, CMDBUFF_ADDR_HI: 0x109e4, FEATURE: 0x109fc, INTEN: 0x10690, INTSTS: 0x10694 } as const;
export const CMDRESP_RESP = 2 ** 31;
export const CMDRESP_IOC = 1;
export const CMD = {
  PLATFORM_STATUS: 0x04,
  SNP_PLATFORM_STATUS: 0x83,
  SNP_DF_FLUSH: 0x84,
  SNP_INIT_EX: 0x85,
  SNP_SHUTDOWN_EX: 0x86,
  SNP_PAGE_RECLAIM: 0xc7,
  SNP_FEATURE_INFO: 0xce,
  TIO_STATUS: 0xd0,
  TIO_INIT: 0xd1,
  TIO_DEV_CREATE: 0xd2,
  TIO_DEV_RECLAIM: 0xd3,
  TIO_DEV_CONNECT: 0xd4,
  TIO_DEV_DISCONNECT: 0xd5,
} as const;
export const SEV_RET_SPDM_REQUEST = 0x32;
export const ERRNO = { EIO: -5, EBUSY: -16, EFAULT: -14, ETIMEDOUT: -110, ENOENT: -2 } as const;
const PAGE = 4096;
const SLA_EOL = 0x000f_ffff_ffff_f000n;

/** Little-endian field writers over a byte buffer. */
function le(b: Uint8Array) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    u8: (o: number, x: number) => v.setUint8(o, x),
    u16: (o: number, x: number) => v.setUint16(o, x, true),
    u32: (o: number, x: number) => v.setUint32(o, x >>> 0, true),
    u64: (o: number, x: bigint) => v.setBigUint64(o, x, true),
    r16: (o: number) => v.getUint16(o, true),
    r32: (o: number) => v.getUint32(o, true),
    r64: (o: number) => v.getBigUint64(o, true),
  };
}

interface Sla {
  sla: bigint;
  spa: bigint;
  pages: number;
  scatter: bigint | null;
  firmware: boolean;
}

export interface CmdResult {
  rc: number;
  pspRet: number;
  out: Uint8Array;
}

export class SevDriver {
  /** psp_dead: set by a timeout; every later command is -EBUSY. */
  dead = false;
  /** The driver's command buffer page (sev->cmd_buf). */
  private cmdBuf = 0n;
  /** TIO_STATUS as read at init. */
  tio = { reqMax: 0, scratchMax: 0, outMax: 0, devctx: 0 };
  readonly leaked: bigint[] = [];

  constructor(
    private readonly c: SmashEmuClient,
    /** psp_cmd_timeout, in polls of 10 us (Linux: 100 s; the example uses 1 ms). */
    private readonly timeoutPolls = 100,
  ) {}

  // ---- memory, as the kernel reaches it ---------------------------------------------------
  async write(spa: bigint, bytes: Uint8Array): Promise<void> {
    const words: string[] = [];
    const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
    padded.set(bytes);
    for (let i = 0; i < padded.length; i += 8) words.push(hex(le(padded).r64(i)));
    await this.c.call('mem.write64', { spa: hex(spa), values: words });
  }

  async read(spa: bigint, length: number): Promise<Uint8Array> {
    const { values } = await this.c.call('mem.read64', { spa: hex(spa), count: Math.ceil(length / 8) });
    const out = new Uint8Array(values.length * 8);
    values.forEach((w, i) => le(out).u64(i * 8, BigInt(w)));
    return out.subarray(0, length);
  }

  /** rmp_mark_pages_firmware. */
  async markFirmware(spa: bigint, pages: number): Promise<void> {
    for (let i = 0; i < pages; i++) await this.c.call('rmp.update', { spa: hex(spa + BigInt(i * PAGE)), assigned: true, pageSize: '4K', asid: 0, immutable: true });
  }

  /** snp_reclaim_pages + rmp_make_shared; a page that cannot be reclaimed is leaked, never freed. */
  async reclaim(spa: bigint, pages: number): Promise<boolean> {
    let all = true;
    for (let i = 0; i < pages; i++) {
      const p = spa + BigInt(i * PAGE);
      const buf = new Uint8Array(8);
      le(buf).u64(0, p);
      const r = await this.doCmd(CMD.SNP_PAGE_RECLAIM, buf);
      if (r.rc !== 0) {
        this.leaked.push(p);
        all = false;
        continue;
      }
      await this.c.call('rmp.update', { spa: hex(p), assigned: false, pageSize: '4K' });
    }
    return all;
  }

  // ---- __sev_do_cmd_locked (poll path) ------------------------------------------------------
  async doCmd(cmd: number, data: Uint8Array | null): Promise<CmdResult> {
    if (this.dead) return { rc: ERRNO.EBUSY, pspRet: 0, out: new Uint8Array(0) };
    if (this.cmdBuf === 0n) this.cmdBuf = BigInt((await this.c.call('mem.alloc', { pages: 1 })).spa);
    if (data !== null) await this.write(this.cmdBuf, data);
    const addr = data === null ? 0n : this.cmdBuf;
    await this.c.call('psp.writeReg', { offset: REG.CMDBUFF_ADDR_LO, value: Number(addr & 0xffff_ffffn) });
    await this.c.call('psp.writeReg', { offset: REG.CMDBUFF_ADDR_HI, value: Number(addr >> 32n) });
    await this.c.call('psp.writeReg', { offset: REG.CMDRESP, value: ((cmd << 16) | CMDRESP_IOC) >>> 0 });
    let reg = 0;
    for (let i = 0; ; i++) {
      if (i === this.timeoutPolls) {
        this.dead = true;
        return { rc: ERRNO.ETIMEDOUT, pspRet: 0, out: new Uint8Array(0) };
      }
      await this.c.call('clock.advance', { ns: 10_000 }); // udelay(10)
      reg = (await this.c.call('psp.readReg', { offset: REG.CMDRESP })).value;
      if (reg >= CMDRESP_RESP) break;
    }
    const pspRet = reg & 0xffff;
    // The output is copied back even on error.
    const out = data === null ? new Uint8Array(0) : await this.read(this.cmdBuf, data.length);
    return { rc: pspRet === 0 ? 0 : ERRNO.EIO, pspRet, out };
  }

  // ---- platform bring-up -------------------------------------------------------------------
  async bringUp(): Promise<{ api: string; tioEn: boolean; tioFlags: number[] }> {
    const status = BigInt((await this.c.call('mem.alloc', { pages: 1 })).spa);
    const addr = new Uint8Array(8);
    le(addr).u64(0, status);
    let r = await this.doCmd(CMD.SNP_PLATFORM_STATUS, addr);
    if (r.rc !== 0) throw new Error(`SNP_PLATFORM_STATUS: psp_ret 0x${r.pspRet.toString(16)}`);
    const st = await this.read(status, 32);
    const featureInfo = (le(st).r32(8) & (1 << 3)) !== 0;
    let ebx = 0;
    if (featureInfo) {
      const fi = new Uint8Array(16);
      le(fi).u32(0, 16);
      le(fi).u64(8, status + 0x100n);
      r = await this.doCmd(CMD.SNP_FEATURE_INFO, fi);
      ebx = le(await this.read(status + 0x100n, 16)).r32(4);
    }
    r = await this.doCmd(CMD.PLATFORM_STATUS, new Uint8Array(12));
    const api = `${r.out[0]}.${r.out[1]}`;
    if ((r.out[0] ?? 0) * 100 + (r.out[1] ?? 0) < 152) throw new Error(`firmware ${api} is older than 1.52: SNP_INIT_EX is not available`);
    // SNP_INIT_EX: init_rmp, a RANGE_LIST of one hypervisor page, tio_en when FEATURE_INFO EBX bit 1 says so.
    const range = BigInt((await this.c.call('mem.alloc', { pages: 2 })).spa);
    const list = new Uint8Array(24);
    le(list).u32(0, 1);
    le(list).u64(8, range + BigInt(PAGE));
    le(list).u32(16, 1);
    await this.write(range, list);
    const tioEn = (ebx & (1 << 1)) !== 0;
    const init = new Uint8Array(64);
    le(init).u32(0, 1 | 2 | (tioEn ? 1 << 4 : 0));
    le(init).u64(8, range | (1n << 51n)); // __psp_pa: the C-bit set
    r = await this.doCmd(CMD.SNP_INIT_EX, init);
    if (r.rc !== 0) throw new Error(`SNP_INIT_EX: psp_ret 0x${r.pspRet.toString(16)}`);
    r = await this.doCmd(CMD.SNP_DF_FLUSH, null);
    // sev_tio_init_locked: a firmware page for TIO_STATUS.
    const tioPage = BigInt((await this.c.call('mem.alloc', { pages: 1 })).spa);
    await this.markFirmware(tioPage, 1);
    const flags: number[] = [];
    const tioStatus = async () => {
      const b = new Uint8Array(16);
      le(b).u32(0, 16);
      le(b).u64(8, tioPage);
      const s = await this.doCmd(CMD.TIO_STATUS, b);
      if (s.rc !== 0) throw new Error(`TIO_STATUS: psp_ret 0x${s.pspRet.toString(16)}`);
      const page = await this.read(tioPage, 64);
      const f = le(page).r32(4);
      if (le(page).r32(0) < 48 || (f & ~3) !== 0) throw new Error('TIO_STATUS: -EFAULT');
      this.tio = { reqMax: le(page).r32(12), scratchMax: le(page).r32(20), outMax: le(page).r32(28), devctx: le(page).r32(40) };
      flags.push(f);
      return f;
    };
    const f = await tioStatus();
    if ((f & 2) !== 0) throw new Error('TIO already initialised: -EBUSY');
    if ((f & 1) === 0) throw new Error('TIO not enabled: -ENOENT');
    const ti = new Uint8Array(16);
    le(ti).u32(0, 16);
    r = await this.doCmd(CMD.TIO_INIT, ti);
    if (r.rc !== 0) throw new Error(`TIO_INIT: psp_ret 0x${r.pspRet.toString(16)}`);
    await tioStatus();
    await this.reclaim(tioPage, 1);
    return { api, tioEn, tioFlags: flags };
  }

  // ---- sla_alloc / sla_free -------------------------------------------------------------------
  async slaAlloc(bytes: number, firmware: boolean): Promise<Sla> {
    const pages = Math.ceil(bytes / PAGE);
    const spa = BigInt((await this.c.call('mem.alloc', { pages })).spa);
    let scatter: bigint | null = null;
    if (pages > 1) {
      scatter = BigInt((await this.c.call('mem.alloc', { pages: 1 })).spa);
      const words = Array.from({ length: pages }, (_, i) => hex(spa + BigInt(i * PAGE)));
      await this.c.call('mem.write64', { spa: hex(scatter), values: [...words, hex(SLA_EOL)] });
    }
    const hdr = new Uint8Array(8);
    le(hdr).u32(0, pages * PAGE); // capacity_sz
    await this.write(spa, hdr);
    if (firmware) await this.markFirmware(spa, pages);
    return { sla: scatter === null ? spa : scatter | 1n, spa, pages, scatter, firmware };
  }

  async slaFree(s: Sla): Promise<void> {
    const back = s.firmware ? await this.reclaim(s.spa, s.pages) : true;
    if (back) await this.c.call('mem.free', { spa: hex(s.spa), pages: s.pages });
    if (s.scatter !== null) await this.c.call('mem.free', { spa: hex(s.scatter), pages: 1 });
  }

  // ---- sev_tio_do_cmd: bounce SPDM_REQUEST through the DOE mailbox ---------------------------
  async tioCmd(cmd: number, data: Uint8Array, deviceId: number, req: Sla, resp: Sla): Promise<CmdResult & { bounces: number }> {
    let r = await this.doCmd(cmd, data);
    let bounces = 0;
    while (r.rc === ERRNO.EIO && r.pspRet === SEV_RET_SPDM_REQUEST) {
      const h = await this.read(req.spa + 0x40n, 16);
      const dataType = h[10] ?? 1;
      const reqLen = le(h).r32(4) - 16;
      const msg = await this.read(req.spa + 0x50n, reqLen);
      const feature = dataType === 2 ? 'ssession' : 'cma';
      const { response } = await this.c.call('pci.doe', { deviceId, feature, request: Buffer.from(msg).toString('hex') });
      const rsp = Buffer.from(response, 'hex');
      // sev_tio_continue: the RESP object, its length padded to 32, payload_sz the same.
      const objLen = Math.ceil((16 + rsp.length) / 32) * 32;
      const out = new Uint8Array(0x40 + objLen);
      le(out).u32(0, resp.pages * PAGE);
      le(out).u32(4, objLen);
      le(out).u32(0x40, 2);
      le(out).u32(0x44, objLen);
      le(out).u8(0x49, 1);
      le(out).u8(0x4a, dataType);
      out.set(rsp, 0x50);
      await this.write(resp.spa, out);
      bounces++;
      r = await this.doCmd(cmd, data);
    }
    return { ...r, bounces };
  }
}

interface Dsm {
  deviceId: number;
  devCtx: Sla;
  req: Sla;
  resp: Sla;
  scratch: Sla;
  output: Sla;
}

/** dsm_connect: TIO_DEV_CREATE, spdm_ctrl_alloc, TIO_DEV_CONNECT; on an error the context is reclaimed. */
export async function connect(drv: SevDriver, deviceId: number): Promise<{ rc: number; pspRet: number; bounces: number; dsm?: Dsm }> {
  const devCtx = await drv.slaAlloc(drv.tio.devctx, true);
  const create = new Uint8Array(32);
  le(create).u32(0, 32);
  le(create).u64(8, devCtx.sla | (1n << 51n));
  le(create).u16(16, deviceId);
  let r = await drv.doCmd(CMD.TIO_DEV_CREATE, create);
  if (r.rc !== 0) {
    await drv.slaFree(devCtx);
    return { rc: r.rc, pspRet: r.pspRet, bounces: 0 };
  }
  const dsm: Dsm = {
    deviceId,
    devCtx,
    req: await drv.slaAlloc(drv.tio.reqMax, true),
    resp: await drv.slaAlloc(drv.tio.reqMax, false),
    scratch: await drv.slaAlloc(drv.tio.scratchMax, true),
    output: await drv.slaAlloc(drv.tio.outMax, true),
  };
  const c = connectBuf(dsm);
  const t = await drv.tioCmd(CMD.TIO_DEV_CONNECT, c, deviceId, dsm.req, dsm.resp);
  if (t.rc !== 0) {
    await reclaimDsm(drv, dsm);
    return { rc: t.rc, pspRet: t.pspRet, bounces: t.bounces };
  }
  r = t;
  return { rc: r.rc, pspRet: r.pspRet, bounces: t.bounces, dsm };
}

function ctrl(b: Uint8Array, at: number, dsm: Dsm): void {
  [dsm.req, dsm.resp, dsm.scratch, dsm.output].forEach((s, i) => le(b).u64(at + i * 8, s.sla));
}

function connectBuf(dsm: Dsm): Uint8Array {
  const b = new Uint8Array(80);
  le(b).u32(0, 80);
  ctrl(b, 8, dsm);
  le(b).u64(48, dsm.devCtx.sla);
  b[56] = 1; // tc_mask: TC0
  b.fill(0xff, 64, 72);
  b[64] = 0; // IDE stream 0 for TC0
  return b;
}

/** sev_tio_dev_reclaim: TIO_DEV_RECLAIM (its result ignored for the freeing), then every page. */
async function reclaimDsm(drv: SevDriver, dsm: Dsm): Promise<number> {
  const b = new Uint8Array(16);
  le(b).u32(0, 16);
  le(b).u64(8, dsm.devCtx.sla);
  const r = await drv.doCmd(CMD.TIO_DEV_RECLAIM, b);
  for (const s of [dsm.devCtx, dsm.req, dsm.resp, dsm.scratch, dsm.output]) await drv.slaFree(s);
  return r.pspRet;
}

/** dsm_disconnect: TIO_DEV_DISCONNECT, a FORCE retry after a failure, then the reclaim. */
export async function disconnect(drv: SevDriver, dsm: Dsm, force = false): Promise<{ pspRet: number; forcedRetry: boolean; bounces: number; reclaimRet: number }> {
  const buf = (f: boolean) => {
    const b = new Uint8Array(48);
    le(b).u32(0, 48);
    le(b).u32(4, f ? 1 : 0);
    ctrl(b, 8, dsm);
    le(b).u64(40, dsm.devCtx.sla);
    return b;
  };
  let r = await drv.tioCmd(CMD.TIO_DEV_DISCONNECT, buf(force), dsm.deviceId, dsm.req, dsm.resp);
  const first = r.pspRet;
  let forcedRetry = false;
  if (r.rc !== 0 && !force) {
    forcedRetry = true;
    r = await drv.tioCmd(CMD.TIO_DEV_DISCONNECT, buf(true), dsm.deviceId, dsm.req, dsm.resp);
  }
  const reclaimRet = await reclaimDsm(drv, dsm);
  return { pspRet: first, forcedRetry, bounces: r.bounces, reclaimRet };
}

/** The PSP as the BIOS leaves it (no SNP, no TIO), and device 02:00.0 to connect (01:00.0, whose TDI the firmware would bind, left out). */
const BIOS_SCENARIO = { ...DEFAULT_SCENARIO_DOC, firmware: { snpInit: false, tioInit: false }, devices: (DEFAULT_SCENARIO_DOC.devices ?? []).filter((d) => d.deviceId === 0x0200) };

async function main(): Promise<void> {
  await withEmulator(async ({ client }) => {
    const drv = new SevDriver(client);
    heading('bring-up (the PSP as the BIOS leaves it)');
    const feature = (await client.call('psp.readReg', { offset: REG.FEATURE })).value;
    step(`FEATURE 0x${feature.toString(16)} (bit 0 SEV)`);
    const up = await drv.bringUp();
    step(`firmware ${up.api}, tio_en ${up.tioEn}; TIO_STATUS flags ${up.tioFlags.map((f) => '0x' + f.toString(16)).join(' then ')}`);

    heading('connect device 02:00.0');
    const c = await connect(drv, 0x0200);
    step(`TIO_DEV_CONNECT -> rc ${c.rc}, psp_ret 0x${c.pspRet.toString(16)}, ${c.bounces} SPDM messages relayed`);
    if (c.dsm === undefined) throw new Error('connect failed');
    const out = await drv.read(c.dsm.output.spa + 0x40n, 32);
    step(`output: data object ${le(out).r32(0)} (certificates), ${le(out).r32(4) - 32} bytes of chain`);

    heading('disconnect and reclaim every page');
    const d = await disconnect(drv, c.dsm);
    step(`TIO_DEV_DISCONNECT -> psp_ret 0x${d.pspRet.toString(16)} (${d.bounces} SPDM message), TIO_DEV_RECLAIM -> 0x${d.reclaimRet.toString(16)}, leaked pages ${drv.leaked.length}`);

    heading('error paths');
    await client.call('fault.add', { method: 'spdm.GET_CERTIFICATE', status: 0x05 });
    const e1 = await connect(drv, 0x0200);
    step(`device answers SPDM ERROR: rc ${e1.rc}, psp_ret 0x${e1.pspRet.toString(16)} (SPDM_ERROR) after ${e1.bounces} messages; context reclaimed: ${(await client.call('psp.regs')).firmware.devices.length === 0}`);
    const notFw = BigInt((await client.call('mem.alloc', { pages: 1 })).spa);
    const ts = new Uint8Array(16);
    le(ts).u32(0, 16);
    le(ts).u64(8, notFw);
    const e2 = await drv.doCmd(CMD.TIO_STATUS, ts);
    step(`TIO_STATUS to a page not firmware-owned: rc ${e2.rc}, psp_ret 0x${e2.pspRet.toString(16)} (INVALID_PAGE_STATE)`);
    await client.call('fault.add', { method: 'psp.SNP_DF_FLUSH', delayNs: 5_000_000 });
    const e3 = await drv.doCmd(CMD.SNP_DF_FLUSH, null);
    const e4 = await drv.doCmd(CMD.SNP_DF_FLUSH, null);
    step(`a command slower than psp_cmd_timeout: rc ${e3.rc} (ETIMEDOUT); the PSP is dead: next command rc ${e4.rc} (EBUSY)`);
    const audit = await client.call('emu.audit');
    console.log(audit.violations.length === 0 ? 'emu.audit: clean' : `emu.audit: ${audit.violations.length} violations`);
  }, BIOS_SCENARIO);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) runExample(main);
