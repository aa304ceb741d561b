#!/usr/bin/env node
/**
 * The mutation check (`npm run mutants`, and `.ci/run` after a green suite): for each
 * fast path and each cache, one deliberate mistake, a textual patch to one src/ file,
 * and the tests that must catch it. Each mutant is applied in a copy of the project
 * (never in the working tree), the chosen tests run, and the copy's file is restored
 * in `finally`. A mutant is killed when its tests fail; one that survives means a
 * test is missing. Prints a table; exits 1 when a mutant survives, its patch no
 * longer applies (the code moved: update the patch), or its tests cannot run.
 *
 *   node scripts/mutation-check.mjs [--baseline] [--only NAME-SUBSTRING]
 *
 * --baseline first runs each selection unpatched (it must pass). Time-boxed:
 * SMASH_EMU_MUTANT_TIMEOUT_S per mutant (default 300; a run that times out counts as
 * killed) and SMASH_EMU_MUTANTS_BUDGET_S in all (default 1200; mutants left when it
 * is spent are reported "not run" and fail the check).
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The mutants: `find` must occur exactly once in `file`; `tests` are vitest file
 * filters and `grep` an optional test-name pattern (-t).
 */
export const MUTANTS = [
  {
    name: 'IOTLB hit counting, batched known hits (countHits(n - 1))',
    file: 'src/dma/dma-batch.ts',
    find: 'this.port.countHits?.(n);\n    this.timeline.recordSorted(TL.ISSUED',
    replace: 'this.port.countHits?.(n - 1);\n    this.timeline.recordSorted(TL.ISSUED',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'batches without the closed form, identical: untrusted',
  },
  {
    name: 'IOTLB hit counting, closed form (countHits(n - 1))',
    file: 'src/dma/dma-batch.ts',
    find: 'this.port.countHits?.(n);\n    this.timelineRun(TL.ISSUED',
    replace: 'this.port.countHits?.(n - 1);\n    this.timelineRun(TL.ISSUED',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'identical documents, stats and events: a long closed-form run',
  },
  {
    name: 'known-hit memo: a page known for either direction counts for both',
    file: 'src/dma/dma-batch.ts',
    find: 'if ((mk & (s.write ? 2 : 1)) === 0 || mk >>> 2 !== epoch) {',
    replace: 'if ((mk & 3) === 0 || mk >>> 2 !== epoch) {',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'batches without the closed form, identical: (faults at mapping edges|one stream alone over read-only pages)',
  },
  {
    name: 'known-hit memo: entries of an older epoch still count',
    file: 'src/dma/dma-batch.ts',
    find: 'let known = hitSpanNs >= 0 && (m & bit) !== 0 && m >>> 2 === epoch;',
    replace: 'let known = hitSpanNs >= 0 && (m & bit) !== 0;',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'a small IOTLB|batches without the closed form',
  },
  {
    name: 'closed-form DMA path: next arrival 1 ns late',
    file: 'src/dma/dma-batch.ts',
    find: 'next = s.skipArrivals(t0, n);',
    replace: 'next = s.skipArrivals(t0, n) + 1;',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'identical documents, stats and events: a long closed-form run',
  },
  {
    name: 'held runs: a run member arrives 1 ns late',
    file: 'src/dma/held-runs.ts',
    find: 'rec.arrivalNs = this.t;',
    replace: 'rec.arrivalNs = this.t + 1;',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'identical documents, stats and events: a long closed-form run|a stall held as runs',
  },
  {
    name: 'stall release in closed form: a latency group takes one member of the next bucket',
    file: 'src/dma/stall-release.ts',
    find: 'c.membersThrough(now + spanNs - latency.bucketBottomNs(latencyNs))',
    replace: 'c.membersThrough(now + spanNs - latency.bucketBottomNs(latencyNs) + 1)',
    tests: ['test/dma/dma-fast-path.test.ts'],
    grep: 'a stall released in closed form',
  },
  {
    name: 'completion FIFO grouping: groups across timeline bins',
    file: 'src/dma/completion-queue.ts',
    find: ' && Math.floor((done[k] as number) / TIMELINE_BIN_NS) === bin) {',
    replace: ') {',
    tests: ['test/dma/completion-queue.test.ts', 'test/dma/dma-timeline.test.ts', 'test/dma/dma-timeline-fast-paths.test.ts'],
  },
  {
    name: "completion FIFO grouping: joins latencies below the first one's histogram bucket",
    file: 'src/dma/completion-queue.ts',
    find: 'if (v > top || v < bottom) break;',
    replace: 'if (v > top) break;',
    tests: ['test/dma/completion-queue.test.ts', 'test/dma/latency-histogram.test.ts', 'test/dma/dma-fast-path.test.ts'],
    grep: 'CompletionQueue|completion|identical documents, stats and events: smashes under streams',
  },
  {
    name: 'page walker table views: kept after memory replaced its pages (view epoch ignored)',
    file: 'src/iommu/page-walker.ts',
    find: 'if (memory.viewEpoch !== this.viewEpoch) {',
    replace: 'if (this.viewEpoch === -1) {',
    tests: ['test/iommu/page-walker.test.ts'],
  },
  {
    name: 'live tables: a table no longer pointed at stays live (unref dropped)',
    file: 'src/iommu/live-tables.ts',
    find: 'if (before !== NO_CHILD) this.unref(before);\n    if (this.multi > 0) this.valid = false;',
    replace: 'if (before !== NO_CHILD && this.multi < 0) this.unref(before);\n    if (this.multi > 0) this.valid = false;',
    tests: ['test/iommu/live-tables.test.ts'],
  },
  {
    name: 'domain index: a DTE mode change alone is not seen',
    file: 'src/iommu/domain-index.ts',
    find: '(this.devRoot[deviceId] === dte.root && this.devMode[deviceId] === dte.mode)',
    replace: '(this.devRoot[deviceId] === dte.root)',
    tests: ['test/iommu/live-tables.test.ts', 'test/iommu/device-table.test.ts'],
  },
  {
    name: 'domain index: membership changes do not bump its version (caches keyed on it go stale)',
    file: 'src/iommu/domain-index.ts',
    find: '      list.splice(at, 0, deviceId);\n    }\n    this.version++;',
    replace: '      list.splice(at, 0, deviceId);\n    }',
    tests: ['test/iommu/live-tables.test.ts', 'test/iommu/device-table.test.ts', 'test/tmpm'],
  },
  {
    name: 'RMP uniform-region detail: PVALIDATE of a 4 KB entry keeps the region\'s "uniform" mark',
    file: 'src/rmp/rmp-table.ts',
    find: '      d.flags[pfn & 511] = (d.flags[pfn & 511] as number) ^ F_VALIDATED;\n      d.uniform = UNKNOWN;',
    replace: '      d.flags[pfn & 511] = (d.flags[pfn & 511] as number) ^ F_VALIDATED;',
    tests: ['test/rmp'],
  },
  {
    name: 'RMP uniform-region detail: RMPUPDATE of one 4 KB entry keeps the region\'s "uniform" mark',
    file: 'src/rmp/rmp-entries.ts',
    find: '    d.flags[low] = assigned ? flags : 0;\n    d.uniform = UNKNOWN;',
    replace: '    d.flags[low] = assigned ? flags : 0;',
    tests: ['test/rmp'],
  },
  {
    name: 'RMP uniform-region detail: a region with a GPA break counts as what PSMASH leaves',
    file: 'src/rmp/rmp-storage.ts',
    find: ' || d.gpaPfn[k] !== gpa0 + k) break;',
    replace: ') break;',
    tests: ['test/rmp'],
  },
  {
    name: 'walk memo of upper levels: kept after a write to a table page it read',
    file: 'src/iommu/walk-cache.ts',
    find: 'wordWritten: () => this.clear(),',
    replace: 'wordWritten: () => undefined,',
    tests: ['test/iommu/walk-cache.test.ts'],
  },
  {
    name: 'walk memo of upper levels: kept after memory zeroed or replaced a table page',
    file: 'src/iommu/walk-cache.ts',
    find: 'invalidated: () => this.clear(),',
    replace: 'invalidated: () => undefined,',
    tests: ['test/iommu/walk-cache.test.ts'],
  },
  {
    name: "walk memo of upper levels: keyed without the DTE's IR/IW",
    file: 'src/iommu/page-walker.ts',
    find: 'const dteBits = dte.mode | (dte.read ? 8 : 0) | (dte.write ? 16 : 0);',
    replace: 'const dteBits = dte.mode;',
    tests: ['test/iommu/walk-cache.test.ts'],
  },
  {
    name: 'walk memo of upper levels: keyed without the table root',
    file: 'src/iommu/walk-cache.ts',
    find: 'this.group[slot] === group && this.root[slot] === root && ',
    replace: 'this.group[slot] === group && ',
    tests: ['test/iommu/walk-cache.test.ts'],
  },
  {
    name: "translatePage's last-DTE memo: kept after the DTE cache changed",
    file: 'src/iommu/iommu.ts',
    find: 'if (deviceId !== this.lastDteDevice || this.dteCacheVersion !== this.lastDteVersion || dte === undefined) {',
    replace: 'if (deviceId !== this.lastDteDevice || dte === undefined) {',
    tests: ['test/iommu/walk-cache.test.ts', 'test/iommu/iommu.test.ts'],
  },
  {
    name: "DMA port's binding memo: kept after a TDI bind, unbind or fence",
    file: 'src/iommu/dma-access-port.ts',
    find: 'if (deviceId === this.lastDevice && b.teeIoVersion === this.lastTeeIoVersion) return;',
    replace: 'if (deviceId === this.lastDevice) return;',
    tests: ['test/iommu/walk-cache.test.ts'],
  },
  {
    name: "IOTLB per-domain record memo: kept after the domain's last entry is dropped",
    file: 'src/iommu/iotlb.ts',
    find: '      if (this.lastDomainId === domainId) this.lastDomainId = -1;',
    replace: '',
    tests: ['test/iommu/iotlb.test.ts', 'test/iommu/iommu.test.ts'],
  },
];

function parseArgs(argv) {
  const opts = { baseline: false, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--baseline') opts.baseline = true;
    else if (argv[i] === '--only') opts.only = argv[++i];
    else throw new Error(`unknown argument ${argv[i]} (use --baseline, --only NAME)`);
  }
  return opts;
}

const seconds = (name, dflt) => {
  const v = Number(process.env[name] ?? dflt);
  if (!(v > 0)) throw new Error(`${name} must be a positive number of seconds`);
  return v;
};

/** A copy of the project to mutate: sources copied, node_modules and dist linked. */
function makeCopy() {
  const dir = mkdtempSync(join(tmpdir(), 'smash-emu-mutants-'));
  const skip = new Set(['node_modules', '.git', 'dist', 'coverage', '.tmp']);
  cpSync(ROOT, dir, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src);
      if (rel === '') return true;
      const top = rel.split(/[\\/]/)[0];
      return !skip.has(top) && !rel.startsWith(join('test', 'output'));
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (existsSync(join(ROOT, 'dist'))) symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'), 'dir');
  return dir;
}

/** Runs vitest on the selection in `cwd`; resolves { outcome: 'pass' | 'fail' | 'error' | 'timeout', detail }. */
function runTests(cwd, m, timeoutMs) {
  const args = ['vitest', 'run', ...m.tests, '--reporter=dot', '--bail=1'];
  if (m.grep !== undefined) args.push('-t', m.grep);
  return new Promise((resolve) => {
    const child = spawn('npx', args, { cwd, env: { ...process.env, FORCE_COLOR: '0', CI: '', SMASH_EMU_RUNS_SCALE: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = out.replace(/\x1b\[[0-9;]*m/g, '');
      const tests = /^\s*Tests\s+(.*)$/m.exec(text)?.[1] ?? '';
      const failed = Number(/(\d+) failed/.exec(tests)?.[1] ?? 0);
      const passed = Number(/(\d+) passed/.exec(tests)?.[1] ?? 0);
      if (timedOut) resolve({ outcome: 'timeout', detail: `no result in ${timeoutMs / 1000} s` });
      else if (code === 0 && passed > 0) resolve({ outcome: 'pass', detail: tests.trim() });
      else if (code === 0) resolve({ outcome: 'error', detail: 'no test ran: check the selection' });
      else if (failed > 0) resolve({ outcome: 'fail', detail: tests.trim() });
      else resolve({ outcome: 'error', detail: (text.match(/Error[^\n]*/)?.[0] ?? `vitest exited ${code}`).slice(0, 160) });
    });
  });
}

function table(rows) {
  const head = ['mutant', 'result', 's', 'tests'];
  const cells = rows.map((r) => [r.name, r.result, r.seconds.toFixed(0), r.detail]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) =>
    c
      .map((s, i) => s.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const perMutantMs = seconds('SMASH_EMU_MUTANT_TIMEOUT_S', 300) * 1000;
  const budgetMs = seconds('SMASH_EMU_MUTANTS_BUDGET_S', 1200) * 1000;
  const mutants = MUTANTS.filter((m) => opts.only === undefined || m.name.includes(opts.only));
  if (mutants.length === 0) throw new Error(`no mutant's name contains ${JSON.stringify(opts.only)}`);
  const started = Date.now();
  const rows = [];
  const dir = makeCopy();
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = (sig) => {
    cleanup();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const m of mutants) {
      const t0 = Date.now();
      const row = (result, detail) => rows.push({ name: m.name, result, detail, seconds: (Date.now() - t0) / 1000 });
      if (Date.now() - started > budgetMs) {
        row('NOT RUN', `over the ${budgetMs / 1000} s budget`);
        continue;
      }
      const path = join(dir, m.file);
      const original = readFileSync(path, 'utf8');
      const at = original.indexOf(m.find);
      if (at < 0 || original.indexOf(m.find, at + 1) >= 0) {
        row('NO PATCH', `${m.file}: the text to change is ${at < 0 ? 'gone' : 'there more than once'}; update the mutant`);
        continue;
      }
      if (opts.baseline) {
        const base = await runTests(dir, m, perMutantMs);
        if (base.outcome !== 'pass') {
          row('BASELINE', `unpatched tests do not pass: ${base.detail}`);
          continue;
        }
      }
      try {
        writeFileSync(path, original.slice(0, at) + m.replace + original.slice(at + m.find.length));
        const r = await runTests(dir, m, perMutantMs);
        if (r.outcome === 'fail') row('killed', r.detail);
        else if (r.outcome === 'timeout') row('killed', `timeout: ${r.detail}`);
        else if (r.outcome === 'pass') row('SURVIVED', r.detail);
        else row('ERROR', r.detail);
      } finally {
        writeFileSync(path, original);
      }
      process.stderr.write(`mutation check: ${rows.at(-1).result} ${m.name} (${rows.at(-1).seconds.toFixed(0)} s)\n`);
    }
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const killed = rows.filter((r) => r.result === 'killed').length;
  process.stdout.write(`\nmutation check (${Math.round((Date.now() - started) / 1000)} s)\n${table(rows)}\n${killed} of ${rows.length} mutants killed\n`);
  return killed === rows.length ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`mutation check: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
