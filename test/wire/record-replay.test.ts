/**
 * Socket tests: recording a session (serve --record, emu.record) and replaying it
 * (smash-emu replay): a recorded session replays identical, in process and against
 * another running server; a changed stall model is caught as the first differing
 * result; emu.record writes only inside the server's --record-dir.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readRecording, replay } from '../../src/cli/replay.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { launchNode, listeningUrl } from '../helpers/processes.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-record-'));
const apps: AppUnderTest[] = [];
const running = new Set<ChildProcessWithoutNullStreams>();
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function app(opts: Parameters<typeof startTestApp>[0] = {}): Promise<AppUnderTest> {
  const a = await startTestApp(opts);
  apps.push(a);
  return a;
}

/** A harness's session: a stream, a smash under it, stats, a snapshot and revert, a refused call, a named platform. */
async function session(t: AppUnderTest): Promise<void> {
  const c = t.client;
  const { streamId } = await c.call('dma.startStream', { deviceId: 0x100, iovaBase: '0x200000', length: '0x200000', ratePerSec: 1e6, accessBytes: 64, writeRatio: 0.5, arrival: 'poisson' });
  await c.call('clock.advance', { ns: 500_000 });
  const plan = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  const smash = await c.call('tmpm.psmashIo', { srcPgSpa: plan.srcPgSpa, smashHpteSpa: plan.smashHpteSpa, srcHpmdSpa: plan.srcHpmdSpa, gctxSpa: plan.gctxSpa });
  expect(smash.status).toBe(0xf0);
  const { snapshotId } = await c.call('emu.snapshot');
  await c.call('clock.advance', { ns: 300_000 });
  await c.call('dma.stats', { streamId });
  await c.call('emu.revert', { snapshotId });
  await c.call('emu.revert', { snapshotId });
  await expect(c.call('mem.read64', { spa: '0x1001', count: 1 } as never)).rejects.toMatchObject({ code: -32602 });
  const other = await t.connect('/platforms/other');
  await other.call('mem.alloc', { pages: 2 });
  await other.call('dma.issue', { deviceId: 0x200, iova: '0x1000', bytes: 64, write: true });
  await c.call('dma.stats', { streamId });
}

/** Runs `session` on a server recording to `file`, and stops it (the file is then complete). */
async function recordSession(file: string): Promise<void> {
  const t = await app({ record: file });
  await session(t);
  await t.stop();
  apps.splice(apps.indexOf(t), 1);
}

function lines(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('serve --record and smash-emu replay', () => {
  it("records a header, each platform's state before its first call, and every call with its result and virtual time", async () => {
    const file = join(dir, 'session.jsonl');
    await recordSession(file);
    const rec = lines(file);
    expect(rec[0]).toMatchObject({ type: 'header', format: 'smash-emu-record', version: 1 });
    expect(rec.filter((l) => l.type === 'platform').map((l) => l.platform)).toEqual(['', 'other']);
    const calls = rec.filter((l) => l.type === 'call');
    expect(calls.map((l) => l.method)).toEqual([
      'dma.startStream',
      'clock.advance',
      'tmpm.preparePsmash',
      'tmpm.psmashIo',
      'emu.snapshot',
      'clock.advance',
      'dma.stats',
      'emu.revert',
      'emu.revert',
      'mem.read64',
      'mem.alloc',
      'dma.issue',
      'dma.stats',
    ]);
    const smash = calls[3]!;
    expect(smash).toMatchObject({ platform: '', atNs: 500_000, result: { status: 0xf0, statusName: 'SUCCESS' } });
    expect(smash.endNs).toBe(500_000 + (smash.result as { stallNs: number }).stallNs);
    expect(calls[9]).toMatchObject({ method: 'mem.read64', error: { code: -32602 } });
    expect(calls[10]).toMatchObject({ platform: 'other', method: 'mem.alloc', result: { spa: expect.stringMatching(/^0x/) } });
    // The platform line comes before the platform's first call.
    expect(rec.findIndex((l) => l.platform === 'other' && l.type === 'platform')).toBeLessThan(rec.findIndex((l) => l.platform === 'other' && l.type === 'call'));
  });

  it('a recorded session replays identical, in process and against another running server', async () => {
    const file = join(dir, 'identical.jsonl');
    await recordSession(file);
    const steps = readRecording(readFileSync(file, 'utf8'));
    expect(await replay(steps, undefined, undefined)).toEqual({ calls: 13, platforms: 2, difference: null });
    const target = await app();
    await target.client.call('clock.advance', { ns: 12345 }); // whatever state it had is replaced
    expect(await replay(steps, target.app.url, undefined)).toEqual({ calls: 13, platforms: 2, difference: null });
  });

  it('a changed stall model is the first difference: the smash, with the stall it ran and the requests it held', async () => {
    const file = join(dir, 'stall.jsonl');
    await recordSession(file);
    const changed = lines(file).map((l) => {
      if (l.type !== 'platform' || l.platform !== '') return l;
      const state = structuredClone(l.state) as { tmpm: { stallModel: { baseNs: number } } };
      state.tmpm.stallModel.baseNs = 3_000_000;
      return { ...l, state };
    });
    const changedFile = join(dir, 'stall-changed.jsonl');
    writeFileSync(changedFile, changed.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const report = await replay(readRecording(readFileSync(changedFile, 'utf8')), undefined, undefined);
    expect(report.calls).toBe(4);
    expect(report.difference).toMatchObject({ line: 6, platform: '', method: 'tmpm.psmashIo', params: { srcPgSpa: '0x100200000' } });
    const expected = (report.difference!.expected as { result: { stallNs: number; dmaHeld: number } }).result;
    const actual = (report.difference!.actual as { result: { stallNs: number; dmaHeld: number } }).result;
    expect(actual.stallNs - expected.stallNs).toBe(1_000_000);
    expect(actual.dmaHeld).toBeGreaterThan(expected.dmaHeld);
  });

  it('smash-emu replay: exit 0 and "identical", exit 1 with the difference, exit 2 for a file that is not a recording', async () => {
    const file = join(dir, 'cli.jsonl');
    await recordSession(file);
    const ok = launchNode(['bin/smash-emu.mjs', 'replay', file], running);
    expect(await ok.exited).toBe(0);
    expect(ok.stdout()).toBe(`replayed 13 calls on 2 platforms from ${file}: identical\n`);

    const text = readFileSync(file, 'utf8').replace('"ns":300000', '"ns":300001');
    const changed = join(dir, 'cli-changed.jsonl');
    writeFileSync(changed, text);
    const bad = launchNode(['bin/smash-emu.mjs', 'replay', changed], running);
    expect(await bad.exited).toBe(1);
    const m =
      /^first difference: .*cli-changed\.jsonl line 8, call 6, platform \/\n {2}method: {3}clock\.advance\n {2}params: {3}\{"ns":300001\}\n {2}expected: \{"result":\{"nowNs":(\d+)\}\}\n {2}actual: {3}\{"result":\{"nowNs":(\d+)\}\}\n$/.exec(
        bad.stdout(),
      );
    expect(m, bad.stdout()).not.toBeNull();
    expect(Number(m![2]) - Number(m![1])).toBe(1);

    const notRecording = join(dir, 'not.jsonl');
    writeFileSync(notRecording, '{"hello": 1}\n');
    const wrong = launchNode(['bin/smash-emu.mjs', 'replay', notRecording], running);
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr()).toContain('line 1: not a recording line');
  });
});

describe('the smash-emu command', () => {
  it('serve --record FILE records a session through the real process; SIGTERM flushes it; replay finds it identical', async () => {
    const file = join(dir, 'process.jsonl');
    const server = launchNode(['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--record', file], running);
    const url = await listeningUrl(server);
    const { SmashEmuClient } = await import('../../src/client/smash-emu-client.js');
    const c = await SmashEmuClient.connect(url);
    await c.call('dma.startStream', { deviceId: 0x100, iovaBase: '0x200000', length: '0x200000', ratePerSec: 1e6, accessBytes: 64, writeRatio: 0.5 });
    const plan = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
    await c.call('tmpm.psmashIo', { srcPgSpa: plan.srcPgSpa, smashHpteSpa: plan.smashHpteSpa, srcHpmdSpa: plan.srcHpmdSpa, gctxSpa: plan.gctxSpa });
    await c.call('dma.stats');
    await c.close();
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const r = launchNode(['bin/smash-emu.mjs', 'replay', file], running);
    expect(await r.exited).toBe(0);
    expect(r.stdout()).toBe(`replayed 4 calls on 1 platform from ${file}: identical\n`);
  });
});

describe('emu.record', () => {
  it('records this platform into a bare file name inside --record-dir, from its current state, until file null', async () => {
    const recordDir = mkdtempSync(join(dir, 'records-'));
    const t = await app({ recordDir });
    const c = t.client;
    await c.call('clock.advance', { ns: 1000 }); // before the recording: in its state, not its calls
    expect(await c.call('emu.record', { file: 'one.jsonl' })).toEqual({ recording: true, file: 'one.jsonl', calls: 0 });
    await c.call('mem.alloc', { pages: 1 });
    await c.call('clock.advance', { ns: 2000 });
    await (await t.connect('/platforms/elsewhere')).call('clock.now'); // another platform: not in this recording
    expect(await c.call('emu.record', { file: null })).toEqual({ recording: false, file: null, calls: 2 });
    await c.call('clock.advance', { ns: 3000 }); // after: not recorded
    const rec = lines(join(recordDir, 'one.jsonl'));
    expect(rec.map((l) => l.type)).toEqual(['header', 'platform', 'call', 'call']);
    expect(rec[1]).toMatchObject({ platform: '', atNs: 1000 });
    expect(rec[3]).toMatchObject({ method: 'clock.advance', result: { nowNs: 3000 } });
    expect(await replay(readRecording(readFileSync(join(recordDir, 'one.jsonl'), 'utf8')), undefined, undefined)).toEqual({ calls: 2, platforms: 1, difference: null });
  });

  it('refuses a path, "..", and anything but a bare name, writing nothing', async () => {
    const recordDir = mkdtempSync(join(dir, 'records-'));
    const t = await app({ recordDir });
    for (const file of ['../escape.jsonl', 'a/b.jsonl', '/tmp/x.jsonl', '..', '', 'x'.repeat(65)]) {
      await expect(t.client.call('emu.record', { file })).rejects.toMatchObject({ code: -32602, data: { issues: [expect.objectContaining({ path: ['file'] })] } });
    }
    expect(readdirSync(recordDir)).toEqual([]);
    expect(existsSync(join(dir, 'escape.jsonl'))).toBe(false);
  });
});

/** Descriptors this process holds open on files inside `d`. */
function openFilesIn(d: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(d + '/')) out.push(target);
    } catch {
      // Closed meanwhile (readdir's own descriptor).
    }
  }
  return out;
}

describe('deleted platforms and their recordings', () => {
  it('deleting a platform closes its emu.record file: no descriptor is left behind', async () => {
    const recordDir = mkdtempSync(join(dir, 'records-'));
    const t = await app({ recordDir });
    for (let i = 0; i < 5; i++) {
      const c = await t.connect(`/platforms/rec${i}`);
      await c.call('emu.record', { file: `rec${i}.jsonl` });
      await c.call('clock.advance', { ns: 1000 });
      // The recorder opens its file asynchronously: let the event loop turn until it has.
      for (let turns = 0; turns < 10_000 && openFilesIn(recordDir).length === 0; turns++) await new Promise((r) => setImmediate(r));
      expect(openFilesIn(recordDir), `platform rec${i}`).toHaveLength(1);
      await t.client.call('emu.deletePlatform', { name: `rec${i}` });
      expect(openFilesIn(recordDir)).toEqual([]);
    }
    // Each file is complete: its header, state, call, and the deletion.
    expect(lines(join(recordDir, 'rec4.jsonl')).map((l) => l.type)).toEqual(['header', 'platform', 'call', 'delete']);
  });

  it('a platform deleted and re-created under the same name gets a new state line: the replay is identical', async () => {
    const file = join(dir, 'recreated.jsonl');
    const t = await app({ record: file });
    const x = await t.connect('/platforms/x');
    await x.call('clock.advance', { ns: 5000 });
    await x.call('mem.alloc', { pages: 3 });
    await t.client.call('emu.deletePlatform', { name: 'x' });
    const again = await t.connect('/platforms/x');
    expect((await again.call('clock.now')).nowNs).toBe(0);
    await again.call('mem.alloc', { pages: 1 });
    await t.stop();
    apps.splice(apps.indexOf(t), 1);
    const rec = lines(file);
    expect(rec.filter((l) => l.type !== 'call').map((l) => [l.type, l.platform])).toEqual([
      ['header', undefined],
      ['platform', ''],
      ['platform', 'x'],
      ['delete', 'x'],
      ['platform', 'x'],
    ]);
    expect(await replay(readRecording(readFileSync(file, 'utf8')), undefined, undefined)).toEqual({ calls: 5, platforms: 2, difference: null });
  });
});

describe('smash-emu replay of long sessions and scenarios', () => {
  it('a session that used 66 platforms one after another (deleted by emu.deletePlatform and HTTP DELETE) replays identical', async () => {
    const file = join(dir, 'many.jsonl');
    const t = await app({ record: file });
    for (let i = 0; i < 66; i++) {
      const c = await t.connect(`/platforms/p${i}`);
      await c.call('clock.advance', { ns: 1000 + i });
      await c.close();
      if (i % 2 === 0) await t.client.call('emu.deletePlatform', { name: `p${i}` });
      else expect((await fetch(`${t.app.url.replace(/^ws/, 'http')}/platforms/p${i}`, { method: 'DELETE' })).status).toBe(200);
    }
    await t.stop();
    apps.splice(apps.indexOf(t), 1);
    expect(lines(file).filter((l) => l.type === 'delete')).toHaveLength(66);
    expect(await replay(readRecording(readFileSync(file, 'utf8')), undefined, undefined)).toEqual({ calls: 99, platforms: 67, difference: null });
  });

  it('a server run with its own scenario: the header names it and the replay builds from it (a plain emu.reset included)', async () => {
    const file = join(dir, 'scenario.jsonl');
    const custom = { ...DEFAULT_SCENARIO, name: 'custom', seed: 7, memoryBytes: 32 * 2 ** 30 };
    const t = await app({ record: file, scenario: custom });
    await t.client.call('clock.advance', { ns: 1000 });
    expect(await t.client.call('emu.reset')).toMatchObject({ scenario: 'custom' });
    await t.client.call('emu.info');
    const plan = await t.client.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
    await t.client.call('tmpm.psmashIo', { srcPgSpa: plan.srcPgSpa, smashHpteSpa: plan.smashHpteSpa, srcHpmdSpa: plan.srcHpmdSpa, gctxSpa: plan.gctxSpa });
    await t.stop();
    apps.splice(apps.indexOf(t), 1);
    expect(lines(file)[0]).toMatchObject({ type: 'header', scenario: { name: 'custom', seed: 7, memoryBytes: '0x800000000' } });
    expect(await replay(readRecording(readFileSync(file, 'utf8')), undefined, undefined)).toEqual({ calls: 5, platforms: 1, difference: null });
  });
});
