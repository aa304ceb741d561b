/**
 * `smash-emu experiment` as a process: the files it writes, its plain progress
 * lines when stderr is not a terminal, its exit codes, and its spec errors.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { launchNode } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-experiment-'));
const running = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function experiment(spec: unknown, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string; out: string }> {
  const specPath = join(dir, `spec-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(specPath, JSON.stringify(spec));
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const p = launchNode(['bin/smash-emu.mjs', 'experiment', specPath, '--out', out, ...args], running);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr(), out };
}

describe('smash-emu experiment', () => {
  it('writes results.csv, results.json and report.html, one row per point, with a progress line per point', async () => {
    const r = await experiment({ name: 'cli', sequence: ['manual', 'engine'], windowNs: [20_000, 200_000], dma: { ratePerSec: 1e6 } }, ['--jobs', '2']);
    expect(r.stderr).toContain('experiment: 4 points on 2 worker threads');
    expect(r.stderr.match(/^point \d\/4 \(#\d sequence=\w+ windowNs=\d+\) in \d+ ms: held \d+, faults \d+, timeouts 0, p99 \d+ ns$/gm)).toHaveLength(4);
    expect(r.stderr).not.toContain('\r');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`report  ${join(r.out, 'report.html')}`);
    // Arrivals every 1 us: about rate x window either way (which boundary arrival falls inside differs by one).
    expect(r.stdout).toMatch(/window 20 us: manual 20 faults; engine 0 faults, 19 held/);
    expect(r.stdout).toMatch(/window 200 us: manual 200 faults; engine 0 faults, 199 held/);
    const csv = readFileSync(join(r.out, 'results.csv'), 'utf8').trim().split('\n');
    const header = (csv[0] as string).split(',');
    expect(header.slice(0, 3)).toEqual(['point', 'sequence', 'windowNs']);
    for (const column of ['held', 'faults', 'timeouts', 'p50Ns', 'p99Ns', 'p999Ns', 'maxNs', 'stallNs']) expect(header).toContain(column);
    expect(csv).toHaveLength(5);
    const col = (row: string, name: string) => row.split(',')[header.indexOf(name)];
    expect(csv.slice(1).map((row) => [col(row, 'sequence'), col(row, 'windowNs'), col(row, 'faults'), col(row, 'held'), col(row, 'stallNs')])).toEqual([
      ['manual', '20000', '20', '0', '0'],
      ['manual', '200000', '200', '0', '0'],
      ['engine', '20000', '0', '19', '20000'],
      ['engine', '200000', '0', '199', '200000'],
    ]);
    const json = JSON.parse(readFileSync(join(r.out, 'results.json'), 'utf8'));
    expect(json.points).toHaveLength(4);
    expect(json.points[3].smashList).toEqual([{ iova: '0x200000', ok: true, statusName: 'SUCCESS', stallNs: 200_000, dmaHeld: 199, windowNs: null }]);
    expect(json.points[3].cdf.at(-1)).toEqual({ latencyNs: json.points[3].maxNs, percent: 100 });
    const html = readFileSync(join(r.out, 'report.html'), 'utf8');
    expect(html).toContain('<title>cli: smash-emu experiment</title>');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=/);
  });

  it('a virtual-clock experiment gives the same numbers every run, whatever the number of workers', async () => {
    const spec = { name: 'again', stall: { baseNs: [100_000, 300_000] }, dma: { ratePerSec: [2e5, 1e6], arrival: 'poisson' }, smashes: 3, seed: [5, 6] };
    const strip = (out: string) =>
      readFileSync(join(out, 'results.csv'), 'utf8')
        .split('\n')
        .map((l) => l.split(',').slice(0, -2).join(','));
    const a = await experiment(spec, ['--jobs', '1']);
    const b = await experiment(spec, ['--jobs', '2']);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(strip(b.out)).toEqual(strip(a.out));
  });

  it('a point that cannot run is a row with its error, the others still run, and the exit code is 1', async () => {
    // The last 2 MB region of the default guest: one smash fits, the second would be past the guest's mappings.
    const r = await experiment({ name: 'partly', target: { iovaBase: '0x3fe00000' }, smashes: [1, 2] });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/point \d\/2 \(#1 smashes=2\) in \d+ ms: FAILED: iova 0x40000000 of domain 1 is not mapped by a present 2 MB leaf/);
    expect(r.stderr).toMatch(/point \d\/2 \(#0 smashes=1\) in \d+ ms: held \d+/);
    expect(r.stderr).toContain('experiment: 2 points in');
    expect(r.stderr).toContain(', 1 failed');
    const rows = readFileSync(join(r.out, 'results.csv'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatch(/,$/); // no error
    expect(rows[2]).toMatch(/is not mapped by a present 2 MB leaf/);
    // IOVA 1 GiB is past the default guest's 2 MB leaves: nothing there to smash.
    const bad = await experiment({ name: 'unmapped', target: { iovaBase: '0x40000000' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/point 1\/1 \(#0 the only point\) in \d+ ms: FAILED: .*is not mapped by a present 2 MB leaf/);
  });

  it('a bad spec stops before anything runs: exit 2, the file, the key and the fix', async () => {
    const r = await experiment({ name: 'bad', dma: { ratePerSec: 0, pattern: 'zigzag' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the experiment spec is not valid (2 problems)');
    expect(r.stderr).toContain('spec.dma.ratePerSec: must be > 0 requests per second');
    expect(r.stderr).toMatch(/spec\.dma\.pattern: .*fix: use one of "random", "sequential"/);
    const missing = launchNode(['bin/smash-emu.mjs', 'experiment'], running);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr()).toContain('experiment needs a SPEC.json');
  });
});
