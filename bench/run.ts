/**
 * `npm run bench`: every performance figure of README.md "Performance" from one run,
 * printed as a table and, last, as one JSON line (stable keys). Scale runs in a
 * `node --expose-gc` child, the servers in another child; the rest in process.
 */
import { scale, scaleScenario, type ScaleResult } from './scale.js';
import { stall, type StallResult } from './stall.js';
import { translate, type TranslateResult } from './translate.js';
import { dma, type DmaResult } from './dma.js';
import { smashInProcess } from './smash.js';
import { clientFigures, realtimeStalls, BATCH, FULL_CLIENT_SIZES, QUICK_CLIENT_SIZES, type ClientResult, type ClientSizes, type RealtimeResult } from './client.js';
import { firmwareInProcess, firmwareOverRpc, type FirmwareResult } from './firmware.js';
import { rpcVsEcho, FULL_RPC_SIZES, type RpcResult, type RpcSizes } from './rpc.js';
import { startServers } from './servers.js';
import { formatTable, isMain, sig, type Row } from './util.js';

export interface BenchSizes {
  scaleGiB: number;
  /** Multiplies the translation and DMA counts (1 = full). */
  translate: number;
  dma: number;
  smashPairs: number;
  /** Guest size (GiB) of the large-guest smash figure, against the default 1 GiB guest. */
  smashBigGiB: number;
  /** Rates (requests/s) of the fixed-rate stream a stall holds: the fast one (heap, /healthz) and the slow one it is compared with. */
  stallRate: number;
  stallSlowRate: number;
  /** The stall (ns). */
  stallNs: number;
  /** PSP mailbox commands and TIO connects timed (in process; over RPC a tenth). */
  fwCommands: number;
  fwConnects: number;
  rpc: RpcSizes;
  client: ClientSizes;
}

export const FULL_SIZES: BenchSizes = {
  scaleGiB: 1024,
  translate: 1,
  dma: 1,
  smashPairs: 2000,
  smashBigGiB: 1024,
  stallRate: 1e9,
  stallSlowRate: 1e6,
  stallNs: 20_000_000,
  fwCommands: 20_000,
  fwConnects: 200,
  rpc: FULL_RPC_SIZES,
  client: FULL_CLIENT_SIZES,
};
export const QUICK_SIZES: BenchSizes = {
  scaleGiB: 2,
  translate: 0.01,
  dma: 0.005,
  smashPairs: 5,
  smashBigGiB: 4,
  stallRate: 1e6,
  stallSlowRate: 1e5,
  stallNs: 2_000_000,
  fwCommands: 20,
  fwConnects: 2,
  rpc: { rounds: 1, n1: 50, n32: 200 },
  client: QUICK_CLIENT_SIZES,
};

/** Walks against the bare event-queue loop: the target (README "Performance"; 0.045-0.068 before the walk work). */
const WALK_RATIO_TARGET = 0.15;
/** In-process smash calls per second: the target (README "Performance"; 70,358 before the smash work). */
const SMASH_IN_PROCESS_TARGET = 100_000;

export interface BenchFigures {
  scale: Omit<ScaleResult, 'auditClean'>;
  translate: TranslateResult;
  dma: DmaResult;
  smash: { inProcessPerSec: number; bigGuestPerSec: number; bigGuestRatio: number; batchRatio: number };
  stall: StallResult & { slowWallMs: number; wallRatio: number; slowHealthzMaxMs: number };
  rpc: RpcResult;
  client: ClientResult;
  realtime: RealtimeResult;
  firmware: FirmwareResult;
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
  log('firmware in process: mailbox commands and TIO connects...');
  const fwIn = await firmwareInProcess(sizes.fwCommands, sizes.fwConnects);
  log(`${sizes.stallNs / 1e6} ms stall under a ${sizes.stallSlowRate} req/s stream, then a ${sizes.stallRate} req/s one, in server children...`);
  const slow = await stall(sizes.stallSlowRate, sizes.stallNs);
  const st = await stall(sizes.stallRate, sizes.stallNs);
  log('servers child: RPC against raw echo, typed client, smash over RPC, realtime stalls...');
  const servers = await startServers();
  let cl: ClientResult;
  let rt: RealtimeResult;
  let rp: RpcResult;
  let fwRpc: Awaited<ReturnType<typeof firmwareOverRpc>>;
  try {
    fwRpc = await firmwareOverRpc(servers.appUrl, Math.max(1, Math.round(sizes.fwCommands / 10)), Math.max(1, Math.round(sizes.fwConnects / 10)));
    rp = await rpcVsEcho(servers, sizes.rpc);
    cl = await clientFigures(servers, sizes.client);
    rt = await realtimeStalls(servers, () => servers.cpuMs(), sizes.client.realtimeCalls);
  } finally {
    await servers.stop();
  }
  const figures: BenchFigures = {
    scale: sc,
    translate: tr,
    dma: dm,
    smash: { inProcessPerSec: smashIn, bigGuestPerSec: smashBig, bigGuestRatio: smashBig / smashIn, batchRatio: cl.batchPerSec / smashIn },
    stall: { ...st, slowWallMs: slow.smashWallMs, wallRatio: st.smashWallMs / slow.smashWallMs, slowHealthzMaxMs: slow.healthzMaxMs },
    rpc: rp,
    client: cl,
    realtime: rt,
    firmware: { ...fwIn, ...fwRpc },
  };
  const gib = (n: number) => (n >= 1024 ? `${n / 1024} TiB` : `${n} GiB`);
  const g = gib(sizes.scaleGiB);
  const rateName = (r: number) => r.toExponential().replace('+', '');
  const rate = rateName(sizes.stallRate);
  const slowRate = rateName(sizes.stallSlowRate);
  const stallMs = `${sizes.stallNs / 1e6} ms`;
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
    { name: 'dma: walks / bare event-queue loop', value: dm.walkRatio, unit: 'ratio', target: { min: WALK_RATIO_TARGET } },
    { name: `stall: ${stallMs} at ${rate} req/s, extra heap while it runs`, value: st.extraHeapMiB, unit: 'MiB', target: { max: 16 } },
    { name: `stall: ${stallMs} at ${slowRate} req/s, wall time of the smash call`, value: slow.smashWallMs, unit: 'ms' },
    { name: `stall: ${stallMs} at ${rate} req/s, wall time of the smash call`, value: st.smashWallMs, unit: 'ms' },
    { name: `stall: wall time at ${rate} / at ${slowRate} req/s`, value: st.smashWallMs / slow.smashWallMs, unit: 'ratio', target: { max: 2 } },
    { name: 'stall: slowest /healthz during either', value: Math.max(st.healthzMaxMs, slow.healthzMaxMs), unit: 'ms', target: { max: 50 } },
    { name: 'smash: tmpm.psmashIo + punsmashIo calls in process', value: smashIn, unit: 'calls/s', target: { min: SMASH_IN_PROCESS_TARGET } },
    { name: `smash: calls in process, ${gib(sizes.smashBigGiB)} guest`, value: smashBig, unit: 'calls/s' },
    { name: `smash: ${gib(sizes.smashBigGiB)} / 1 GiB guest`, value: smashBig / smashIn, unit: 'ratio', target: { min: 0.8 } },
    { name: 'client: clock.now, typed client, 1 in flight', value: cl.typedNowPerSec, unit: 'calls/s' },
    { name: 'client: clock.now, raw WebSocket loop, 1 in flight', value: cl.rawNowPerSec, unit: 'calls/s' },
    { name: 'client: typed client / raw loop', value: cl.typedRatio, unit: 'ratio', target: { min: 0.8 } },
    { name: 'client: tmpm.psmashIo + punsmashIo over RPC, 1 in flight', value: cl.smashPerSec, unit: 'calls/s' },
    { name: 'client: smash calls / clock.now calls, same connection', value: cl.smashRatio, unit: 'ratio', target: { min: 0.9 } },
    { name: `client: smash calls, ${BATCH} in one batch frame`, value: cl.batchPerSec, unit: 'calls/s' },
    { name: `client: ${BATCH}-call batches / in process`, value: cl.batchPerSec / smashIn, unit: 'ratio', target: { min: 0.5 } },
    { name: 'realtime: clock.now round trip (median)', value: rt.rttUs, unit: 'us' },
    { name: 'realtime: 2 ms stall error, p50 (wall - stall - round trip)', value: rt.errP50Us, unit: 'us', target: { max: 50 } },
    { name: 'realtime: 2 ms stall error, p99', value: rt.errP99Us, unit: 'us', target: { max: 200 } },
    { name: 'realtime: server CPU per 2 ms stall call', value: rt.cpuMsPerCall, unit: 'ms' },
    { name: 'firmware: SNP_PLATFORM_STATUS through the mailbox registers, in process', value: fwIn.mailboxPerSec, unit: 'commands/s', target: { min: SMASH_IN_PROCESS_TARGET } },
    { name: 'firmware: the same over RPC (3 register writes, clock.advance, a read)', value: fwRpc.mailboxRpcPerSec, unit: 'commands/s' },
    { name: 'firmware: tio.connect (22 commands, 21 SPDM messages) + tio.disconnect, in process', value: fwIn.connectPerSec, unit: 'connects/s' },
    { name: 'firmware: tio.connect + tio.disconnect over RPC', value: fwRpc.connectRpcPerSec, unit: 'connects/s' },
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
  const notes =
    'ratios: figure / baseline in this run (translate: Map.get loop; dma: EventQueue loop; smash: the default 1 GiB guest; rpc: raw ws echo, servers in a child process, median of paired rounds; client: the same server, median of paired rounds; batches: the in-process figure above)';
  process.stdout.write(`smash-emu bench (node ${process.version}, ${Math.round((Date.now() - t0) / 1000)} s)\n\n${formatTable(rows)}\n${notes}\n\n${jsonLine(figures)}\n`);
}
