/**
 * A stall over a fixed-rate stream (issues 10 and 24): a smash over RPC while a
 * stream (1e9/s in the full run, against 1e6/s) runs on the smashed region, in a
 * server child (`node --expose-gc`, the real app). run.ts compares the wall time of
 * the same stall at the two rates: held fixed-rate requests are kept as runs, so
 * the cost should not grow with the rate.
 * Figures: the child's extra heap while the stall runs (peak heapUsed sampled every
 * millisecond, minus heapUsed after GC before it), the wall time of the smash call,
 * and the slowest /healthz answer among those polled back to back during it.
 */
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { startApp } from '../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../src/platform/scenario.js';
import { SmashEmuClient } from '../src/client/smash-emu-client.js';
import { SMASH } from './smash.js';
import { MiB, isMain, nowMs, spawnBench } from './util.js';

export interface StallResult {
  extraHeapMiB: number;
  smashWallMs: number;
  healthzMaxMs: number;
  healthzAnswers: number;
  dmaHeld: number;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) for (let i = 0; i < 3; i++) g();
}

/** The child: the app, and a heap sampler driven by stdin lines `mark` / `stop`. */
async function child(): Promise<void> {
  const app = await startApp({ scenario: DEFAULT_SCENARIO, server: { host: '127.0.0.1', port: 0, pingMs: 0 } });
  process.stdout.write(JSON.stringify({ url: app.url }) + '\n');
  let baseline = 0;
  let peak = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'mark') {
      gc();
      baseline = process.memoryUsage().heapUsed;
      peak = baseline;
      timer = setInterval(sample, 1);
      process.stdout.write(JSON.stringify({ marked: true }) + '\n');
    } else if (line === 'stop') {
      sample();
      if (timer !== undefined) clearInterval(timer);
      process.stdout.write(JSON.stringify({ extraHeapMiB: (peak - baseline) / MiB }) + '\n');
    }
  }
  await app.close(1000);
  process.exit(0);
}

/** JSON lines of a child's stdout, one at a time. */
function jsonLines(c: ChildProcess): () => Promise<Record<string, unknown>> {
  const queue: Record<string, unknown>[] = [];
  const waiting: ((v: Record<string, unknown>) => void)[] = [];
  createInterface({ input: c.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const v = JSON.parse(line) as Record<string, unknown>;
    const w = waiting.shift();
    if (w) w(v);
    else queue.push(v);
  });
  return () =>
    new Promise((resolve) => {
      const v = queue.shift();
      if (v) resolve(v);
      else waiting.push(resolve);
    });
}

/**
 * GET /healthz. A kept-alive socket the server closed meanwhile can fail one fetch
 * with ECONNRESET (seen on a loaded machine): it is retried once, within the same
 * timing, so the figure still counts the time until an answer came.
 */
async function getHealthz(url: string): Promise<void> {
  try {
    await (await fetch(url)).arrayBuffer();
  } catch {
    await (await fetch(url)).arrayBuffer();
  }
}

export async function stall(ratePerSec = 1e9, stallNs = 2_000_000): Promise<StallResult> {
  const c = spawnBench('./stall.ts', ['child'], ['--expose-gc']);
  const next = jsonLines(c);
  try {
    const { url } = (await next()) as { url: string };
    // A 20 ms stall at 1e9 req/s has taken 4 s of wall time idle and over 10 s (the
    // client's default timeout) on a loaded machine: the figure is the time, not a failure.
    const client = await SmashEmuClient.connect(url, { timeoutMs: 600_000 });
    const healthz = url.replace(/^ws:/, 'http:').replace(/\/$/, '') + '/healthz';
    try {
      const a = await SMASH.rpc.prepare(client, 1, 0x20_0000n);
      await SMASH.rpc.stallModel(client, { baseNs: stallNs, jitter: { dist: 'none', spreadNs: 0 } });
      await client.call('dma.startStream', { deviceId: 0x0100, iovaBase: '0x200000', length: '0x10000', ratePerSec, accessBytes: 64, writeRatio: 0.5 });
      await client.call('clock.advance', { ns: 1_000_000 });
      await fetch(healthz);
      c.stdin?.write('mark\n');
      await next();
      let done = false;
      let healthzMaxMs = 0;
      let healthzAnswers = 0;
      const poll = (async () => {
        while (!done) {
          const t0 = nowMs();
          await getHealthz(healthz);
          healthzMaxMs = Math.max(healthzMaxMs, nowMs() - t0);
          healthzAnswers++;
        }
      })();
      const t0 = nowMs();
      let r: { dmaHeld: number };
      let smashWallMs: number;
      try {
        r = await SMASH.rpc.smash(client, a);
        smashWallMs = nowMs() - t0;
      } finally {
        done = true;
        await poll;
      }
      c.stdin?.write('stop\n');
      const { extraHeapMiB } = (await next()) as { extraHeapMiB: number };
      return { extraHeapMiB, smashWallMs, healthzMaxMs, healthzAnswers, dmaHeld: r.dmaHeld };
    } finally {
      await client.close();
    }
  } finally {
    c.stdin?.end();
    await new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)));
  }
}

if (isMain(import.meta.url)) {
  if (process.argv[2] === 'child') void child();
  else process.stdout.write(JSON.stringify(await stall()) + '\n');
}
