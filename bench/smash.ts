/**
 * Smash (DESIGN.md "Performance"): tmpm.psmashIo on one 2 MB region of the TEE-IO
 * device, in process and over RPC through the typed client. Each PSMASH_IO goes
 * through the TMPM ring like any entry and advances virtual time by its stall (2 ms,
 * no jitter); a tmpm.punsmashIo after each one restores the 2 MB leaf, untimed.
 * Figure: tmpm.psmashIo calls per wall second (only the psmashIo calls are timed).
 */
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { toHex } from '../src/util/hex.js';
import { nowMs, perSec } from './util.js';

const DOMAIN = 1;
const REGION_IOVA = 0x20_0000n;
/** TMPM SUCCESS (hardware.md §2.4). */
const SUCCESS = 0xf0;

export interface SmashResult {
  inProcessPerSec: number;
  rpcPerSec: number;
}

function check(what: string, r: { status: number; statusName: string }): void {
  if (r.status !== SUCCESS) throw new Error(`${what} returned ${r.statusName}`);
}

/** tmpm.psmashIo calls per second over `calls` smashes (each undone, untimed) on a fresh default platform. */
export async function smashInProcess(calls: number): Promise<number> {
  const p: Platform = createPlatform();
  p.tmpmSetStallModel({ jitter: { dist: 'none', spreadNs: 0 } });
  const prep = p.tmpmPreparePsmash(DOMAIN, REGION_IOVA);
  const smash = { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
  const unsmash = { srcPgSpa: prep.srcPgSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
  let ms = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = nowMs();
    const r = await p.tmpmPsmashIo(smash);
    ms += nowMs() - t0;
    check('tmpm.psmashIo', r);
    check('tmpm.punsmashIo', await p.tmpmPunsmashIo(unsmash));
  }
  p.dispose();
  return perSec(calls, ms);
}

/** The same over RPC: tmpm.preparePsmash once, then timed tmpm.psmashIo calls (each undone, untimed). */
export async function smashOverRpc(url: string, calls: number): Promise<number> {
  const c = await SmashEmuClient.connect(url);
  try {
    await c.call('emu.reset');
    await c.call('tmpm.setStallModel', { jitter: { dist: 'none', spreadNs: 0 } });
    const prep = await c.call('tmpm.preparePsmash', { domainId: DOMAIN, iova: toHex(REGION_IOVA) });
    const smash = { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
    const unsmash = { srcPgSpa: prep.srcPgSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
    let ms = 0;
    for (let i = 0; i < calls; i++) {
      const t0 = nowMs();
      const r = await c.call('tmpm.psmashIo', smash);
      ms += nowMs() - t0;
      check('tmpm.psmashIo', r);
      check('tmpm.punsmashIo', await c.call('tmpm.punsmashIo', unsmash));
    }
    return perSec(calls, ms);
  } finally {
    await c.close();
  }
}
