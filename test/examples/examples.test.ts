/**
 * Every example runs as a child process, as a reader would run it, and must exit 0
 * by itself and print its key lines: examples are part of the suite so they cannot
 * rot (STYLE.md 11).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { examplePath } from '../../examples/lib/emulator.js';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { runExample, runNode, tableAfter, type RunResult } from './run-example.js';

function expectOk(r: RunResult): void {
  expect(r.stderr.replace(/npm warn[^\n]*\n?/g, '')).toBe('');
  expect(r.code).toBe(0);
}
const num = (s: string | undefined) => Number((s ?? '').replace(/,/g, ''));

describe('examples (each with its own in-process server)', () => {
  it('smash-under-dma: a row per phase, held requests during the stall, no fault, the stall and fw events', async () => {
    const r = await runExample('smash-under-dma');
    expectOk(r);
    const rows = tableAfter(r.stdout, 'p99.9 (ns)');
    expect(rows.map((row) => row[0])).toEqual(['before', 'during', 'after']);
    for (const row of rows) expect(num(row[4])).toBe(0); // rmpFaults
    const during = rows[1]!;
    expect(num(during[3])).toBeGreaterThan(1000); // held
    expect(num(during[10])).toBeGreaterThan(1_500_000); // max latency ~ the stall, ns
    expect(r.stdout).toMatch(/event {2}stall begin at 10000000 ns/);
    expect(r.stdout).toMatch(/event {2}stall end {3}at \d+ ns/);
    expect(r.stdout).toMatch(/event {2}fw {4}fw\.smashIopde at \d+ ns -> SUCCESS/);
    expect(r.stdout).toContain('emu.audit: clean');
  });

  it('race-window: a row per window; manual faults grow with W, the engine column is all 0', async () => {
    const r = await runExample('race-window');
    expectOk(r);
    const rows = tableAfter(r.stdout, 'engine rmpFaults');
    expect(rows.map((row) => row[0])).toEqual(['10.0', '50.0', '100.0', '200.0', '500.0', '1,000.0']);
    const manual = rows.map((row) => num(row[2]));
    expect(manual.every((n, i) => n > 0 && (i === 0 || n > manual[i - 1]!))).toBe(true);
    for (const row of rows) {
      expect(num(row[3])).toBe(num(row[2])); // one RMP_PAGE_FAULT event per faulted request
      expect(row[4]).toBe('0x20'); // size mismatch
      expect(num(row[5])).toBe(0); // engine rmpFaults
      expect(num(row[6])).toBe(0); // engine events
    }
  });

  it('guest-shares-pages: #NPF with SIZEM, the smash, rescinds and RMPUPDATEs succeed, 0 faults on private pages, audit clean', async () => {
    const r = await runExample('guest-shares-pages');
    expectOk(r);
    expect(r.stdout).toContain('#NPF errorCode 0x880000000');
    expect(r.stdout).toMatch(/SUCCESS: rmpSmashed true, DMA stalled/);
    expect(r.stdout.match(/validate false} -> rc 0 SUCCESS/g)).toHaveLength(3);
    expect(r.stdout.match(/assigned false, 4K} -> rc 0 SUCCESS/g)).toHaveLength(3);
    const streams = tableAfter(r.stdout, 'ioPageFaults');
    expect(streams).toHaveLength(2);
    for (const row of streams) {
      expect(num(row[4])).toBe(0); // rmpFaults
      expect(num(row[5])).toBe(0); // ioPageFaults
      expect(num(row[1])).toBeGreaterThan(1000);
    }
    expect(r.stdout).toMatch(/dma\.issue \{GPA 0x211000, 64 B write\} -> rmp_fault/);
    expect(r.stdout).toContain('audit clean');
  });

  it('hotplug-mixed-rmp: the audit finds the two 4 KB regions under 2 MB leaves, the smashes fix them', async () => {
    const r = await runExample('hotplug-mixed-rmp');
    expectOk(r);
    const before = tableAfter(r.stdout, 'first bad SPA');
    expect(before.map((row) => [row[0], row[2]])).toEqual([
      ['leaf-size-mismatch', '0x800000'],
      ['leaf-size-mismatch', '0x1000000'],
    ]);
    const fixes = tableAfter(r.stdout, 'rmpSmashed');
    expect(fixes.map((row) => [row[0], row[3], row[4]])).toEqual([
      ['0x800000', 'SUCCESS', 'false'],
      ['0x1000000', 'SUCCESS', 'false'],
    ]);
    expect(r.stdout).toContain('audit clean (0 violations)');
    expect(r.stdout).toMatch(/dma\.issue GPA 0x801000 -> ok/);
  });

  it('raw-client.mjs: spawns smash-emu serve, a batch answered by an array, an error, a notification', async () => {
    const r = await runNode(['examples/raw-client.mjs']);
    expectOk(r);
    expect(r.stdout).toMatch(/spawned smash-emu serve --port 0: ws:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).toContain('<- an array of 3 answers, in request order:');
    expect(r.stdout).toContain('"code":-32601');
    expect(r.stdout).toContain('"code":-32602');
    expect(r.stdout).toMatch(/<- notification \{"jsonrpc":"2.0","method":"events.notify","params":\{"subscriptionId":"[^"]+","topic":"rmp"/);
  });
});

describe('examples against a running server (SMASH_EMU_URL)', () => {
  it('pick their own named platform unless SMASH_EMU_PLATFORM says otherwise', () => {
    expect(examplePath({}, '/x/examples/race-window.ts')).toBe('/platforms/example-race-window');
    expect(examplePath({ SMASH_EMU_PLATFORM: 'mine' }, 'race-window.ts')).toBe('/platforms/mine');
    expect(examplePath({ SMASH_EMU_PLATFORM: '/platforms/mine' }, 'race-window.ts')).toBe('/platforms/mine');
    expect(examplePath({ SMASH_EMU_PLATFORM: '/' }, 'race-window.ts')).toBe('/');
  });

  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ server: { host: '127.0.0.1', port: 0, pingMs: 0 }, scenario: DEFAULT_SCENARIO });
  });
  afterAll(async () => {
    await app.close();
  });

  it('race-window starts from emu.reset with its scenario on its own platform: two runs print the same table, "/" is untouched', async () => {
    const home = app.platforms().get('')!;
    await home.clockAdvance(1234);
    const before = JSON.stringify(home.dumpState());
    const env = { SMASH_EMU_URL: app.url };
    const first = await runExample('race-window', env);
    const second = await runExample('race-window', env);
    expectOk(first);
    expectOk(second);
    expect(first.stdout).toContain(`${app.url}/platforms/example-race-window`);
    expect(app.platforms().has('example-race-window')).toBe(true);
    expect(JSON.stringify(home.dumpState())).toBe(before);
    expect(tableAfter(second.stdout, 'engine rmpFaults')).toEqual(tableAfter(first.stdout, 'engine rmpFaults'));
    expect(tableAfter(first.stdout, 'engine rmpFaults')).toHaveLength(6);
  });

  it('raw-client.mjs connects to it instead of spawning a server', async () => {
    const r = await runNode(['examples/raw-client.mjs'], { SMASH_EMU_URL: app.url });
    expectOk(r);
    expect(r.stdout).toContain(`server at ${app.url}/platforms/example-raw-client`);
    expect(app.platforms().has('example-raw-client')).toBe(true);
    expect(r.stdout).toContain('"result":{"rc":0,"rcName":"SUCCESS"}');
  });
});
