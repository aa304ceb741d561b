/**
 * Every example runs as a child process, as a reader would run it, and must exit 0
 * by itself and print its key lines: examples are part of the suite so they cannot
 * rot.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
  it('smash-under-dma: a row per phase, held requests during the stall, no fault, the stall and tmpm events', async () => {
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
    expect(r.stdout).toMatch(/event {2}tmpm {2}PSMASH_IO at ring slot 0, \[10000000, \d+\) ns -> SUCCESS/);
    expect(r.stdout).toMatch(/- status 0xf0 SUCCESS \(ring slot 0, gctx word 0x[0-9a-f]+f0\): stall/);
    expect(r.stdout).toContain('emu.audit: clean');
  });

  it('trace-a-smash: writes a trace whose engine slice and counters agree with the emulator', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'smash-emu-example-')), 'smash.trace.json');
    const r = await runExample('trace-a-smash', { SMASH_EMU_TRACE_OUT: out });
    expectOk(r);
    expect(r.stdout).toContain(`wrote ${out}:`);
    const slices = tableAfter(r.stdout, 'length (ns)');
    expect(slices.map((row) => row[1]).sort()).toEqual(['PSMASH_IO', 'stall (domain 1)']);
    const own = /start (\d+) ns, stall (\d+) ns/.exec(r.stdout)!;
    for (const row of slices) {
      expect(num(row[2])).toBe(Number(own[1]));
      expect(num(row[3])).toBe(Number(own[2]));
    }
    const devices = tableAfter(r.stdout, 'faults (dma.stats)');
    expect(devices.map((row) => row[0])).toEqual(['0x0100', '0x0200']);
    for (const row of devices) {
      expect(row[1]).toBe(row[2]);
      expect(row[3]).toBe(row[4]);
      expect(row[5]).toBe(row[6]);
    }
    expect(num(devices[0]![3])).toBeGreaterThan(1000);
    expect(devices[1]![5]).toBe('1');
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(doc.displayTimeUnit).toBe('ns');
    rmSync(dirname(out), { recursive: true, force: true });
  });

  it('race-window: a row per window; manual faults grow with W, the engine stalls for W, holds as many and faults none', async () => {
    const r = await runExample('race-window');
    expectOk(r);
    const rows = tableAfter(r.stdout, 'engine rmpFaults');
    expect(rows.map((row) => row[0])).toEqual(['10.0', '50.0', '100.0', '200.0', '500.0', '1,000.0']);
    const manual = rows.map((row) => num(row[2]));
    expect(manual.every((n, i) => n > 0 && (i === 0 || n > manual[i - 1]!))).toBe(true);
    const held = rows.map((row) => num(row[8]));
    expect(held.every((n, i) => n > 0 && (i === 0 || n > held[i - 1]!))).toBe(true);
    for (const row of rows) {
      expect(num(row[3])).toBe(num(row[2])); // one RMP_PAGE_FAULT event per faulted request
      expect(row[4]).toBe('0x20'); // size mismatch
      expect(row[5]).toBe(row[0]); // the engine's stall is the window
      expect(num(row[6])).toBe(0); // engine rmpFaults
      expect(num(row[7])).toBe(0); // engine events
      // At one request per us, what the window faults the stall holds (give or take the boundary request).
      expect(Math.abs(num(row[8]) - num(row[2]))).toBeLessThanOrEqual(1);
    }
  });

  it('guest-shares-pages: #NPF with SIZEM, the smash, rescinds and RMPUPDATEs succeed, 0 faults on private pages, audit clean', async () => {
    const r = await runExample('guest-shares-pages');
    expectOk(r);
    expect(r.stdout).toContain('#NPF errorCode 0x880000000');
    expect(r.stdout).toMatch(/tmpm\.psmashIo -> 0xf0 SUCCESS: rmpSmashed true, DMA stalled/);
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

  it('tdi-bind-flow: a VMM binds and unbinds a TEE-IO device; fenced DMA after the unbind; LOCK refused, failed unbind forced, reclaim ordering', async () => {
    const r = await runExample('tdi-bind-flow');
    expectOk(r);
    expect(r.stdout).toMatch(/- TDI of 0x100: RUN, ASID 1, context page 0x[0-9a-f]+/);
    expect(r.stdout).toContain('- SNP_PAGE_RECLAIM of the live TDI context page -> INVALID_PAGE_STATE');
    expect(r.stdout).toMatch(/- bound: \d+ completed, 0 RMP faults/);
    expect(r.stdout).toContain('- fw.tdiUnbind -> SUCCESS: TDI CONFIG_UNLOCKED, DMA fence 3 (default-fenced), TDI_RECLAIM SUCCESS');
    expect(r.stdout).toMatch(/- fenced: 0 completed since the unbind, [1-9]\d* RMP_PAGE_FAULT events, last flags 0x[0-9a-f]*[4-7][0-9a-f] \(0x40 fenced\), VMG tag 1/);
    expect(r.stdout).toContain('- TIO_ASID_FENCE_STATUS -> dmaFence 3, mmioFence 3');
    expect(r.stdout).toContain('- TIO_ASID_FENCE_CLEAR -> SUCCESS, fenced false');
    expect(r.stdout).toContain('- fw.tdiBind -> SPDM_ERROR (the device refused LOCK_INTERFACE with TDISP_ERROR 0x4); TDI CONFIG_UNLOCKED, fenced false');
    expect(r.stdout).toContain('- retry: fw.tdiBind -> SUCCESS, TDI RUN, 4 TDISP messages relayed, report 36 bytes');
    expect(r.stdout).toContain('- fw.tdiUnbind -> SUCCESS: first attempt SPDM_ERROR, forced true, TDI CONFIG_UNLOCKED, fenced true');
    expect(r.stdout).toContain('- tio.disconnect -> SUCCESS, TIO_DEV_RECLAIM SUCCESS; contexts left 0');
    expect(r.stdout).toContain('emu.audit: clean');
  });

  it('sev-tio-driver: Linux bring-up over the mailbox, a device connect with the SPDM relay, disconnect, every page back, the error paths', async () => {
    const r = await runExample('sev-tio-driver');
    expectOk(r);
    expect(r.stdout).toContain('- FEATURE 0x1 (bit 0 SEV)');
    expect(r.stdout).toContain('- firmware 1.55, tio_en true; TIO_STATUS flags 0x1 then 0x3');
    expect(r.stdout).toContain('- TIO_DEV_CONNECT -> rc 0, psp_ret 0x0, 21 SPDM messages relayed');
    expect(r.stdout).toContain('- output: data object 4 (certificates), 1452 bytes of chain');
    expect(r.stdout).toContain('- TIO_DEV_DISCONNECT -> psp_ret 0x0 (1 SPDM message), TIO_DEV_RECLAIM -> 0x0, leaked pages 0');
    expect(r.stdout).toContain('- device answers SPDM ERROR: rc -5, psp_ret 0x33 (SPDM_ERROR) after 5 messages; context reclaimed: true');
    expect(r.stdout).toContain('- TIO_STATUS to a page not firmware-owned: rc -5, psp_ret 0x1a (INVALID_PAGE_STATE)');
    expect(r.stdout).toContain('- a command slower than psp_cmd_timeout: rc -110 (ETIMEDOUT); the PSP is dead: next command rc -16 (EBUSY)');
    expect(r.stdout).toContain('emu.audit: clean');
  });

  it('tmpm-driver: brings the engine up register by register, GET_CAPABILITIES, psmash_io SUCCESS then -EEXIST, shutdown, audit clean', async () => {
    const r = await runExample('tmpm-driver');
    expectOk(r);
    expect(r.stdout).toContain('- STATUS 0x1 (ENGINE_READY, DRIVER_INIT clear)');
    expect(r.stdout).toMatch(/- init -> 0; STATUS 0x80000003; ring 0x[0-9a-f]+ \(2 MB aligned true\), RMP assigned false immutable true/);
    expect(r.stdout).toContain('- rc 0: fw 1.0, spec 0.51, support_reg 0xc0 (PSMASH true, PUNSMASH true)');
    expect(r.stdout).toContain('tmpm: psmash_io: pte_err 0 pte_suberr 0 sub_status 0 status 0xf0 (SUCCESS)');
    const rows = tableAfter(r.stdout, 'ring status');
    expect(rows).toHaveLength(1);
    expect(rows[0]![1]).toBe('0xf0 SUCCESS');
    expect(rows[0]![4]).toBe('0x6000000100200001'); // the 2 MB leaf before
    expect(rows[0]!.slice(6)).toEqual(['2^12', '4K']);
    expect(r.stdout).toContain('- rc -17 (EEXIST): the driver finds a 4 KB leaf and does not submit');
    expect(r.stdout).toMatch(/- shutdown -> 0; STATUS 0x8000000[01]/);
    expect(r.stdout).toContain('emu.audit: clean');
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
