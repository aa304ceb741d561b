/**
 * What a user's client sees, against the servers child (servers.ts):
 * - the typed client: `clock.now` through SmashEmuClient against a raw WebSocket loop
 *   (a bare `ws` client sending the same frame) on the same server, 1 in flight;
 * - a smash over RPC: tmpm.psmashIo + tmpm.punsmashIo pairs through the typed client
 *   against `clock.now` through the same client on the same connection, 1 in flight;
 * - 64 smashes (32 pairs) in one batch frame through the typed client (the ratio to
 *   the in-process rate is taken in run.ts, beside that figure);
 * - realtime stalls: on a second platform (/platforms/bench-realtime) in realtime
 *   mode, each smash call's wall time less its stall and less the median `clock.now`
 *   round trip, and the server's CPU time per stall call.
 * Rounds alternate which of a pair goes first; ratios are the median of each
 * round's pair (measured back to back, so load from elsewhere mostly cancels).
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { SMASH } from './smash.js';
import { median, nowMs, perSec } from './util.js';
import type { ServerUrls } from './servers.js';

export interface ClientSizes {
  rounds: number;
  /** clock.now calls per round (typed and raw). */
  nowCalls: number;
  /** Smash + unsmash pairs per round. */
  smashPairs: number;
  /** Batch frames of BATCH calls per round. */
  batches: number;
  /** Realtime smash calls (half smashes, half unsmashes). */
  realtimeCalls: number;
}

export const FULL_CLIENT_SIZES: ClientSizes = { rounds: 9, nowCalls: 2000, smashPairs: 500, batches: 60, realtimeCalls: 200 };
export const QUICK_CLIENT_SIZES: ClientSizes = { rounds: 1, nowCalls: 20, smashPairs: 5, batches: 2, realtimeCalls: 10 };

/** Calls in one batch frame. */
export const BATCH = 64;
/** Rounds run first and not counted (JIT warm-up of server and client). */
const WARMUP_ROUNDS = 2;
/** The realtime stall (ns). */
const REALTIME_STALL_NS = 2_000_000;

export interface ClientResult {
  typedNowPerSec: number;
  rawNowPerSec: number;
  typedRatio: number;
  nowPerSec: number;
  smashPerSec: number;
  smashRatio: number;
  batchPerSec: number;
}

export interface RealtimeResult {
  /** Median clock.now round trip (µs), the realtime platform. */
  rttUs: number;
  /** Stall error: call wall time - stallNs - rttUs, percentiles over the calls (µs). */
  errP50Us: number;
  errP99Us: number;
  errMaxUs: number;
  /** Server CPU time (user + system) per stall call, ms (the stall itself is 2 ms). */
  cpuMsPerCall: number;
}

/** `n` clock.now frames 1 in flight over a bare ws; calls/s. */
function rawLoop(ws: WebSocket, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let answered = 0;
    let id = 1;
    const send = () => ws.send(`{"jsonrpc":"2.0","id":${id++},"method":"clock.now"}`);
    const onMessage = (data: Buffer) => {
      if (answered === 0 && !String(data).includes('"result"')) {
        ws.off('message', onMessage);
        reject(new Error(`clock.now did not answer a result: ${String(data)}`));
        return;
      }
      if (++answered < n) send();
      else {
        ws.off('message', onMessage);
        resolve(perSec(n, nowMs() - t0));
      }
    };
    ws.on('message', onMessage);
    const t0 = nowMs();
    send();
  });
}

async function typedLoop(c: SmashEmuClient, n: number): Promise<number> {
  const t0 = nowMs();
  for (let i = 0; i < n; i++) await c.call('clock.now');
  return perSec(n, nowMs() - t0);
}

type Args = Awaited<ReturnType<typeof SMASH.rpc.prepare>>;

async function smashLoop(c: SmashEmuClient, a: Args, pairs: number): Promise<number> {
  const t0 = nowMs();
  for (let i = 0; i < pairs; i++) {
    await SMASH.rpc.smash(c, a);
    await SMASH.rpc.unsmash(c, a);
  }
  return perSec(2 * pairs, nowMs() - t0);
}

async function batchLoop(c: SmashEmuClient, a: Args, batches: number): Promise<number> {
  const t0 = nowMs();
  for (let i = 0; i < batches; i++) await SMASH.rpc.batch(c, a, BATCH / 2);
  return perSec(batches * BATCH, nowMs() - t0);
}

/** Runs `a` and `b` alternately for `rounds` counted rounds (after warm-up); medians of rates and of paired ratios a/b. */
async function paired(rounds: number, a: () => Promise<number>, b: () => Promise<number>) {
  const ra: number[] = [];
  const rb: number[] = [];
  const ratios: number[] = [];
  for (let round = -WARMUP_ROUNDS; round < rounds; round++) {
    const aFirst = round % 2 === 0;
    const first = await (aFirst ? a : b)();
    const second = await (aFirst ? b : a)();
    if (round < 0) continue;
    const [x, y] = aFirst ? [first, second] : [second, first];
    ra.push(x);
    rb.push(y);
    ratios.push(x / y);
  }
  return { a: median(ra), b: median(rb), ratio: median(ratios) };
}

export async function clientFigures(urls: ServerUrls, sizes: ClientSizes = FULL_CLIENT_SIZES): Promise<ClientResult> {
  const raw = new WebSocket(urls.appUrl);
  await once(raw, 'open');
  const c = await SmashEmuClient.connect(urls.appUrl);
  try {
    const typed = await paired(
      sizes.rounds,
      () => typedLoop(c, sizes.nowCalls),
      () => rawLoop(raw, sizes.nowCalls),
    );
    await c.call('emu.reset');
    const a = await SMASH.rpc.prepare(c, 1, 0x20_0000n);
    const smash = await paired(
      sizes.rounds,
      () => smashLoop(c, a, sizes.smashPairs),
      () => typedLoop(c, sizes.nowCalls),
    );
    // Warm-up batch frames, then the best of the rounds (as the in-process figure takes).
    await batchLoop(c, a, Math.min(sizes.batches, 10));
    let batchPerSec = 0;
    for (let r = 0; r < Math.max(1, Math.ceil(sizes.rounds / 3)); r++) batchPerSec = Math.max(batchPerSec, await batchLoop(c, a, sizes.batches));
    return { typedNowPerSec: typed.a, rawNowPerSec: typed.b, typedRatio: typed.ratio, nowPerSec: smash.b, smashPerSec: smash.a, smashRatio: smash.ratio, batchPerSec };
  } finally {
    raw.close();
    await Promise.all([c.close(), once(raw, 'close')]);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * Realtime stalls on their own platform of the servers child: `calls` smash calls
 * (alternating PSMASH_IO / PUNSMASH_IO), each timed; `cpu` reads the child's CPU time (ms).
 */
export async function realtimeStalls(urls: ServerUrls, cpu: () => Promise<number>, calls: number): Promise<RealtimeResult> {
  const url = urls.appUrl.replace(/\/?$/, '/platforms/bench-realtime');
  const c = await SmashEmuClient.connect(url);
  try {
    const a = await SMASH.rpc.prepare(c, 1, 0x20_0000n);
    await SMASH.rpc.stallModel(c, { baseNs: REALTIME_STALL_NS, jitter: { dist: 'none', spreadNs: 0 } });
    await c.call('clock.setMode', { mode: 'realtime' });
    for (let i = 0; i < 200; i++) await c.call('clock.now');
    const rtts: number[] = [];
    for (let i = 0; i < Math.max(50, calls); i++) {
      const t0 = nowMs();
      await c.call('clock.now');
      rtts.push((nowMs() - t0) * 1000);
    }
    const rttUs = median(rtts);
    // Warm-up pairs, untimed.
    for (let i = 0; i < 10; i++) {
      await SMASH.rpc.smash(c, a);
      await SMASH.rpc.unsmash(c, a);
    }
    const errs: number[] = [];
    const cpu0 = await cpu();
    for (let i = 0; i < calls; i++) {
      const t0 = nowMs();
      const stallNs = i % 2 === 0 ? (await SMASH.rpc.smash(c, a)).stallNs : (await SMASH.rpc.unsmash(c, a)).stallNs;
      errs.push((nowMs() - t0) * 1000 - stallNs / 1000 - rttUs);
    }
    const cpuMs = (await cpu()) - cpu0;
    await c.call('clock.setMode', { mode: 'virtual' });
    errs.sort((x, y) => x - y);
    return { rttUs, errP50Us: percentile(errs, 50), errP99Us: percentile(errs, 99), errMaxUs: errs[errs.length - 1] as number, cpuMsPerCall: cpuMs / calls };
  } finally {
    await c.close();
  }
}
