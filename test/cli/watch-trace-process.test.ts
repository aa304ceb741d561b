/**
 * Socket tests: `smash-emu watch` and `smash-emu trace` as child processes against
 * a real server (in process on 127.0.0.1:0): watch prints one decoded line per
 * event and stops on Ctrl-C (SIGINT) with exit 0; trace records until SIGINT and
 * writes a Perfetto trace file.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { launchNode, type Proc } from '../helpers/processes.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { ENGINE_SLICE_NAME, engineWatchLine, smashAgainOverWire, smashOverWire } from '../helpers/engine-command.js';
import { ms } from '../../src/cli/watch-format.js';

const running = new Set<ChildProcessWithoutNullStreams>();
const dir = mkdtempSync(join(tmpdir(), 'smash-emu-watch-'));
let t: AppUnderTest;

beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
  await t.stop();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Proc {
  return launchNode(['--import', 'tsx', 'src/cli/main.ts', ...args], running);
}

/** Resolves when `text()` matches, or rejects when the process exits first. */
function until(p: Proc, text: () => string, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (re.test(text())) resolve();
    };
    p.proc.stdout.on('data', check);
    p.proc.stderr.on('data', check);
    check();
    void p.exited.then((code) => reject(new Error(`exited with ${code} before ${re}: ${p.stderr()}`)));
  });
}

describe('smash-emu watch', () => {
  it('prints one line per event with decoded statuses and stall durations, and stops on Ctrl-C', async () => {
    const w = cli(['watch', '--url', t.app.url, '--topics', 'fw,tmpm,stall,dma,iommu']);
    await until(w, w.stderr, /watching fw, tmpm, stall, dma, iommu/);
    const call = t.call;
    const r = await smashOverWire(t.client);
    const refused = await smashAgainOverWire(t.client);
    await call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: true });
    await until(w, w.stdout, /io_page_fault/);
    w.proc.kill('SIGINT');
    expect(await w.exited).toBe(0);
    const lines = w.stdout().trimEnd().split('\n');
    const stallMs = ms(r.stallNs!);
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^\\[${ms(r.startNs!).padStart(16)}\\] stall  begin: DMA of domain 1 stalled by \\S+ \\(policy hold\\) for ${stallMs}`)),
      expect.stringMatching(new RegExp(`^\\[${ms(r.endNs!).padStart(16)}\\] stall  end:   DMA of domain 1 resumes after ${stallMs}`)),
      expect.stringMatching(engineWatchLine(r)),
      expect.stringMatching(engineWatchLine(refused)),
      expect.stringMatching(/iommu  event log #1 IO_PAGE_FAULT \(0x02\) device 02:00\.0 domain 2 address 0x8000000 write$/),
      expect.stringMatching(/dma    io_page_fault device 02:00\.0 iova 0x8000000 write, \d+ ns$/),
    ]);
  });

  it('refuses an unknown topic with exit 2 and a message naming the topics', async () => {
    const w = cli(['watch', '--url', t.app.url, '--topics', 'fw,nope']);
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toContain('unknown topic "nope"; topics: fw, tmpm, stall, iommu, rmp, dma');
  });
});

describe('smash-emu trace', () => {
  it('records until Ctrl-C and writes a trace the viewers open', async () => {
    const file = join(dir, 'run.trace.json');
    const p = cli(['trace', '--url', t.app.url, '--out', file, '--bin-ns', '100000']);
    await until(p, p.stderr, /recording/);
    const call = t.call;
    await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x200000', ratePerSec: 500_000, accessBytes: 64, writeRatio: 0.5 });
    await call('clock.advance', { ns: 500_000 });
    const r = await smashOverWire(t.client, 1, '0x400000');
    p.proc.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.stderr()).toMatch(/wrote .*run\.trace\.json: \d+ events; open it in https:\/\/ui\.perfetto\.dev/);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    const slice = doc.traceEvents.find((e: any) => e.ph === 'X' && e.pid === 1 && e.tid === 1);
    expect(slice).toMatchObject({ name: ENGINE_SLICE_NAME, ts: r.startNs! / 1000, dur: (r.endNs! - r.startNs!) / 1000, args: { statusName: 'SUCCESS' } });
    expect(doc.otherData.counterBinNs).toBe(100_000);
    // --export yes writes the trace the server holds, without starting another.
    const again = join(dir, 'again.trace.json');
    const e = cli(['trace', '--url', t.app.url, '--out', again, '--export', 'yes']);
    expect(await e.exited).toBe(0);
    expect(JSON.parse(readFileSync(again, 'utf8')).traceEvents).toEqual(doc.traceEvents);
  });

  it('says what the server refused, with exit 1', async () => {
    const p = cli(['trace', '--url', t.app.url, '--out', join(dir, 'x.json'), '--bin-ns', '15000']);
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toContain('trace.start: error -32602');
    expect(p.stderr()).toContain('binNs must be a positive multiple of 10000 ns');
  });

  it('needs --out', async () => {
    const p = cli(['trace', '--url', t.app.url]);
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toContain('trace needs --out FILE');
  });
});
