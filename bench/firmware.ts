/**
 * Firmware (README.md "Performance"): PSP mailbox commands per wall second, driven
 * the way a host driver drives them (the address registers, CMDRESP, the clock to
 * the command's end, CMDRESP read back) with SNP_PLATFORM_STATUS to a firmware page,
 * and full TIO connects (tio.connect: TIO_DEV_CREATE and TIO_DEV_CONNECT with its 21
 * relayed SPDM messages, each disconnected and reclaimed after), in process and over
 * RPC through the typed client.
 */
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { PSP_REG } from '../src/psp/registers.js';
import { PSP_COMMAND } from '../src/psp/command-ids.js';
import { toHex } from '../src/util/hex.js';
import { nowMs, perSec } from './util.js';

const DEVICE = 0x0200;
const CMD_NS = 10_000;
const STATUS_WORD = ((PSP_COMMAND.SNP_PLATFORM_STATUS << 16) | 1) >>> 0;
const DONE = 0x8083_0000;

export interface FirmwareResult {
  mailboxPerSec: number;
  mailboxRpcPerSec: number;
  connectPerSec: number;
  connectRpcPerSec: number;
}

function check(what: string, ok: boolean): void {
  if (!ok) throw new Error(`${what} failed`);
}

/** A firmware status page and the command buffer naming it. */
function statusBuffer(p: Platform): number {
  const page = Number(p.memAlloc(1).spa);
  check('rmp.update', p.rmpUpdate(page, { assigned: true, pageSize: '4K', asid: 0, immutable: true }).rc === 0);
  const buf = Number(p.memAlloc(1).spa);
  p.memWrite64(buf, [BigInt(page)]);
  return buf;
}

/** Mailbox commands and connects per second in process. */
export async function firmwareInProcess(commands: number, connects: number): Promise<{ mailboxPerSec: number; connectPerSec: number }> {
  const p = createPlatform();
  const buf = statusBuffer(p);
  const one = async () => {
    p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_LO, buf % 2 ** 32);
    p.pspWriteReg(PSP_REG.CMDBUFF_ADDR_HI, Math.floor(buf / 2 ** 32));
    p.pspWriteReg(PSP_REG.CMDRESP, STATUS_WORD);
    await p.clockAdvance(CMD_NS);
    check('SNP_PLATFORM_STATUS', p.pspReadReg(PSP_REG.CMDRESP).value === DONE);
  };
  for (let i = 0; i < Math.min(commands, 1000); i++) await one();
  let t0 = nowMs();
  for (let i = 0; i < commands; i++) await one();
  const mailboxPerSec = perSec(commands, nowMs() - t0);
  const connect = async () => {
    check('tio.connect', (await p.tioConnect(DEVICE)).status === 0);
    check('tio.disconnect', (await p.tioDisconnect(DEVICE)).status === 0);
  };
  await connect();
  t0 = nowMs();
  for (let i = 0; i < connects; i++) await connect();
  const connectPerSec = perSec(connects, nowMs() - t0);
  p.dispose();
  return { mailboxPerSec, connectPerSec };
}

/** The same over RPC: each mailbox command is five calls (three register writes, clock.advance, the CMDRESP read). */
export async function firmwareOverRpc(url: string, commands: number, connects: number): Promise<{ mailboxRpcPerSec: number; connectRpcPerSec: number }> {
  const c = await SmashEmuClient.connect(url);
  try {
    await c.call('emu.reset');
    const page = BigInt((await c.call('mem.alloc', { pages: 1 })).spa);
    await c.call('rmp.update', { spa: toHex(page), assigned: true, pageSize: '4K', asid: 0, immutable: true });
    const buf = BigInt((await c.call('mem.alloc', { pages: 1 })).spa);
    await c.call('mem.write64', { spa: toHex(buf), values: [toHex(page)] });
    let t0 = nowMs();
    for (let i = 0; i < commands; i++) {
      await c.call('psp.writeReg', { offset: PSP_REG.CMDBUFF_ADDR_LO, value: Number(buf & 0xffff_ffffn) });
      await c.call('psp.writeReg', { offset: PSP_REG.CMDBUFF_ADDR_HI, value: Number(buf >> 32n) });
      await c.call('psp.writeReg', { offset: PSP_REG.CMDRESP, value: STATUS_WORD });
      await c.call('clock.advance', { ns: CMD_NS });
      check('SNP_PLATFORM_STATUS', (await c.call('psp.readReg', { offset: PSP_REG.CMDRESP })).value === DONE);
    }
    const mailboxRpcPerSec = perSec(commands, nowMs() - t0);
    t0 = nowMs();
    for (let i = 0; i < connects; i++) {
      check('tio.connect', (await c.call('tio.connect', { deviceId: DEVICE })).status === 0);
      check('tio.disconnect', (await c.call('tio.disconnect', { deviceId: DEVICE })).status === 0);
    }
    const connectRpcPerSec = perSec(connects, nowMs() - t0);
    return { mailboxRpcPerSec, connectRpcPerSec };
  } finally {
    await c.close();
  }
}
