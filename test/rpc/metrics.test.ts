/**
 * RpcMetrics counts on the call path in plain fields and hands them to prom-client
 * at scrape time: the exposition must read as prom-client's own Counter and
 * Histogram would (cumulative buckets, +Inf, _sum, _count), and a scrape must not
 * count a call twice.
 */
import { describe, expect, it } from 'vitest';
import { RpcMetrics } from '../../src/observe/expose/metrics.js';

const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(name));

describe('RpcMetrics', () => {
  it('publishes calls per outcome, counting each call once over several scrapes', async () => {
    const m = new RpcMetrics();
    const a = m.observer('a');
    a({ method: 'clock.now', outcome: 'ok', seconds: 1e-6 });
    a({ method: 'clock.now', outcome: 'ok', seconds: 1e-6 });
    a({ method: 'clock.now', outcome: -32602, seconds: 0 });
    m.observer('')({ method: '(unknown)', outcome: -32601, seconds: 0 });
    const first = await m.text();
    expect(first).toContain('# TYPE smash_emu_rpc_calls_total counter');
    expect(series(first, 'smash_emu_rpc_calls_total').sort()).toEqual([
      'smash_emu_rpc_calls_total{method="(unknown)",platform="",outcome="-32601"} 1',
      'smash_emu_rpc_calls_total{method="clock.now",platform="a",outcome="-32602"} 1',
      'smash_emu_rpc_calls_total{method="clock.now",platform="a",outcome="ok"} 2',
    ]);
    // A second observer on the same platform (another connection) adds to the same series.
    m.observer('a')({ method: 'clock.now', outcome: 'ok', seconds: 1e-6 });
    expect(await m.text()).toContain('smash_emu_rpc_calls_total{method="clock.now",platform="a",outcome="ok"} 3');
    expect(await m.text()).toContain('smash_emu_rpc_calls_total{method="clock.now",platform="a",outcome="ok"} 3');
  });

  it('writes the latency histogram as prom-client does, for methods that ran a handler only', async () => {
    const m = new RpcMetrics();
    const observe = m.observer('p');
    for (const seconds of [0.00001, 0.00005, 0.0003, 0.004, 20]) observe({ method: 'fw.init', outcome: 'ok', seconds });
    observe({ method: '(invalid)', outcome: -32700, seconds: 0 });
    const text = await m.text();
    expect(text).toContain('# TYPE smash_emu_rpc_call_duration_seconds histogram');
    const buckets = series(text, 'smash_emu_rpc_call_duration_seconds_bucket');
    expect(buckets).toHaveLength(18);
    expect(buckets.slice(0, 4)).toEqual([
      'smash_emu_rpc_call_duration_seconds_bucket{le="0.00005",method="fw.init",platform="p"} 2',
      'smash_emu_rpc_call_duration_seconds_bucket{le="0.0001",method="fw.init",platform="p"} 2',
      'smash_emu_rpc_call_duration_seconds_bucket{le="0.00025",method="fw.init",platform="p"} 2',
      'smash_emu_rpc_call_duration_seconds_bucket{le="0.0005",method="fw.init",platform="p"} 3',
    ]);
    expect(buckets).toContain('smash_emu_rpc_call_duration_seconds_bucket{le="0.005",method="fw.init",platform="p"} 4');
    expect(buckets).toContain('smash_emu_rpc_call_duration_seconds_bucket{le="10",method="fw.init",platform="p"} 4');
    expect(buckets[17]).toBe('smash_emu_rpc_call_duration_seconds_bucket{le="+Inf",method="fw.init",platform="p"} 5');
    expect(series(text, 'smash_emu_rpc_call_duration_seconds_count')).toEqual(['smash_emu_rpc_call_duration_seconds_count{method="fw.init",platform="p"} 5']);
    const sum = Number(series(text, 'smash_emu_rpc_call_duration_seconds_sum')[0]?.split(' ')[1]);
    expect(sum).toBeCloseTo(20.00436, 8);
  });
});
