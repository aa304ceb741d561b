import { describe, expect, it } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';
import { bdf, counterBinNs } from '../../src/observe/perfetto-trace.js';

describe('perfettoTrace', () => {
  it('puts topic tmpm commands on the TMPM engine track as slices with their status, and interrupts as instants', () => {
    const p = createPlatform();
    p.traceStart({ topics: ['tmpm'] });
    // The shape the TMPM engine reports (protocol/README.md §11, topic `tmpm`).
    p.bus.emit('tmpm', 7_000, { kind: 'command', index: 3, command: 5, commandName: 'PSMASH_IO', status: 0xf0, statusName: 'SUCCESS', startNs: 1_000, endNs: 7_000 });
    p.bus.emit('tmpm', 9_000, { kind: 'interrupt', reason: 'WPTR_ERR' });
    p.bus.emit('fw', 9_500, { command: 'fw.init', params: {}, result: { status: 1, statusName: 'INVALID_PLATFORM_STATE' } });
    const { trace } = p.traceExport('perfetto-json');
    const engine = trace.traceEvents.filter((e) => e.pid === 1 && e.ph !== 'M');
    expect(engine).toEqual([
      { name: 'PSMASH_IO', ph: 'X', pid: 1, tid: 1, ts: 1, dur: 6, cat: 'engine', args: { index: 3, command: 5, status: 0xf0, statusName: 'SUCCESS' } },
      expect.objectContaining({ name: 'interrupt: WPTR_ERR', ph: 'i', tid: 3, ts: 9 }),
    ]);
    // fw was not asked for.
    expect(trace.traceEvents.filter((e) => e.pid === 2 && e.ph !== 'M')).toEqual([]);
    p.dispose();
  });

  it('names devices by bus:dev.fn and picks counter bins of 10 us multiples', () => {
    expect(bdf(0x0100)).toBe('01:00.0');
    expect(bdf(0x00a0)).toBe('00:14.0');
    expect(counterBinNs(undefined, 2_000_000)).toBe(10_000);
    expect(counterBinNs(undefined, 200_000_000)).toBe(100_000);
    expect(counterBinNs(10_000, 1_000_000_000)).toBe(50_000);
    expect(counterBinNs(200_000, 1_000_000)).toBe(200_000);
  });

  it('taps the bus without counting as a client listener, and lets go on stop', () => {
    const p = createPlatform();
    p.traceStart({});
    expect(p.bus.listenerCount()).toBe(0);
    expect(p.bus.has('dma')).toBe(true);
    p.traceStop();
    expect(p.bus.has('dma')).toBe(false);
    p.dispose();
  });
});

describe('counter samples stay within the trace maxEvents', () => {
  it('for small and large maxEvents, few and many devices, any window', async () => {
    for (const maxEvents of [3, 4, 7, 20, 100]) {
      for (const devices of [1, 2, 5, 40]) {
        const p = createPlatform();
        p.traceStart({ maxEvents, binNs: 10_000 });
        for (let i = 0; i < devices; i++) {
          await p.dmaIssue({ deviceId: 0x1000 + i, iova: 0x1000n, bytes: 64, write: false });
          await p.clockAdvance(123_456);
        }
        const trace = p.traceExport('perfetto-json').trace;
        const counters = trace.traceEvents.filter((e) => e.ph === 'C');
        expect(counters.length, `maxEvents ${maxEvents}, ${devices} devices`).toBeLessThanOrEqual(Math.max(3, maxEvents));
        expect(counters.length).toBeGreaterThan(0);
        p.dispose();
      }
    }
  });
});
