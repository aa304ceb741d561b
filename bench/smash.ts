/**
 * Smash (DESIGN.md "Performance"): fw.smashIopde + fw.unsmashIopde pairs of one 2 MB
 * region of the TEE-IO device, in process and over RPC through the typed client.
 * The stall model has no jitter; each call advances virtual time by its stall (2 ms).
 * Figures: calls per wall second (a pair is two calls).
 */
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { FW_STATUS } from '../src/firmware/status.js';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { pteAddressField, withAddress } from '../src/iommu/pte.js';
import { toHex } from '../src/util/hex.js';
import { nowMs, perSec, prepareSmash } from './util.js';

const TEE_DEV = 0x0100;
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
  const params = prepareSmash(p, TEE_DEV, DOMAIN, REGION_IOVA);
  const unsmash = { domainId: params.domainId, iova: params.iova, iopdeSpa: params.iopdeSpa };
  const t0 = nowMs();
  for (let i = 0; i < pairs; i++) {
    check('fw.smashIopde', await p.fwSmashIopde(params));
    check('fw.unsmashIopde', await p.fwUnsmashIopde(unsmash));
  }
  const ms = nowMs() - t0;
  p.dispose();
  return perSec(2 * pairs, ms);
}

/** The same over RPC: prepares the table with mem.* and iommu.walk, then times the pairs. */
export async function smashOverRpc(url: string, pairs: number): Promise<number> {
  const c = await SmashEmuClient.connect(url);
  try {
    await c.call('emu.reset');
    await c.call('fw.setStallModel', { jitter: { dist: 'none', spreadNs: 0 } });
    const walk = await c.call('iommu.walk', { deviceId: TEE_DEV, iova: toHex(REGION_IOVA), write: false });
    const slot = walk.steps.find((s) => s.level === 2);
    if (slot === undefined) throw new Error('the walk reached no level-2 entry');
    const iopde = BigInt(slot.value);
    const { spa: tableSpa } = await c.call('mem.alloc', { pages: 1 });
    const base = pteAddressField(iopde);
    const values = Array.from({ length: 512 }, (_, i) => toHex(withAddress(iopde, base + i * 4096)));
    await c.call('mem.write64', { spa: tableSpa, values });
    const smash = { domainId: DOMAIN, iova: toHex(REGION_IOVA), iopdeSpa: slot.entrySpa, tableSpa };
    const unsmash = { domainId: DOMAIN, iova: toHex(REGION_IOVA), iopdeSpa: slot.entrySpa };
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
