/**
 * Faults (issue 6 item 4):
 * - a client that disconnects in the middle of a realtime-mode smash: the server
 *   stays up, the smash completes, a new client sees the IOPDE swapped and the
 *   audit clean;
 * - SIGTERM while a stream runs (`node bin/smash-emu.mjs serve --state FILE`): exit
 *   0, the state saved, and after a restart the stream is still there and goes on
 *   (test/cli covers SIGTERM and restore without streams, and two corrupt files);
 * - hostile --state files (wrong versions, truncated, counts in the billions,
 *   negative sizes): exit 1 with a clear message, the file byte-identical.
 * Every server, socket and child process is closed or killed after each test.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { openSocket } from '../helpers/fuzz.js';
import { launchNode, type Proc, listeningUrl } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-reliability-'));
const apps: RunningApp[] = [];
const clients: SmashEmuClient[] = [];
const sockets: WebSocket[] = [];
const children = new Set<ChildProcessWithoutNullStreams>();

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(apps.splice(0).map((a) => a.close()));
  // bin/smash-emu.mjs runs the server as its own child: kill the whole process group.
  for (const child of children) killGroup(child);
  children.clear();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function connect(url: string): Promise<SmashEmuClient> {
  const c = await SmashEmuClient.connect(url, { timeoutMs: 20_000 });
  clients.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a client gone in the middle of a realtime smash', () => {
  it('the smash completes; a new client sees the IOPDE swapped, the RMP split and a clean audit', async () => {
    const app = await startApp({ scenario: DEFAULT_SCENARIO, server: { host: '127.0.0.1', port: 0, pingMs: 0 } });
    apps.push(app);
    const a = await connect(app.url);
    await a.call('tmpm.setStallModel', { baseNs: 20_000_000, jitter: { dist: 'none' } });
    const { srcPgSpa, smashHpteSpa: tableSpa, srcHpmdSpa, gctxSpa } = await a.call('tmpm.preparePsmash', { domainId: 1, iova: '0x400000' });
    const { streamId } = await a.call('dma.startStream', { deviceId: 0x100, iovaBase: '0x400000', length: '0x200000', ratePerSec: 100_000, accessBytes: 64, writeRatio: 0.5 });
    await a.call('clock.setMode', { mode: 'realtime' });

    // A raw socket sends the smash and is cut off at once, before any answer.
    const raw = await openSocket(app.url);
    raw.send(JSON.stringify({ jsonrpc: '2.0', method: 'tmpm.psmashIo', params: { srcPgSpa, smashHpteSpa: tableSpa, srcHpmdSpa, gctxSpa }, id: 1 }));
    await sleep(5);
    raw.terminate();

    // The server is still serving while the firmware stall runs.
    expect((await a.call('clock.now')).mode).toBe('realtime');
    const b = await connect(app.url);
    // The smash finishes on its own (in real time, its client gone): wait for its level-2 entry.
    const level2 = async () => (await b.call('iommu.walk', { deviceId: 0x100, iova: '0x401000' })).steps.find((s) => s.level === 2)!.value;
    await expect.poll(level2, { timeout: 30_000, interval: 10 }).toBe('0x' + (0x6000000000000201n | BigInt(tableSpa)).toString(16));
    const after = await b.call('iommu.walk', { deviceId: 0x100, iova: '0x401000' });
    expect(after).toMatchObject({ ok: true, sizeLg2: 12, spa: '0x100401000' });
    expect(await b.call('rmp.read', { spa: '0x100401000' })).toMatchObject({ pageSize: '4K', assigned: true, validated: true, gpa: '0x401000' });
    await b.call('clock.setMode', { mode: 'virtual' });
    expect((await b.call('emu.audit')).violations).toEqual([]);
    const s = await b.call('dma.stats', { streamId });
    expect(s.stalls).toHaveLength(1);
    expect(s.stalls[0]!.endNs - s.stalls[0]!.startNs).toBe(20_000_000);
    expect(s.rmpFaults).toBe(0);
    expect(s.ioPageFaults).toBe(0);
    expect(s.held).toBeGreaterThan(0);
  });
});

function killGroup(child: ChildProcessWithoutNullStreams): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Starts `node bin/smash-emu.mjs ARGS` in its own process group (the wrapper and the server it spawns). */
function launch(args: string[]): Proc {
  return launchNode(['bin/smash-emu.mjs', ...args], children, { detached: true });
}

async function serve(statePath: string): Promise<Proc & { url: string }> {
  const p = launch(['serve', '--port', '0', '--state', statePath]);
  const url = await listeningUrl(p);
  return { ...p, url };
}

describe('SIGTERM while a stream runs (node bin/smash-emu.mjs serve --state FILE)', () => {
  it('exits 0 with the state saved; after a restart the stream is in dma.stats and goes on', async () => {
    const statePath = join(dir, 'streams.json');
    const first = await serve(statePath);
    const c = await connect(first.url);
    const { streamId } = await c.call('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x100000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.25 });
    await c.call('clock.advance', { ns: 250_000 });
    const before = await c.call('dma.stats', { streamId });
    expect(before.issued).toBe(250);
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stderr()).toContain(`to ${statePath}`);
    const saved = JSON.parse(readFileSync(statePath, 'utf8')) as { platforms: Record<string, { clock: { nowNs: number } }> };
    expect(saved.platforms['']!.clock.nowNs).toBe(250_000);

    const second = await serve(statePath);
    const d = await connect(second.url);
    expect(await d.call('dma.stats', { streamId })).toEqual(before);
    await d.call('clock.advance', { ns: 100_000 });
    const later = await d.call('dma.stats', { streamId });
    expect(later.issued).toBe(350);
    expect(later.completed).toBe(later.issued - later.inFlight);
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});

describe('hostile --state files', () => {
  it('refuses each with exit code 1 and a message naming the problem, and leaves the file byte-identical', async () => {
    // A real saved file to corrupt.
    const goodPath = join(dir, 'good.json');
    const s = await serve(goodPath);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const good = readFileSync(goodPath, 'utf8');
    const doc = JSON.parse(good) as { platforms: Record<string, Record<string, any>> };
    const edit = (fn: (d: typeof doc) => void): string => {
      const d = structuredClone(doc);
      fn(d);
      return JSON.stringify(d);
    };
    const cases: Record<string, string> = {
      'saved-version-2': edit((d) => void ((d as Record<string, unknown>)['version'] = 2)),
      'state-version-1': edit((d) => void (d.platforms['']!['version'] = 1)),
      truncated: good.slice(0, Math.floor(good.length / 2)),
      'memory-2^60': edit((d) => void (d.platforms['']!['settings'].memoryBytes = 2 ** 60)),
      'page-beyond-memory': edit((d) => void d.platforms['']!['memory'].pages.push([1e9, [[0, '0x1']]])),
      'pool-negative': edit((d) => void (d.platforms['']!['pool'].allocated = [[-4096, -1]])),
      'bad-platform-name': edit((d) => void (d.platforms['../etc'] = d.platforms['']!)),
      empty: '',
    };
    // Run them two at a time: each is a process start.
    const entries = Object.entries(cases);
    for (let i = 0; i < entries.length; i += 2) {
      await Promise.all(
        entries.slice(i, i + 2).map(async ([name, text]) => {
          const path = join(dir, `${name}.json`);
          writeFileSync(path, text);
          const p = launch(['serve', '--port', '0', '--state', path]);
          const code = await p.exited;
          expect(code, `${name}: ${p.stderr()}`).toBe(1);
          expect(p.stdout(), name).toBe('');
          expect(p.stderr(), name).toMatch(new RegExp(`^smash-emu: --state ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+`));
          expect(readFileSync(path, 'utf8'), `${name}: the file changed`).toBe(text);
        }),
      );
    }
  });
});

describe('scenarios that pass validation but ask for an unbounded amount of work', () => {
  /**
   * emu.reset builds a scenario in one step on the server's thread, so a schema-valid
   * scenario of absurd size (here a 2 PiB guest in 4 KB RMP pages: 2^39 RMPUPDATEs)
   * must be refused up front (MAX_SCENARIO_OPERATIONS) rather than block every
   * platform and /healthz.
   */
  it('refuses a 2 PiB 4 KB-page guest at once, and the server keeps answering /healthz', async () => {
    const statePath = join(dir, 'unused.json');
    const s = await serve(statePath);
    const port = Number(/:(\d+)$/.exec(s.url)![1]);
    const ws = await openSocket(s.url);
    sockets.push(ws);
    const answer = new Promise<any>((resolve) => ws.once('message', (d: unknown) => resolve(JSON.parse(String(d)))));
    ws.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'emu.reset',
        params: { scenario: { memoryBytes: '0x10000000000000', guests: [{ asid: 1, ranges: [{ gpa: '0x0', spa: '0x0', length: '0x8000000000000', rmp: '4K', validated: true }] }] } },
      }),
    );
    const reply = await answer;
    expect(reply.error.code).toBe(-32602);
    expect(reply.error.message).toMatch(/limit/);
    await sleep(50);
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    killGroup(s.proc);
    expect(healthy).toBe(true);
  });
});
