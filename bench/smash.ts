/**
 * Smash (DESIGN.md "Performance", issue 10): smash + unsmash pairs of one 2 MB region
 * of the TEE-IO device, in process (on the default 1 GiB guest and on a 1 TiB guest
 * fully mapped with 2 MB leaves) and over RPC through the typed client. The stall
 * model has no jitter; each call advances virtual time by its stall (2 ms).
 * Figures: calls per wall second (a pair is two calls).
 *
 * Every smash of the benchmark goes through SMASH below (prepare, smash, unsmash, in
 * process and over RPC): the one place to switch to tmpm.preparePsmash / tmpm.psmashIo.
 */
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { FW_STATUS } from '../src/firmware/status.js';
import type { Scenario } from '../src/platform/scenario.js';
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

interface SmashArgs {
  domainId: number;
  iova: bigint;
  iopdeSpa: number;
  tableSpa: number;
}
interface RpcSmashArgs {
  domainId: number;
  iova: string;
  iopdeSpa: string;
  tableSpa: string;
}

/** The smash calls of the benchmark, in process and over RPC. */
export const SMASH = {
  /** In process: the arguments for smashing the 2 MB region at `iova` of `domainId`. */
  prepare(p: Platform, domainId: number, iova: bigint): SmashArgs {
    const prep = p.iommuPrepareSmash(domainId, iova);
    return { domainId, iova, iopdeSpa: Number(prep.iopdeSpa), tableSpa: Number(prep.tableSpa) };
  },
  async smash(p: Platform, a: SmashArgs) {
    check('fw.smashIopde', await p.fwSmashIopde(a));
  },
  async unsmash(p: Platform, a: SmashArgs) {
    check('fw.unsmashIopde', await p.fwUnsmashIopde({ domainId: a.domainId, iova: a.iova, iopdeSpa: a.iopdeSpa }));
  },
  noJitter(p: Platform) {
    p.fwSetStallModel({ jitter: { dist: 'none', spreadNs: 0 } });
  },
  /** Over RPC: the same three steps. */
  rpc: {
    async prepare(c: SmashEmuClient, domainId: number, iova: bigint): Promise<RpcSmashArgs> {
      await SMASH.rpc.stallModel(c, { jitter: { dist: 'none', spreadNs: 0 } });
      const prep = await c.call('iommu.prepareSmash', { domainId, iova: toHex(iova) });
      return { domainId, iova: prep.iova, iopdeSpa: prep.iopdeSpa, tableSpa: prep.tableSpa };
    },
    async smash(c: SmashEmuClient, a: RpcSmashArgs): Promise<{ dmaHeld: number }> {
      const r = await c.call('fw.smashIopde', a);
      check('fw.smashIopde', r);
      return { dmaHeld: Number(r.dmaHeld ?? 0) };
    },
    /** The stall model of the calls above (merged, as fw.setStallModel does). */
    async stallModel(c: SmashEmuClient, patch: { baseNs?: number; jitter?: { dist: 'none'; spreadNs: number } }) {
      await c.call('fw.setStallModel', patch);
    },
    async unsmash(c: SmashEmuClient, a: RpcSmashArgs) {
      check('fw.unsmashIopde', await c.call('fw.unsmashIopde', { domainId: a.domainId, iova: a.iova, iopdeSpa: a.iopdeSpa }));
    },
  },
};

/** Calls per second of `pairs` smash + unsmash pairs on a platform (default scenario unless given). */
export async function smashInProcess(pairs: number, scenario?: Scenario): Promise<number> {
  const p: Platform = scenario === undefined ? createPlatform() : createPlatform(scenario);
  SMASH.noJitter(p);
  const a = SMASH.prepare(p, DOMAIN, REGION_IOVA);
  // One untimed pair: the first smash builds the IOMMU's domain index and live-table set.
  await SMASH.smash(p, a);
  await SMASH.unsmash(p, a);
  const t0 = nowMs();
  for (let i = 0; i < pairs; i++) {
    await SMASH.smash(p, a);
    await SMASH.unsmash(p, a);
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
    const a = await SMASH.rpc.prepare(c, DOMAIN, REGION_IOVA);
    const t0 = nowMs();
    for (let i = 0; i < pairs; i++) {
      await SMASH.rpc.smash(c, a);
      await SMASH.rpc.unsmash(c, a);
    }
    return perSec(2 * pairs, nowMs() - t0);
  } finally {
    await c.close();
  }
}
