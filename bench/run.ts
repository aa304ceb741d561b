/**
 * `npm run bench`: every performance figure of README.md "Performance" from one run,
 * printed as a table and, last, as one JSON line (stable keys). Scale runs in a
 * `node --expose-gc` child, the servers in another child; the rest in process.
 */
import { scale, scaleScenario, type ScaleResult } from './scale.js';
import { stall, type StallResult } from './stall.js';
import { translate, type TranslateResult } from './translate.js';
import { dma, type DmaResult } from './dma.js';
import { smashInProcess, smashOverRpc } from './smash.js';
import { rpcVsEcho, FULL_RPC_SIZES, type RpcResult, type RpcSizes } from './rpc.js';
import { startServers } from './servers.js';
import { formatTable, isMain, sig, type Row } from './util.js';

export interface BenchSizes {
  scaleGiB: number;
  /** Multiplies the translation and DMA counts (1 = full). */
  translate: number;
  dma: number;
  smashPairs: number;
  smashRpcPairs: number;
  /** Guest size (GiB) of the large-guest smash figure, against the default 1 GiB guest. */
  smashBigGiB: number;
  /** Rate (requests/s) of the stream the 2 ms stall holds. */
  stallRate: number;
  rpc: RpcSizes;
}

export const FULL_SIZES: BenchSizes = { scaleGiB: 1024, translate: 1, dma: 1, smashPairs: 2000, smashRpcPairs: 500, smashBigGiB: 1024, stallRate: 1e9, rpc: FULL_RPC_SIZES };
export const QUICK_SIZES: BenchSizes = { scaleGiB: 2, translate: 0.01, dma: 0.005, smashPairs: 5, smashRpcPairs: 5, smashBigGiB: 4, stallRate: 1e6, rpc: { rounds: 1, n1: 50, n32: 200 } };

/** Walks per bare-loop event measured before the DMA fast paths (0.013-0.015): their target is 3x. */
const WALK_RATIO_BEFORE = 0.015;

export interface BenchFigures {
  scale: Omit<ScaleResult, 'auditClean'>;
  translate: TranslateResult;
  dma: DmaResult;
  smash: { inProcessPerSec: number; rpcPerSec: number; bigGuestPerSec: number; bigGuestRatio: number };
  stall: StallResult;
  rpc: RpcResult;
}

export async function runAll(sizes: BenchSizes = FULL_SIZES, log: (line: string) => void = () => {}): Promise<{ figures: BenchFigures; rows: Row[] }> {
  log(`scale: ${sizes.scaleGiB} GiB guest in a child process...`);
  const { auditClean, ...sc } = await scale(sizes.scaleGiB);
  if (!auditClean) throw new Error('the scale platform does not audit clean');
  log('translation...');
  const tr = translate(sizes.translate);
  log('DMA simulation...');
  const dm = await dma(sizes.dma);
  log('smash in process...');
  const smashIn = await smashInProcess(sizes.smashPairs);
  log(`smash in process on a ${sizes.smashBigGiB} GiB guest...`);
  const smashBig = await smashInProcess(sizes.smashPairs, scaleScenario(sizes.smashBigGiB));
  log('2 ms stall under a stream, in a server child...');
  const st = await stall(sizes.stallRate);
  log('servers child: smash over RPC, RPC against raw echo...');
  const servers = await startServers();
  let smashRpc: number;
  let rp: RpcResult;
  try {
    smashRpc = await smashOverRpc(servers.appUrl, sizes.smashRpcPairs);
    rp = await rpcVsEcho(servers, sizes.rpc);
  } finally {
    await servers.stop();
  }
  const figures: BenchFigures = {
    scale: sc,
    translate: tr,
    dma: dm,
    smash: { inProcessPerSec: smashIn, rpcPerSec: smashRpc, bigGuestPerSec: smashBig, bigGuestRatio: smashBig / smashIn },
    stall: st,
    rpc: rp,
  };
  const gib = (n: number) => (n >= 1024 ? `${n / 1024} TiB` : `${n} GiB`);
  const g = gib(sizes.scaleGiB);
  const rate = sizes.stallRate >= 1e6 ? `${sizes.stallRate / 1e6}e6` : String(sizes.stallRate);
  const rows: Row[] = [
    { name: `scale: set-up of a ${g} guest, 2 MB leaves`, value: sc.setupMs, unit: 'ms', target: { max: 1000 } },
    { name: 'scale: heap growth (heapUsed after GC)', value: sc.heapMiB, unit: 'MiB', target: { max: 64 } },
    { name: 'scale: typed-array growth (arrayBuffers)', value: sc.arrayBuffersMiB, unit: 'MiB' },
    { name: 'scale: RSS growth', value: sc.rssMiB, unit: 'MiB', target: { max: 64 } },
    { name: 'scale: emu.audit (informational)', value: sc.auditMs, unit: 'ms' },
    { name: `scale: iommu.unmap of the ${g} guest, 2 MB leaves`, value: sc.unmapMs, unit: 'ms', target: { max: 1000 } },
    { name: 'translate: IOTLB hits', value: tr.hitPerSec, unit: '/s' },
    { name: 'translate: IOTLB hits / Map.get loop', value: tr.hitRatio, unit: 'ratio' },
    { name: 'translate: walks to 2 MB leaves', value: tr.walkPerSec, unit: '/s' },
    { name: 'translate: 2 MB walks / Map.get loop', value: tr.walkRatio, unit: 'ratio' },
    { name: 'translate: walks to 4 KB leaves', value: tr.walk4kPerSec, unit: '/s' },
    { name: 'translate: 4 KB walks / Map.get loop', value: tr.walk4kRatio, unit: 'ratio' },
    { name: 'dma: requests, IOTLB hits (batched, no closed form)', value: dm.hitPerSec, unit: 'req/wall s' },
    { name: 'dma: hits / bare event-queue loop', value: dm.hitRatio, unit: 'ratio', target: { min: 0.5 } },
    { name: 'dma: requests, closed form (IOTLB hits)', value: dm.closedFormPerSec, unit: 'req/wall s', target: { min: 1e8 } },
    { name: 'dma: requests, every one a walk', value: dm.walkPerSec, unit: 'req/wall s' },
    { name: `dma: walks / bare event-queue loop (3x the ${WALK_RATIO_BEFORE} before)`, value: dm.walkRatio, unit: 'ratio', target: { min: 3 * WALK_RATIO_BEFORE } },
    { name: `stall: 2 ms at ${rate} req/s, extra heap while it runs`, value: st.extraHeapMiB, unit: 'MiB', target: { max: 16 } },
    { name: 'stall: slowest /healthz during it', value: st.healthzMaxMs, unit: 'ms', target: { max: 50 } },
    { name: 'stall: wall time of the smash call (informational)', value: st.smashWallMs, unit: 'ms' },
    { name: 'smash: tmpm.psmashIo + punsmashIo calls in process', value: smashIn, unit: 'calls/s', target: { min: 20_000 } },
    { name: `smash: calls in process, ${gib(sizes.smashBigGiB)} guest`, value: smashBig, unit: 'calls/s' },
    { name: `smash: ${gib(sizes.smashBigGiB)} / 1 GiB guest`, value: smashBig / smashIn, unit: 'ratio', target: { min: 0.8 } },
    { name: 'smash: tmpm.psmashIo + punsmashIo calls over RPC (typed client)', value: smashRpc, unit: 'calls/s' },
    { name: 'rpc: clock.now, 1 in flight', value: rp.c1RpcPerSec, unit: 'req/s' },
    { name: 'rpc: raw echo, 1 in flight', value: rp.c1EchoPerSec, unit: 'req/s' },
    { name: 'rpc: rpc / raw echo, 1 in flight', value: rp.c1Ratio, unit: 'ratio', target: { min: 0.8 } },
    { name: 'rpc: clock.now, 32 in flight', value: rp.c32RpcPerSec, unit: 'req/s' },
    { name: 'rpc: raw echo, 32 in flight', value: rp.c32EchoPerSec, unit: 'req/s' },
    { name: 'rpc: rpc / raw echo, 32 in flight', value: rp.c32Ratio, unit: 'ratio', target: { min: 0.7 } },
  ];
  return { figures, rows };
}

/** The JSON line: every figure, rounded to 4 significant digits. */
export function jsonLine(f: BenchFigures): string {
  return JSON.stringify(f, (_k, v: unknown) => (typeof v === 'number' ? sig(v) : v));
}

if (isMain(import.meta.url)) {
  const t0 = Date.now();
  const { figures, rows } = await runAll(FULL_SIZES, (line) => process.stderr.write(`bench: ${line}\n`));
  const notes = 'ratios: figure / baseline in this run (translate: Map.get loop; dma: EventQueue loop; smash: the default 1 GiB guest; rpc: raw ws echo, servers in a child process, median of paired rounds)';
  process.stdout.write(`smash-emu bench (node ${process.version}, ${Math.round((Date.now() - t0) / 1000)} s)\n\n${formatTable(rows)}\n${notes}\n\n${jsonLine(figures)}\n`);
}
