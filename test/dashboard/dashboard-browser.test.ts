/**
 * Browser tests: the live dashboard in a real headless Chromium (Debian's chromium,
 * driven by playwright-core) against the real server. A smash runs under a DMA
 * stream; the plotted stall must appear (its band drawn on the canvas at the stall's
 * time, the held requests in the timeline, the command with its status name), and
 * screenshots go to test/output. Skips, saying why, only where no Chromium exists
 * (and fails instead under REQUIRE_BROWSER=1 or CI=true).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { browserGate, launchBrowser, testOutputPath } from '../helpers/browser.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { ENGINE_SLICE_NAME, smashOverWire } from '../helpers/engine-command.js';

const gate = browserGate();

let t: AppUnderTest;
let browser: Browser;
const httpBase = () => t.app.url.replace(/^ws:/, 'http:');

beforeAll(async () => {
  if (!gate.runs) return;
  t = await startTestApp();
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1180, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(httpBase() + path);
  await page.waitForFunction(() => (globalThis as any).smashDashboard?.state.refreshes > 0, undefined, { timeout: 20_000 });
  return { page, errors };
}

gate.describe('dashboard in Chromium', () => {
  it('plots a stall under a DMA stream: band, held requests, command status, histogram', async () => {
    const { page, errors } = await open('/');
    expect(await page.textContent('#status')).toBe('connected');
    const call = t.call;
    await call('trace.start', { binNs: 50_000 });
    await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x400000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    await call('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x100000', ratePerSec: 250_000, accessBytes: 64, writeRatio: 0.5 });
    await call('clock.advance', { ns: 1_500_000 });
    // A fault for the event list and the counters: the untrusted device past its 64 MiB.
    await call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: true });
    const r = await smashOverWire(t.client);
    expect(r.statusName).toBe('SUCCESS');
    await call('clock.advance', { ns: 1_500_000 });
    for (const s of ['s1', 's2']) await call('dma.stopStream', { streamId: s });
    await call('clock.advance', { ns: 100_000 });
    await call('trace.stop');
    const stats = await call('dma.stats', {});
    const nowNs = (await call('clock.now')).nowNs;

    await page.waitForFunction(
      (now) => {
        const s = (globalThis as any).smashDashboard.state;
        return s.stalls.length === 1 && s.nowNs === now && s.commands.length >= 1;
      },
      nowNs,
      { timeout: 20_000 },
    );
    // The stall as listed, from dma.stats, labelled from the stall event.
    const li = page.locator('#stalls li');
    expect(await li.getAttribute('data-start-ns')).toBe(String(r.startNs));
    expect(await li.getAttribute('data-end-ns')).toBe(String(r.endNs));
    expect(await li.textContent()).toContain(`${((r.endNs! - r.startNs!) / 1e6).toFixed(3)} ms (domain 1, `);
    // The command with its decoded status.
    const row = page.locator('#commands tbody tr').first();
    expect(await row.textContent()).toContain(ENGINE_SLICE_NAME);
    expect(await row.locator('td.ok').textContent()).toBe(`SUCCESS 0x${r.status.toString(16).padStart(2, '0')}`);
    // The timeline holds every held request, inside the stall window.
    const tl = await page.evaluate(() => (globalThis as any).smashDashboard.state.timeline);
    const held = tl.held as number[];
    expect(stats.held).toBeGreaterThan(0);
    expect(held.reduce((a: number, b: number) => a + b, 0)).toBe(stats.held);
    const heldBins = held.flatMap((v: number, i: number) => (v > 0 ? [tl.startNs + i * tl.binNs] : []));
    // 1.25 M requests/s over the stall: every bin the stall covers holds some (bins of binNs).
    expect(heldBins.length).toBeGreaterThanOrEqual(Math.floor((r.endNs! - r.startNs!) / tl.binNs));
    for (const binStart of heldBins) expect(binStart + tl.binNs > r.startNs! && binStart < r.endNs!, `bin at ${binStart} ns`).toBe(true);
    // The band is drawn on the canvas at the stall's time, and not before it.
    const pixels = await page.evaluate(
      ({ startNs, endNs }) => {
        const u = (globalThis as any).smashDashboard.timelinePlot;
        const ctx = u.ctx;
        const y = Math.round(u.bbox.top + 1);
        const at = (ns: number) => Array.from(ctx.getImageData(Math.round(u.valToPos(ns / 1e6, 'x', true)), y, 1, 1).data);
        return { inside: at((startNs + endNs) / 2), before: at(startNs - 300_000) };
      },
      { startNs: r.startNs!, endNs: r.endNs! },
    );
    const [ri, gi, bi] = pixels.inside as [number, number, number];
    expect(ri).toBeGreaterThan(150);
    expect(ri - gi).toBeGreaterThan(80);
    expect(ri - bi).toBeGreaterThan(80);
    expect((pixels.before[0] as number) - (pixels.before[1] as number)).toBeLessThan(40);
    // The histogram: every bucket of dma.histogram, the slowest about the stall.
    const hist = await page.evaluate(() => (globalThis as any).smashDashboard.histogramPlot.data);
    const counts = hist[1] as number[];
    expect(counts.reduce((a, b) => a + b, 0)).toBe(stats.completed);
    expect(Math.max(...(hist[0] as number[]))).toBeGreaterThan(r.stallNs! * 0.99);
    // Fault counters from dma.stats, and the fault in the event list.
    expect(await page.textContent('.tile[data-key="held by stalls"] .v')).toBe(stats.held.toLocaleString('en'));
    expect(await page.textContent('.tile[data-key="IO page faults"] .v')).toBe(String(stats.ioPageFaults));
    expect(await page.textContent('#events')).toContain('io_page_fault dev 02:00.0');
    await page.screenshot({ path: testOutputPath('dashboard.png') });

    // A TMPM command (topic tmpm, the engine's shape) is listed the same way.
    t.app.platforms().get('')!.bus.emit('tmpm', nowNs, { kind: 'command', index: 0, command: 5, commandName: 'PSMASH_IO', status: 0x0a, statusName: 'INVALID_HPTE_PADDR', startNs: nowNs, endNs: nowNs });
    await page.waitForFunction(() => (globalThis as any).smashDashboard.state.commands[0]?.source === 'TMPM');
    expect(await page.locator('#commands tbody tr').first().textContent()).toContain('#0 PSMASH_IO');
    expect(await page.locator('#commands tbody tr td.bad').first().textContent()).toBe('INVALID_HPTE_PADDR 0x0a');
    expect(errors).toEqual([]);

    // The trace viewer draws the same run from trace.export.
    const tv = await browser.newPage({ viewport: { width: 1180, height: 760 } });
    await tv.goto(`${httpBase()}/dashboard/trace.html?path=/`);
    await tv.click('#load');
    await tv.waitForFunction(() => (globalThis as any).traceDrawn !== undefined, undefined, { timeout: 20_000 });
    const drawn = await tv.evaluate(() => (globalThis as any).traceDrawn);
    expect(drawn.rows).toBeGreaterThan(10);
    expect(await tv.textContent('#summary')).toMatch(/recorded, 0 dropped/);
    await tv.screenshot({ path: testOutputPath('trace-view.png'), fullPage: true });
    await tv.close();
    await page.close();
  }, 60_000);

  it('serves /platforms/NAME/ for that platform', async () => {
    const { page, errors } = await open('/platforms/alpha/');
    expect(await page.textContent('#platform')).toBe('platform alpha');
    expect(t.app.platforms().has('alpha')).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
