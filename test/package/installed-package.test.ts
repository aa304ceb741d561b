/**
 * The package the way users get it (test/helpers/package.ts): `npm pack` of this
 * checkout, installed from the tarball into an empty folder with production
 * dependencies only, and its own `smash-emu` command run there. Every HTTP path the
 * server has, a WebSocket call, the dashboard and the trace viewer in headless
 * Chromium (its screenshot read back and checked), and `smash-emu call`,
 * `experiment` and `replay` from the installed bin. Nothing here imports the
 * server from src/: only the client talks to it, over the wire.
 *
 * `UPDATE_DOCS_IMAGES=1` also writes the screenshots to docs/images/ (the README's).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { browserGate, launchBrowser, testOutputPath } from '../helpers/browser.js';
import { installedPackage, type InstalledPackage } from '../helpers/package.js';
import { decodePng } from '../helpers/png.js';
import { ROOT, cleanEnv } from '../helpers/processes.js';

interface Run {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcessWithoutNullStreams>();
const work = mkdtempSync(join(tmpdir(), 'smash-emu-package-test-'));
let pkg: InstalledPackage;
let server: Run;
let url: string;
let http: string;

/** The installed command, run in the install folder as a user's shell would. */
function smashEmu(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Run {
  const proc = spawn(pkg.bin, args, { cwd: pkg.dir, env: cleanEnv(opts.env) });
  running.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  proc.stdin.end(opts.stdin ?? '');
  const exited = new Promise<number | null>((resolve) =>
    proc.once('close', (code) => {
      running.delete(proc);
      resolve(code);
    }),
  );
  return { proc, stdout: () => out, stderr: () => err, exited };
}

async function finished(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = smashEmu(args, opts);
  const code = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

function listening(r: Run): Promise<string> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const m = /^smash-emu listening on (ws:\/\/\S+)\n/.exec(r.stdout());
      if (m !== null) resolve(m[1] as string);
    };
    r.proc.stdout.on('data', look);
    void r.exited.then((code) => reject(new Error(`installed smash-emu serve exited with ${code}: ${r.stderr()}`)));
  });
}

beforeAll(async () => {
  pkg = await installedPackage();
  server = smashEmu(['serve', '--port', '0']);
  url = await listening(server);
  http = url.replace(/^ws:/, 'http:');
}, 600_000);

afterAll(async () => {
  for (const proc of running) proc.kill('SIGTERM');
  await server?.exited;
  rmSync(work, { recursive: true, force: true });
});

/** The server is still the one that started, and it logged no internal error. */
function serverStillUp(): void {
  expect(server.proc.exitCode).toBeNull();
  expect(server.stderr()).not.toContain('internal error');
}

describe('the packed package', () => {
  it('ships the built command, the dashboard and the default scenario, and nothing from src/ or test/', () => {
    for (const f of ['bin/smash-emu.mjs', 'dist/src/cli/main.js', 'dist/src/observe/expose/dashboard-files.js', 'dist/examples/scenarios/default.json', 'protocol/openrpc.json']) expect(pkg.files).toContain(f);
    for (const f of readdirSync(join(ROOT, 'src', 'dashboard'))) expect(pkg.files).toContain(`dist/src/dashboard/${f}`);
    expect(pkg.files.filter((f) => /^(src|test|bench|scripts|node_modules|\.tmp)\//.test(f) || /\.test\.|\.ts$/.test(f))).toEqual([]);
    expect(existsSync(join(pkg.packageDir, 'src'))).toBe(false);
    // Production dependencies only: no compiler, test runner or browser driver.
    for (const dev of ['typescript', 'vitest', 'playwright-core', 'fast-check', '@types/node']) expect(existsSync(join(pkg.dir, 'node_modules', dev)), dev).toBe(false);
    expect(readdirSync(pkg.dir).sort()).toEqual(['.complete', 'node_modules', 'package-lock.json', 'package.json']);
  });
});

describe('the installed server over HTTP', () => {
  /** Every file a dashboard page names under /dashboard/, and the ones the server lists. */
  function assetsOf(html: string): string[] {
    return [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"?]+)/g)].map((m) => m[1] as string);
  }

  it('serves the dashboard at / and /platforms/NAME/, every /dashboard/ file, the trace viewer, /healthz, /metrics and /openrpc.json', async () => {
    const root = await fetch(`${http}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const page = await root.text();
    expect(page).toBe(readFileSync(join(pkg.packageDir, 'dist', 'src', 'dashboard', 'index.html'), 'utf8'));
    const named = await fetch(`${http}/platforms/pkg/`);
    expect(readFileSync(join(pkg.packageDir, 'dist', 'src', 'dashboard', 'index.html'), 'utf8')).toBe(readFileSync(join(ROOT, 'src', 'dashboard', 'index.html'), 'utf8'));
    expect(named.status).toBe(200);
    expect(await named.text()).toBe(page);

    const trace = await fetch(`${http}/dashboard/trace.html?path=/`);
    expect(trace.status).toBe(200);
    const traceHtml = await trace.text();
    const assets = new Set([...assetsOf(page), ...assetsOf(traceHtml), '/dashboard/trace.html']);
    for (const name of ['dashboard.js', 'dashboard.css', 'trace-view.js', 'uPlot.iife.min.js', 'uPlot.min.css']) expect(assets).toContain(`/dashboard/${name}`);
    for (const asset of assets) {
      const res = await fetch(http + asset);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.js') ? /^text\/javascript/ : asset.endsWith('.css') ? /^text\/css/ : /^text\/html/);
      const body = Buffer.from(await res.arrayBuffer());
      const file = asset.startsWith('/dashboard/uPlot')
        ? join(pkg.dir, 'node_modules', 'uplot', 'dist', asset.slice('/dashboard/'.length))
        : join(pkg.packageDir, 'dist', 'src', 'dashboard', asset.slice('/dashboard/'.length));
      expect(body.equals(readFileSync(file)), asset).toBe(true);
    }
    expect((await fetch(`${http}/dashboard/nope.js`)).status).toBe(404);

    const health = await fetch(`${http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', version: JSON.parse(readFileSync(join(pkg.packageDir, 'package.json'), 'utf8')).version });
    const metrics = await fetch(`${http}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('smash_emu_virtual_time_seconds{platform=""}');
    const openrpc = await fetch(`${http}/openrpc.json`);
    expect(openrpc.status).toBe(200);
    const doc = (await openrpc.json()) as { methods: { name: string }[] };
    expect(doc.methods.map((m) => m.name)).toContain('tmpm.psmashIo');
    expect(doc).toEqual(JSON.parse(readFileSync(join(pkg.packageDir, 'protocol', 'openrpc.json'), 'utf8')));
    expect((await fetch(`${http}/platforms/pkg`)).status).toBe(426);
    serverStillUp();
  });

  it("answers a WebSocket call, and tmpm.psmashIo takes tmpm.preparePsmash's result as is", async () => {
    const client = await SmashEmuClient.connect(`${url}/platforms/ws`);
    try {
      const info = (await client.call('emu.info')) as { platform: string };
      expect(info.platform).toBe('ws');
      const prep = await client.call('tmpm.preparePsmash', { domainId: 1, iova: '0x600000' });
      const r = await (client.call as unknown as (m: string, p: unknown) => Promise<{ statusName: string }>)('tmpm.psmashIo', prep);
      expect(r.statusName).toBe('SUCCESS');
    } finally {
      await client.close();
    }
    serverStillUp();
  });
});

// Skips, saying why, only where no Chromium exists; fails instead under REQUIRE_BROWSER=1 or CI=true.
browserGate().describe('the installed dashboard in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  async function open(path: string, viewport: { width: number; height: number }): Promise<{ page: Page; errors: string[]; sockets: string[] }> {
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    const sockets: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(http + path);
    return { page, errors, sockets };
  }

  it('shows a smash under DMA live: the screenshot has the stall band, the plots and the command', async () => {
    const { page, errors, sockets } = await open('/', { width: 1180, height: 900 });
    await page.waitForFunction(() => (globalThis as any).smashDashboard?.state.refreshes > 0, undefined, { timeout: 30_000 });
    expect(await page.textContent('#status')).toBe('connected');

    const client = await SmashEmuClient.connect(url);
    const call = (client.call as unknown as (m: string, p?: unknown) => Promise<any>).bind(client);
    let r: { statusName: string; startNs: number; endNs: number };
    try {
      await call('trace.start', { binNs: 50_000 });
      await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x400000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
      await call('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x100000', ratePerSec: 250_000, accessBytes: 64, writeRatio: 0.5 });
      await call('tmpm.setStallModel', { baseNs: 1_500_000, jitter: { dist: 'none' } });
      await call('clock.advance', { ns: 1_500_000 });
      await call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: true });
      r = await call('tmpm.psmashIo', await call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' }));
      expect(r.statusName).toBe('SUCCESS');
      await call('clock.advance', { ns: 1_500_000 });
      for (const s of ['s1', 's2']) await call('dma.stopStream', { streamId: s });
      await call('clock.advance', { ns: 100_000 });
      await call('trace.stop');
      const nowNs = (await call('clock.now')).nowNs as number;
      await page.waitForFunction(
        (now) => {
          const s = (globalThis as any).smashDashboard.state;
          return s.stalls.length === 1 && s.nowNs === now && s.commands.length >= 1;
        },
        nowNs,
        { timeout: 30_000 },
      );
    } finally {
      await client.close();
    }
    expect(await page.locator('#commands tbody tr').first().textContent()).toContain('PSMASH_IO');
    expect(await page.locator('#commands tbody tr td.ok').first().textContent()).toBe('SUCCESS 0xf0');

    // Where things are on the screen, in CSS pixels (= screenshot pixels at scale 1).
    const where = await page.evaluate(
      ({ startNs, endNs }) => {
        const d = (globalThis as any).smashDashboard;
        const u = d.timelinePlot;
        const box = u.over.getBoundingClientRect();
        const h = d.histogramPlot.over.getBoundingClientRect();
        return {
          inside: { x: Math.round(box.left + u.valToPos((startNs + endNs) / 2e6, 'x')), y: Math.round(box.top + 2) },
          before: { x: Math.round(box.left + u.valToPos((startNs - 300_000) / 1e6, 'x')), y: Math.round(box.top + 2) },
          histogram: { left: Math.ceil(h.left), top: Math.ceil(h.top), right: Math.floor(h.right), bottom: Math.floor(h.bottom) },
        };
      },
      { startNs: r.startNs, endNs: r.endNs },
    );
    const png = await page.screenshot();
    const shot = decodePng(png);
    expect([shot.width, shot.height]).toEqual([1180, 900]);
    const [ri, gi, bi] = shot.at(where.inside.x, where.inside.y);
    expect(ri, 'the stall band is red in the screenshot').toBeGreaterThan(150);
    expect(ri - gi).toBeGreaterThan(80);
    expect(ri - bi).toBeGreaterThan(80);
    const [rb, gb] = shot.at(where.before.x, where.before.y);
    expect(rb - gb, 'no band before the stall').toBeLessThan(40);
    // The histogram's bars: coloured pixels inside its plot area.
    let drawn = 0;
    for (let y = where.histogram.top; y < Math.min(where.histogram.bottom, shot.height); y += 2) {
      for (let x = where.histogram.left; x < Math.min(where.histogram.right, shot.width); x += 2) {
        const [pr, pg, pb] = shot.at(x, y);
        if (Math.max(pr, pg, pb) - Math.min(pr, pg, pb) > 60) drawn++;
      }
    }
    expect(drawn, 'histogram bars in the screenshot').toBeGreaterThan(50);
    writeFileSync(testOutputPath('installed-dashboard.png'), png);
    if (process.env.UPDATE_DOCS_IMAGES === '1') writeFileSync(join(ROOT, 'docs', 'images', 'dashboard.png'), png);
    expect(errors).toEqual([]);
    const port = new URL(url).port;
    expect(sockets.length).toBeGreaterThan(0);
    for (const s of sockets) expect(s).toBe(`ws://127.0.0.1:${port}/`);

    // The trace viewer of the installed package draws the same run.
    const tv = await open('/dashboard/trace.html?path=/', { width: 1180, height: 760 });
    await tv.page.click('#load');
    await tv.page.waitForFunction(() => (globalThis as any).traceDrawn !== undefined, undefined, { timeout: 30_000 });
    expect((await tv.page.evaluate(() => (globalThis as any).traceDrawn)).rows).toBeGreaterThan(10);
    expect(await tv.page.textContent('#summary')).toMatch(/recorded, 0 dropped/);
    const tvPng = await tv.page.screenshot({ fullPage: true });
    writeFileSync(testOutputPath('installed-trace-view.png'), tvPng);
    if (process.env.UPDATE_DOCS_IMAGES === '1') writeFileSync(join(ROOT, 'docs', 'images', 'trace-view.png'), tvPng);
    expect(tv.errors).toEqual([]);
    expect(tv.sockets).toEqual([`ws://127.0.0.1:${port}/`]);
    await tv.page.close();
    await page.close();
    serverStillUp();
  }, 120_000);

  it('the trace viewer connects only to its own server, whatever ?path= says', async () => {
    for (const path of ['@evil.example/', '//evil.example/', 'ws://evil.example/', '/platforms/../..', '/healthz', '/platforms/a?x=1']) {
      const { page, errors, sockets } = await open(`/dashboard/trace.html?path=${encodeURIComponent(path)}&token=secret`, { width: 800, height: 400 });
      await page.click('#load');
      await page.waitForFunction(() => (globalThis as any).document.getElementById('summary')?.textContent !== '', undefined, { timeout: 10_000 });
      expect(await page.textContent('#summary'), path).toMatch(/is not a platform of this server|leaves this server/);
      expect(sockets, path).toEqual([]);
      expect(errors, path).toEqual([]);
      await page.close();
    }
  }, 60_000);
});

describe('the installed command line', () => {
  it("smash-emu call: one call, a call with another call's output as params, exit codes 3 and 4, and call -", async () => {
    const at = ['--url', `${url}/platforms/cli`];
    const prep = await finished(['call', 'tmpm.preparePsmash', '{"domainId":1,"iova":"0x200000"}', ...at]);
    expect(prep.code).toBe(0);
    expect(JSON.parse(prep.stdout)).toMatchObject({ srcPgSpa: '0x100200000', asid: 1 });
    const smash = await finished(['call', 'tmpm.psmashIo', prep.stdout, ...at]);
    expect(smash.code).toBe(0);
    expect(JSON.parse(smash.stdout)).toMatchObject({ statusName: 'SUCCESS', rmpSmashed: true });
    const again = await finished(['call', 'tmpm.psmashIo', prep.stdout, ...at]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/answered INVALID_HPTE_PADDR \(exit 3/);
    const typo = await finished(['call', 'iommu.wlak', '{}', ...at]);
    expect(typo.code).toBe(4);
    expect(typo.stderr).toContain('did you mean iommu.walk');
    const lines = await finished(['call', '-', ...at], { stdin: '{"method":"clock.advance","params":{"ns":5}}\n{"method":"clock.now"}\n' });
    expect(lines.code).toBe(0);
    expect(
      lines.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).nowNs),
    ).toHaveLength(2);
    const help = await finished(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('smash-emu call METHOD [JSON-PARAMS]');
    serverStillUp();
  }, 60_000);

  it('smash-emu experiment runs a sweep and writes CSV, JSON and the HTML report', async () => {
    const spec = join(work, 'tiny.json');
    writeFileSync(spec, JSON.stringify({ name: 'tiny', sequence: ['manual', 'engine'], windowNs: [20_000], dma: { ratePerSec: 1e6 } }));
    const out = join(work, 'tiny-results');
    const r = await finished(['experiment', spec, '--out', out, '--jobs', '1']);
    expect(r.code, r.stderr).toBe(0);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))).toBeTruthy();
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<html');
  }, 120_000);

  it('smash-emu replay runs a recording made by the installed server and finds every result identical', async () => {
    const file = join(work, 'calls.jsonl');
    const rec = smashEmu(['serve', '--port', '0', '--record', file]);
    const recUrl = await listening(rec);
    for (const [method, params] of [
      ['clock.advance', '{"ns":1000}'],
      ['tmpm.preparePsmash', '{"domainId":1,"iova":"0x200000"}'],
      ['mem.alloc', '{"pages":1}'],
    ] as const) {
      expect((await finished(['call', method, params, '--url', recUrl])).code).toBe(0);
    }
    rec.proc.kill('SIGTERM');
    expect(await rec.exited).toBe(0);
    const replay = await finished(['replay', file]);
    expect(replay.code, replay.stdout + replay.stderr).toBe(0);
    // A changed result is found.
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const tampered = lines.map((l) => (l.includes('"clock.advance"') ? l.replace('"nowNs":1000', '"nowNs":999') : l));
    expect(tampered).not.toEqual(lines);
    writeFileSync(file, `${tampered.join('\n')}\n`);
    const differs = await finished(['replay', file]);
    expect(differs.code).toBe(1);
  }, 120_000);
});
