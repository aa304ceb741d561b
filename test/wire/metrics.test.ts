/**
 * Socket tests of the honest /metrics and /healthz (issue 11): an engine command
 * refused with a status is not outcome "ok"; statuses are counted by method and by
 * command with names from the code tables only; stall durations and DMA latency are
 * Prometheus histograms; the IOTLB hit rate; /healthz says version, uptime, platforms.
 */
import { describe, expect, it } from 'vitest';
import { useTestApp, type UntypedCall } from '../helpers/app.js';
import { ENGINE_COMMAND_LABELS, ENGINE_METHOD, smashAgainOverWire, smashOverWire } from '../helpers/engine-command.js';
import { VERSION } from '../../src/platform/platform.js';

const app = useTestApp();
const call: UntypedCall = (method, params) => app().call(method, params);

const httpUrl = (ws: string, path: string) => ws.replace(/^ws:/, 'http:').replace(/\/$/, '') + path;
const metrics = async () => (await fetch(httpUrl(app().app.url, '/metrics'))).text();
/** The value of one series, or undefined when absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics statuses', () => {
  it('counts an engine command refused with a status as outcome "status", by status name', async () => {
    const ok = await smashOverWire(app().client);
    const refused = await smashAgainOverWire(app().client);
    expect(ok.statusName).toBe('SUCCESS');
    expect(refused.statusName).not.toBe('SUCCESS');
    const text = await metrics();
    expect(value(text, `smash_emu_rpc_calls_total{method="${ENGINE_METHOD}",platform="",outcome="ok"}`)).toBe(1);
    expect(value(text, `smash_emu_rpc_calls_total{method="${ENGINE_METHOD}",platform="",outcome="status"}`)).toBe(1);
    expect(value(text, `smash_emu_rpc_status_total{method="${ENGINE_METHOD}",platform="",status="SUCCESS"}`)).toBe(1);
    expect(value(text, `smash_emu_rpc_status_total{method="${ENGINE_METHOD}",platform="",status="${refused.statusName}"}`)).toBe(1);
    // The same commands, counted from the engine's events.
    const { source, command } = ENGINE_COMMAND_LABELS;
    expect(value(text, `smash_emu_commands_total{platform="",source="${source}",command="${command}",status="SUCCESS"}`)).toBe(1);
    expect(value(text, `smash_emu_commands_total{platform="",source="${source}",command="${command}",status="${refused.statusName}"}`)).toBe(1);
    // Instructions: a return code other than SUCCESS is not ok either.
    expect((await call('rmp.psmash', { spa: '0x1000' })).rcName).toBe('FAIL_INPUT');
    expect(value(await metrics(), 'smash_emu_rpc_calls_total{method="rmp.psmash",platform="",outcome="status"}')).toBe(1);
  });

  it('keeps status labels to the code tables: injected unknown statuses count as OTHER', async () => {
    for (let s = 0x80; s < 0x80 + 40; s++) {
      await call('fault.add', { method: 'fw.init', status: s });
      expect((await call('fw.init')).statusName).toMatch(/^UNKNOWN_0x/);
    }
    const text = await metrics();
    expect(value(text, 'smash_emu_rpc_status_total{method="fw.init",platform="",status="OTHER"}')).toBe(40);
    expect(value(text, 'smash_emu_commands_total{platform="",source="fw",command="fw.init",status="OTHER"}')).toBe(40);
    expect(text).not.toMatch(/UNKNOWN_0x/);
  });

  it('counts TMPM commands from topic tmpm by command and status name', async () => {
    const bus = app().app.platforms().get('')!.bus;
    bus.emit('tmpm', 10, { kind: 'command', index: 0, command: 5, commandName: 'PSMASH_IO', status: 0xf0, statusName: 'SUCCESS', startNs: 0, endNs: 10 });
    bus.emit('tmpm', 20, { kind: 'command', index: 1, command: 0x77, commandName: 'UNKNOWN_0x77', status: 0x0b, statusName: 'weird"}\nname', startNs: 10, endNs: 20 });
    bus.emit('tmpm', 30, { kind: 'interrupt', reason: 'RB_ERR' });
    const text = await metrics();
    expect(value(text, 'smash_emu_commands_total{platform="",source="tmpm",command="PSMASH_IO",status="SUCCESS"}')).toBe(1);
    expect(value(text, 'smash_emu_commands_total{platform="",source="tmpm",command="OTHER",status="OTHER"}')).toBe(1);
  });
});

describe('/metrics histograms and the IOTLB', () => {
  it('has the stall duration and DMA latency as Prometheus histograms, and the IOTLB hit rate', async () => {
    await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x200000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    await call('clock.advance', { ns: 1_000_000 });
    const r = await smashOverWire(app().client, 1, '0x400000');
    await call('dma.stopStream', { streamId: 's1' });
    await call('clock.advance', { ns: 1_000_000 });
    const stats = await call('dma.stats', {});
    const text = await metrics();
    expect(text).toContain('# TYPE smash_emu_stall_duration_seconds histogram');
    expect(value(text, 'smash_emu_stall_duration_seconds_count{platform=""}')).toBe(1);
    expect(value(text, 'smash_emu_stall_duration_seconds_sum{platform=""}')).toBeCloseTo(r.stallNs! / 1e9, 12);
    expect(value(text, 'smash_emu_stall_duration_seconds_bucket{le="0.001",platform=""}')).toBe(0);
    expect(value(text, 'smash_emu_stall_duration_seconds_bucket{le="0.005",platform=""}')).toBe(1);
    expect(text).toContain('# TYPE smash_emu_dma_latency_seconds histogram');
    expect(value(text, 'smash_emu_dma_latency_seconds_count{platform=""}')).toBe(stats.completed);
    expect(value(text, 'smash_emu_dma_latency_seconds_bucket{le="+Inf",platform=""}')).toBe(stats.completed);
    // Held requests waited: some latencies are above 1 ms, most are not.
    const under1ms = value(text, 'smash_emu_dma_latency_seconds_bucket{le="0.001",platform=""}')!;
    expect(under1ms).toBeGreaterThan(0);
    expect(under1ms).toBeLessThan(stats.completed);
    const hits = value(text, 'smash_emu_iotlb_lookups_total{platform="",result="hit"}')!;
    const misses = value(text, 'smash_emu_iotlb_lookups_total{platform="",result="miss"}')!;
    expect(hits + misses).toBe(stats.issued);
    expect(misses).toBeGreaterThan(0);
    expect(value(text, 'smash_emu_iotlb_hit_ratio{platform=""}')).toBeCloseTo(hits / (hits + misses), 9);
  });
});

describe('/healthz', () => {
  it('says version, uptime and how many platforms exist', async () => {
    await app().connect('/platforms/one');
    const h = await fetch(httpUrl(app().app.url, '/healthz'));
    expect(h.status).toBe(200);
    const body = (await h.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', version: VERSION, platforms: 2 });
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });
});
