/**
 * The benchmark cannot rot: every bench function runs with tiny sizes (a few
 * seconds in all), every figure is a positive finite number, and the JSON line
 * `npm run bench` prints last parses back to the same keys.
 */
import { describe, it, expect } from 'vitest';
import { runAll, jsonLine, QUICK_SIZES } from '../../bench/run.js';
import { formatTable } from '../../bench/util.js';
import { existsSync } from 'node:fs';
import { cliRows, cliStart } from '../../bench/cli-start.js';
import { needs } from '../helpers/skips.js';

describe('npm run bench, tiny sizes', () => {
  it('produces every figure as a positive finite number, a table and a JSON line', async () => {
    const { figures, rows } = await runAll(QUICK_SIZES);
    const line = jsonLine(figures);
    const parsed = JSON.parse(line) as Record<string, Record<string, number>>;
    expect(Object.keys(parsed)).toEqual(['scale', 'translate', 'dma', 'smash', 'stall', 'rpc', 'client', 'realtime', 'firmware']);
    expect(Object.keys(parsed.firmware ?? {})).toEqual(['mailboxPerSec', 'connectPerSec', 'mailboxRpcPerSec', 'connectRpcPerSec']);
    expect(Object.keys(parsed.dma ?? {})).toEqual(['hitPerSec', 'hitRatio', 'closedFormPerSec', 'walkPerSec', 'walkRatio']);
    expect(Object.keys(parsed.smash ?? {})).toEqual(['inProcessPerSec', 'bigGuestPerSec', 'bigGuestRatio', 'batchRatio']);
    expect(Object.keys(parsed.stall ?? {})).toEqual(['extraHeapMiB', 'smashWallMs', 'healthzMaxMs', 'healthzAnswers', 'dmaHeld', 'slowWallMs', 'wallRatio', 'slowHealthzMaxMs']);
    expect(Object.keys(parsed.client ?? {})).toEqual(['typedNowPerSec', 'rawNowPerSec', 'typedRatio', 'nowPerSec', 'smashPerSec', 'smashRatio', 'batchPerSec']);
    expect(Object.keys(parsed.realtime ?? {})).toEqual(['rttUs', 'errP50Us', 'errP99Us', 'errMaxUs', 'cpuMsPerCall']);
    expect(Object.keys(parsed.scale ?? {})).toEqual(['guestGiB', 'setupMs', 'heapMiB', 'arrayBuffersMiB', 'rssMiB', 'auditMs', 'unmapMs']);
    for (const [group, values] of Object.entries(parsed)) {
      for (const [key, v] of Object.entries(values)) {
        expect(typeof v, `${group}.${key}`).toBe('number');
        expect(Number.isFinite(v), `${group}.${key}`).toBe(true);
        // Memory growth of a small guest (or a short stall) may round to 0 (or dip below it after GC);
        // a realtime stall error may be below 0 (a call answered faster than the median round trip).
        if (!key.endsWith('MiB') && group !== 'realtime') expect(v, `${group}.${key}`).toBeGreaterThan(0);
      }
    }
    expect(line).not.toContain('\n');
    const table = formatTable(rows);
    expect(table.split('\n')).toHaveLength(rows.length + 2);
    expect(table).toContain('rpc / raw echo, 32 in flight');
    for (const figure of [
      'hits / bare event-queue loop',
      'closed form',
      'walks / bare event-queue loop',
      'scale: iommu.unmap of the',
      'extra heap while it runs',
      'slowest /healthz',
      'smash: tmpm.psmashIo + punsmashIo calls in process',
      '/ 1 GiB guest',
      'typed client / raw loop',
      'smash calls / clock.now calls',
      'batches / in process',
      'stall error, p50',
      'stall error, p99',
      'wall time at',
    ]) {
      expect(
        rows.some((r) => r.name.includes(figure) && r.target !== undefined),
        figure,
      ).toBe(true);
    }
  });
});

describe('npm run bench:cli, one repetition', () => {
  // npm ci builds dist/ (prepare); a checkout that skipped install scripts has none to time.
  const built = existsSync(new URL('../../dist/src/cli/main.js', import.meta.url));
  needs('the built CLI (dist/src/cli/main.js)', built ? undefined : 'no dist/ here: run npm run build (npm ci does it through prepare)', 'REQUIRE_BUILD').it(
    'times a built call, a tsx call and npx beside bare node, each a positive number',
    async () => {
      const r = await cliStart(1);
      for (const [key, v] of Object.entries(r)) expect(v, key).toBeGreaterThan(0);
      expect(cliRows(r).map((row) => row.name)).toContain('cli: smash-emu call, built JavaScript (bin, dist/)');
    },
  );
});
