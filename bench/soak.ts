/**
 * The soak (`npm run bench:soak [-- --minutes N]`, default 10): the real server in a
 * child process (bench/servers.ts), several platforms driven at once with mixed calls
 * (DMA streams and clock.advance, smash and unsmash, dma.stats, snapshots and
 * reverts, emu.dumpState, trace.start / trace.export, mem.alloc / mem.free,
 * journal.count, iommu.walk, dma.issue), while /healthz is polled back to back.
 * Prints /healthz p50, p99 and max, the server's RSS sampled every 5 s with its
 * trend after warm-up (the first fifth of the run), the calls made, and one JSON
 * line. Targets: /healthz p99 <= 50 ms, max <= 200 ms, RSS flat after warm-up
 * (the last quarter's mean within 10% of the second quarter's).
 */
import { readFileSync } from 'node:fs';
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

/** SOAK_TRACE set: the slowest wall time of each method, printed at the end (which call holds the server). */
const slowest = new Map<string, number>();

/** One platform's mixed calls until `until` (wall ms): returns the calls made. */
async function drive(url: string, until: number): Promise<number> {
  const c = await SmashEmuClient.connect(url, { timeoutMs: 120_000 });
  const call: Call = (m, p) => (c.call as unknown as Call).call(c, m, p);
  let calls = 0;
  const n = async (m: string, p?: unknown) => {
    calls++;
    if (process.env['SOAK_TRACE'] === undefined) return call(m, p);
    const t0 = nowMs();
    const r = await call(m, p);
    const ms = nowMs() - t0;
    slowest.set(m, Math.max(slowest.get(m) ?? 0, ms));
    return r;
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
    let done = false;
    const poll = (async () => {
      while (!done) {
        const t0 = nowMs();
        const res = await fetch(healthz);
        await res.arrayBuffer();
        latencies.push(nowMs() - t0);
      }
    })();
    const sampler = setInterval(() => rss.push(rssMiB(pid)), RSS_EVERY_MS);
    const drivers = Array.from({ length: PLATFORMS }, (_, i) => drive(`${base}/platforms/soak${i}`, until));
    const calls = (await Promise.all(drivers)).reduce((a, b) => a + b, 0);
    done = true;
    clearInterval(sampler);
    await poll;
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
  if (slowest.size > 0) process.stderr.write(`slowest call of each method (ms): ${JSON.stringify(Object.fromEntries([...slowest].map(([k, v]) => [k, Math.round(v)])))}\n`);
  process.stdout.write(JSON.stringify(r) + '\n');
}
