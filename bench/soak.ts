/**
 * The soak (`npm run bench:soak [-- --minutes N]`, default 10): the real server in a
 * child process (bench/servers.ts), several platforms driven at once with mixed calls
 * (DMA streams and clock.advance, smash and unsmash, dma.stats, snapshots and
 * reverts (a second snapshot dropped by each revert), emu.dumpState, trace.start / trace.export, mem.alloc / mem.free,
 * journal.count, iommu.walk, dma.issue), while /healthz is polled back to back.
 * Prints /healthz p50, p99 and max, the server's RSS sampled every 5 s with its
 * trend after warm-up (the first fifth of the run), the calls made, and one JSON
 * line. Targets: /healthz p99 <= 50 ms, max <= 200 ms, RSS flat after warm-up
 * (the last quarter's mean within 10% of the second quarter's).
 *
 * /healthz is polled from a worker thread, so the drivers' own work here (parsing a
 * dump of tens of MB) does not count as the server's. Which calls hold the server:
 * each method's slowest call, and how many slow /healthz answers (over 50 ms) each
 * method overlapped, against its calls (a method in flight during most slow answers
 * is the one to look at).
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { startServers } from './servers.js';
import { formatTable, isMain, nowMs, sig, type Row } from './util.js';

const PLATFORMS = 3;
const RSS_EVERY_MS = 5000;

type Call = (method: string, params?: unknown) => Promise<any>;

export interface SoakResult {
  minutes: number;
  platforms: number;
  calls: number;
  healthz: { answers: number; p50Ms: number; p99Ms: number; maxMs: number };
  rssMiB: number[];
  rssWarmMiB: number;
  rssEndMiB: number;
  rssGrowth: number;
  /** By method: calls, slowest call, slow /healthz answers overlapped. */
  methods: Record<string, MethodFigures>;
  /** The load average (1 min) at the start and at the end: the machine may be shared. */
  loadavg: [number, number];
}

/**
 * Polls `url` back to back in a worker thread (its own event loop) until told to
 * stop; posts each answer's [start, end] in this process's nowMs terms.
 */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
let stop = false;
parentPort.on('message', () => { stop = true; });
const now = () => Number(process.hrtime.bigint()) / 1e6;
(async () => {
  while (!stop) {
    const t0 = now();
    const res = await fetch(workerData.url);
    await res.arrayBuffer();
    parentPort.postMessage([t0, now()]);
  }
  parentPort.postMessage('done');
})();
`;

function loadavg1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** A /healthz answer slower than this is "slow": the calls in flight meanwhile are named. */
const SLOW_HEALTHZ_MS = 50;

export interface MethodFigures {
  calls: number;
  /** The slowest call, wall ms as the driver saw it (waiting on others included). */
  slowestMs: number;
  /** Slow /healthz answers this method had a call in flight during. */
  slowHealthz: number;
}

/** Calls in flight (start ms, method) and those that ended, for the slow /healthz answers to name. */
const inFlight = new Map<number, { method: string; startMs: number }>();
let ended: Array<{ method: string; startMs: number; endMs: number }> = [];
let nextCall = 0;
const figures = new Map<string, MethodFigures>();

function figuresOf(method: string): MethodFigures {
  let f = figures.get(method);
  if (f === undefined) figures.set(method, (f = { calls: 0, slowestMs: 0, slowHealthz: 0 }));
  return f;
}

/** Charges a slow /healthz answer over [fromMs, toMs] to each method in flight meanwhile (once per method). */
function blame(fromMs: number, toMs: number): void {
  const methods = new Set<string>();
  for (const c of inFlight.values()) if (c.startMs <= toMs) methods.add(c.method);
  for (const c of ended) if (c.startMs <= toMs && c.endMs >= fromMs) methods.add(c.method);
  for (const m of methods) figuresOf(m).slowHealthz++;
}

/** One platform's mixed calls until `until` (wall ms): returns the calls made. */
async function drive(url: string, until: number): Promise<number> {
  const c = await SmashEmuClient.connect(url, { timeoutMs: 120_000 });
  const call: Call = (m, p) => (c.call as unknown as Call).call(c, m, p);
  let calls = 0;
  const n = async (m: string, p?: unknown) => {
    calls++;
    const id = nextCall++;
    const startMs = nowMs();
    inFlight.set(id, { method: m, startMs });
    try {
      return await call(m, p);
    } finally {
      const endMs = nowMs();
      inFlight.delete(id);
      ended.push({ method: m, startMs, endMs });
      const f = figuresOf(m);
      f.calls++;
      f.slowestMs = Math.max(f.slowestMs, endMs - startMs);
    }
  };
  try {
    await n('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x40000000', ratePerSec: 200_000, accessBytes: 64, writeRatio: 0.5, arrival: 'poisson' });
    await n('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x4000000', ratePerSec: 500_000, accessBytes: 64, writeRatio: 0.5 });
    const { snapshotId } = await n('emu.snapshot');
    for (let i = 0; nowMs() < until; i++) {
      await n('clock.advance', { ns: 2_000_000 });
      const plan = await n('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
      await n('tmpm.psmashIo', { srcPgSpa: plan.srcPgSpa, smashHpteSpa: plan.smashHpteSpa, srcHpmdSpa: plan.srcHpmdSpa, gctxSpa: plan.gctxSpa });
      const un = await n('tmpm.punsmashIo', { srcPgSpa: plan.srcPgSpa, srcHpmdSpa: plan.srcHpmdSpa, gctxSpa: plan.gctxSpa });
      if (un.hpteSpa !== undefined) await n('mem.free', { spa: un.hpteSpa, pages: 1 });
      await n('dma.stats', { deviceId: 0x100 });
      await n('iommu.walk', { deviceId: 0x200, iova: '0x1000' });
      await n('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: false });
      const { spa } = await n('mem.alloc', { pages: 4 });
      await n('mem.write64', { spa, values: ['0x1', '0x2', '0x3'] });
      await n('mem.free', { spa, pages: 4 });
      await n('journal.count', { method: 'tmpm.psmashIo', params: { srcPgSpa: '0x100200000' } });
      if (i % 10 === 0) await n('trace.start', { maxEvents: 20_000 });
      if (i % 10 === 9) await n('trace.export', { format: 'perfetto-json' });
      if (i % 25 === 24) await n('emu.dumpState');
      if (i % 50 === 24) await n('emu.snapshot');
      if (i % 50 === 49) await n('emu.revert', { snapshotId });
    }
  } finally {
    await c.close();
  }
  return calls;
}

export async function soak(minutes: number): Promise<SoakResult> {
  const servers = await startServers();
  try {
    const base = servers.appUrl.replace(/\/+$/, '');
    const pid = servers.pid;
    const healthz = base.replace(/^ws:/, 'http:') + '/healthz';
    const start = nowMs();
    const until = start + minutes * 60_000;
    const latencies: number[] = [];
    const rss: number[] = [rssMiB(pid)];
    const loadStart = loadavg1();
    const poller = new Worker(POLLER, { eval: true, workerData: { url: healthz } });
    const polled = new Promise<void>((resolve, reject) => {
      poller.on('error', reject);
      poller.on('message', (msg: [number, number] | 'done') => {
        if (msg === 'done') return resolve();
        const [t0, t1] = msg;
        latencies.push(t1 - t0);
        if (t1 - t0 > SLOW_HEALTHZ_MS) blame(t0, t1);
      });
    });
    // Ended calls are kept a few seconds: a slow answer arrives at most that late.
    const trim = setInterval(() => {
      const keepFrom = nowMs() - 5000;
      ended = ended.filter((c) => c.endMs >= keepFrom);
    }, 1000);
    const sampler = setInterval(() => rss.push(rssMiB(pid)), RSS_EVERY_MS);
    const drivers = Array.from({ length: PLATFORMS }, (_, i) => drive(`${base}/platforms/soak${i}`, until));
    const calls = (await Promise.all(drivers)).reduce((a, b) => a + b, 0);
    poller.postMessage('stop');
    clearInterval(sampler);
    clearInterval(trim);
    await polled;
    await poller.terminate();
    rss.push(rssMiB(pid));
    const sorted = [...latencies].sort((a, b) => a - b);
    // Warm-up: the first fifth. Flat: the last quarter's mean against the second quarter's.
    const q = Math.max(1, Math.floor(rss.length / 4));
    const warm = mean(rss.slice(q, 2 * q));
    const end = mean(rss.slice(rss.length - q));
    return {
      minutes,
      platforms: PLATFORMS,
      calls,
      healthz: { answers: latencies.length, p50Ms: sig(quantile(sorted, 0.5)), p99Ms: sig(quantile(sorted, 0.99)), maxMs: sig(sorted[sorted.length - 1] ?? NaN) },
      rssMiB: rss.map((x) => Math.round(x)),
      rssWarmMiB: sig(warm),
      rssEndMiB: sig(end),
      rssGrowth: sig(end / warm - 1, 3),
      methods: Object.fromEntries([...figures].sort((a, b) => b[1].slowHealthz / b[1].calls - a[1].slowHealthz / a[1].calls).map(([k, f]) => [k, { ...f, slowestMs: Math.round(f.slowestMs) }])),
      loadavg: [loadStart, loadavg1()],
    };
  } finally {
    await servers.stop();
  }
}

function minutesArg(argv: readonly string[]): number {
  const i = argv.indexOf('--minutes');
  if (i < 0) return 10;
  const v = Number(argv[i + 1]);
  if (!(v > 0) || !Number.isFinite(v)) throw new Error('--minutes needs a positive number, e.g. --minutes 1');
  return v;
}

if (isMain(import.meta.url)) {
  const minutes = minutesArg(process.argv.slice(2));
  process.stderr.write(`soak: ${minutes} min of mixed calls on ${PLATFORMS} platforms, /healthz polled back to back...\n`);
  const r = await soak(minutes);
  const rows: Row[] = [
    { name: 'soak: /healthz p50', value: r.healthz.p50Ms, unit: 'ms' },
    { name: 'soak: /healthz p99', value: r.healthz.p99Ms, unit: 'ms', target: { max: 50 } },
    { name: 'soak: /healthz max', value: r.healthz.maxMs, unit: 'ms', target: { max: 200 } },
    { name: 'soak: server RSS after warm-up (2nd quarter mean)', value: r.rssWarmMiB, unit: 'MiB' },
    { name: 'soak: server RSS at the end (last quarter mean)', value: r.rssEndMiB, unit: 'MiB' },
    { name: 'soak: RSS growth after warm-up', value: r.rssGrowth, unit: 'ratio', target: { max: 0.1 } },
    { name: 'soak: calls made', value: r.calls, unit: 'calls' },
    { name: 'soak: /healthz answers', value: r.healthz.answers, unit: 'answers' },
  ];
  process.stdout.write(formatTable(rows) + '\n');
  process.stdout.write(`RSS samples (MiB, every ${RSS_EVERY_MS / 1000} s): ${r.rssMiB.join(' ')}\n`);
  process.stdout.write(`load average (1 min) at start and end: ${r.loadavg.join(', ')}\n`);
  process.stdout.write(`by method (calls, slowest ms, slow /healthz answers overlapped; most overlap per call first):\n`);
  for (const [m, f] of Object.entries(r.methods)) process.stdout.write(`  ${m.padEnd(20)} ${String(f.calls).padStart(7)} ${String(f.slowestMs).padStart(7)} ${String(f.slowHealthz).padStart(6)}\n`);
  process.stdout.write(JSON.stringify(r) + '\n');
}
