/**
 * Smash (README.md "Performance"): tmpm.psmashIo + tmpm.punsmashIo
 * pairs (PSMASH_IO and PUNSMASH_IO through the TMPM's ring) of one 2 MB region of the
 * TEE-IO device, in process (on the default 1 GiB guest and on a 1 TiB guest fully
 * mapped with 2 MB leaves); over RPC through the typed client in client.ts. The stall
 * model has no jitter; each command advances virtual time by its stall (2 ms).
 * Figures: TMPM calls per wall second (a pair is two calls).
 *
 * Every smash of the benchmark goes through SMASH below (prepare, smash, unsmash, in
 * process and over RPC).
 */
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { TMPM_STATUS } from '../src/tmpm/commands.js';
import type { Scenario } from '../src/platform/scenario.js';
import { SmashEmuClient, type BatchCall } from '../src/client/smash-emu-client.js';
import { toHex } from '../src/util/hex.js';
import { nowMs, perSec } from './util.js';

const DOMAIN = 1;
const REGION_IOVA = 0x20_0000n;
/** Pairs run before the timed ones, on the same platform. */
const WARM_UP_PAIRS = 1000;
/** Timed rounds of `pairs` pairs each; the figure is the fastest. */
const ROUNDS = 3;

function check(what: string, r: { status: number; statusName: string }): void {
  if (r.status !== TMPM_STATUS.SUCCESS) throw new Error(`${what} returned ${r.statusName}`);
}

interface SmashArgs {
  srcPgSpa: bigint;
  smashHpteSpa: bigint;
  srcHpmdSpa: bigint;
  gctxSpa: bigint;
}
interface RpcSmashArgs {
  srcPgSpa: string;
  smashHpteSpa: string;
  srcHpmdSpa: string;
  gctxSpa: string;
}

/** The smash calls of the benchmark, in process and over RPC. */
export const SMASH = {
  /** In process: PSMASH_IO's arguments for the 2 MB region at `iova` of `domainId`. */
  prepare(p: Platform, domainId: number, iova: bigint): SmashArgs {
    const prep = p.tmpmPreparePsmash(domainId, iova);
    return { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
  },
  async smash(p: Platform, a: SmashArgs) {
    check('tmpm.psmashIo', await p.tmpmPsmashIo(a));
  },
  async unsmash(p: Platform, a: SmashArgs) {
    check('tmpm.punsmashIo', await p.tmpmPunsmashIo({ srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa }));
  },
  noJitter(p: Platform) {
    p.tmpmSetStallModel({ jitter: { dist: 'none', spreadNs: 0 } });
  },
  /** Over RPC: the same three steps. */
  rpc: {
    async prepare(c: SmashEmuClient, domainId: number, iova: bigint): Promise<RpcSmashArgs> {
      await SMASH.rpc.stallModel(c, { jitter: { dist: 'none', spreadNs: 0 } });
      const prep = await c.call('tmpm.preparePsmash', { domainId, iova: toHex(iova) });
      return { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
    },
    async smash(c: SmashEmuClient, a: RpcSmashArgs): Promise<{ dmaHeld: number; stallNs: number }> {
      const r = await c.call('tmpm.psmashIo', a);
      check('tmpm.psmashIo', r);
      return { dmaHeld: r.dmaHeld, stallNs: r.stallNs };
    },
    /** The stall model of the calls above (merged, as tmpm.setStallModel does). */
    async stallModel(c: SmashEmuClient, patch: { baseNs?: number; jitter?: { dist: 'none'; spreadNs: number } }) {
      await c.call('tmpm.setStallModel', patch);
    },
    async unsmash(c: SmashEmuClient, a: RpcSmashArgs): Promise<{ stallNs: number }> {
      const r = await c.call('tmpm.punsmashIo', { srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa });
      check('tmpm.punsmashIo', r);
      return { stallNs: r.stallNs };
    },
    /** `pairs` smash + unsmash pairs in one batch frame (SmashEmuClient.batch); each must succeed. */
    async batch(c: SmashEmuClient, a: RpcSmashArgs, pairs: number): Promise<void> {
      const un = { srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa };
      const calls: BatchCall[] = [];
      for (let i = 0; i < pairs; i++) calls.push({ method: 'tmpm.psmashIo', params: a }, { method: 'tmpm.punsmashIo', params: un });
      const out = await c.batch(calls);
      for (const o of out) {
        if (!o.ok) throw o.error;
        check('batch member', o.result as { status: number; statusName: string });
      }
    },
  },
};

/** Calls per second of `pairs` smash + unsmash pairs on a platform (default scenario unless given), best of ROUNDS rounds. */
export async function smashInProcess(pairs: number, scenario?: Scenario): Promise<number> {
  const p: Platform = scenario === undefined ? createPlatform() : createPlatform(scenario);
  SMASH.noJitter(p);
  const a = SMASH.prepare(p, DOMAIN, REGION_IOVA);
  // Untimed pairs: the first smash builds the IOMMU's domain index and live-table
  // set, and the rest let the JIT compile the path (steady state is the figure).
  for (let i = 0; i < Math.min(pairs, WARM_UP_PAIRS); i++) {
    await SMASH.smash(p, a);
    await SMASH.unsmash(p, a);
  }
  // The best of ROUNDS timed rounds (as the DMA figures take the best of their runs):
  // the machine is shared, and a round the scheduler interrupted says nothing of the code.
  let ms = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = nowMs();
    for (let i = 0; i < pairs; i++) {
      await SMASH.smash(p, a);
      await SMASH.unsmash(p, a);
    }
    ms = Math.min(ms, nowMs() - t0);
  }
  p.dispose();
  return perSec(2 * pairs, ms);
}
