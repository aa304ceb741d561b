/**
 * Smash (DESIGN.md "Performance"): fw.smashIopde + fw.unsmashIopde pairs of one 2 MB
 * region of the TEE-IO device, in process and over RPC through the typed client.
 * The stall model has no jitter; each call advances virtual time by its stall (2 ms).
 * Figures: calls per wall second (a pair is two calls).
 */
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { FW_STATUS } from '../src/firmware/status.js';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { toHex } from '../src/util/hex.js';
import { nowMs, perSec } from './util.js';

const DOMAIN = 1;
const REGION_IOVA = 0x20_0000n;

export interface SmashResult {
  inProcessPerSec: number;
  rpcPerSec: number;
}

function check(what: string, r: { status: number; statusName: string }): void {
  if (r.status !== FW_STATUS.SUCCESS) throw new Error(`${what} returned ${r.statusName}`);
}

/** Calls per second of `pairs` smash + unsmash pairs on a fresh default platform. */
export async function smashInProcess(pairs: number): Promise<number> {
  const p: Platform = createPlatform();
  p.fwSetStallModel({ jitter: { dist: 'none', spreadNs: 0 } });
  const prep = p.iommuPrepareSmash(DOMAIN, REGION_IOVA);
  const params = { domainId: DOMAIN, iova: REGION_IOVA, iopdeSpa: Number(prep.iopdeSpa), tableSpa: Number(prep.tableSpa) };
  const unsmash = { domainId: DOMAIN, iova: REGION_IOVA, iopdeSpa: params.iopdeSpa };
  const t0 = nowMs();
  for (let i = 0; i < pairs; i++) {
    check('fw.smashIopde', await p.fwSmashIopde(params));
    check('fw.unsmashIopde', await p.fwUnsmashIopde(unsmash));
  }
  const ms = nowMs() - t0;
  p.dispose();
  return perSec(2 * pairs, ms);
}

/** The same over RPC: prepares the table with iommu.prepareSmash, then times the pairs. */
export async function smashOverRpc(url: string, pairs: number): Promise<number> {
  const c = await SmashEmuClient.connect(url);
  try {
    await c.call('emu.reset');
    await c.call('fw.setStallModel', { jitter: { dist: 'none', spreadNs: 0 } });
    const prep = await c.call('iommu.prepareSmash', { domainId: DOMAIN, iova: toHex(REGION_IOVA) });
    const smash = { domainId: DOMAIN, iova: prep.iova, iopdeSpa: prep.iopdeSpa, tableSpa: prep.tableSpa };
    const unsmash = { domainId: DOMAIN, iova: prep.iova, iopdeSpa: prep.iopdeSpa };
    const t0 = nowMs();
    for (let i = 0; i < pairs; i++) {
      check('fw.smashIopde', await c.call('fw.smashIopde', smash));
      check('fw.unsmashIopde', await c.call('fw.unsmashIopde', unsmash));
    }
    return perSec(2 * pairs, nowMs() - t0);
  } finally {
    await c.close();
  }
}
