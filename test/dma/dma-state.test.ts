import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock/virtual-clock.js';
import { SeededRng } from '../../src/util/rng.js';
import { ERROR_CODES } from '../../src/util/emu-error.js';
import type { DmaAccess, DmaPort } from '../../src/iommu/dma-port.js';
import { DmaEngine, type DmaOutcomeEvent } from '../../src/dma/dma-engine.js';
import type { DmaEngineState } from '../../src/dma/dma-state.js';

/** Stateless apart from its configuration, so a second copy answers identically. */
class FakePort implements DmaPort {
  faults = new Map<number, 'io_page_fault' | 'rmp_fault'>([
    [3, 'rmp_fault'],
    [17, 'io_page_fault'],
  ]);
  log: string[] = [];
  constructor(private readonly clock: VirtualClock) {}
  access(deviceId: number, iovaPfn: number, write: boolean, out: DmaAccess): void {
    this.log.push(`${this.clock.nowNs}:${deviceId}:${iovaPfn}:${write}`);
    // An IOTLB that hits on even pages and walks 3 levels on odd ones: latencies are not monotone.
    out.translationNs = iovaPfn % 2 === 0 ? 50 : 300;
    out.spaPfn = iovaPfn + 0x1000;
    const f = this.faults.get(iovaPfn);
    out.outcome = f ?? 'ok';
    out.reason = f ?? '';
  }
  domainOf(deviceId: number): number {
    return deviceId === 0x100 ? 1 : 2;
  }
}

function machine(seed: number) {
  const clock = new VirtualClock();
  const rng = new SeededRng(seed);
  const port = new FakePort(clock);
  const dma = new DmaEngine({ clock, rng, port });
  const events: DmaOutcomeEvent[] = [];
  dma.onOutcome = (r) => events.push(r);
  return { clock, rng, port, dma, events };
}

/** Runs to the middle of a stall with streams, held requests, pending timeouts and completions. */
function runToSnapshot() {
  const m = machine(11);
  m.dma.startStream({ deviceId: 0x100, iovaBase: 0n, length: 0x20000, ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.3, arrival: 'poisson' });
  m.dma.startStream({ deviceId: 0x200, iovaBase: 0x8000n, length: 0x4000, ratePerSec: 300_000, accessBytes: 4096, writeRatio: 1, pattern: 'sequential' });
  const s3 = m.dma.startStream({ deviceId: 0x200, iovaBase: 0n, length: 0x1000, ratePerSec: 7.5, accessBytes: 8, writeRatio: 0 });
  m.clock.advanceTo(200_000);
  m.dma.stopStream(s3);
  m.dma.resetStats();
  m.clock.advanceTo(300_000);
  m.dma.beginStall({ scope: 'domain', domainId: 1, startNs: 300_000, endNs: 380_000, policy: 'hold', completionTimeoutNs: 65_000 });
  void m.dma.issue({ deviceId: 0x100, iova: 0x11000n, bytes: 64, write: true });
  m.clock.advanceTo(320_000);
  m.dma.beginStall({ scope: 'iommu', domainId: 0, startNs: 320_000, endNs: 330_000, policy: 'hold', completionTimeoutNs: 1_000_000 });
  // At 330,000 the iommu stall releases device 0x200; device 0x100 stays held by the longer domain stall.
  m.clock.advanceTo(330_000);
  m.dma.beginStall({ scope: 'domain', domainId: 2, startNs: 330_000, endNs: 340_000, policy: 'abort', completionTimeoutNs: 0 });
  m.clock.advanceTo(330_111);
  return m;
}

function allStats(dma: DmaEngine) {
  return [dma.stats(), dma.stats({ deviceId: 0x100 }), dma.stats({ deviceId: 0x200 }), dma.stats({ streamId: 's1' }), dma.stats({ streamId: 's2' }), dma.stats({ streamId: 's3' })];
}

function stripSeq(doc: DmaEngineState): unknown {
  return JSON.parse(JSON.stringify(doc, (k, v: unknown) => (k === 'seq' ? undefined : v)));
}

describe('DmaEngine state', () => {
  it('continues identically after getState -> JSON -> setState on a fresh engine', () => {
    const a = runToSnapshot();
    const doc = JSON.parse(JSON.stringify(a.dma.getState())) as DmaEngineState;
    expect(doc.stalls).toHaveLength(2);
    expect(doc.stalls.some((s) => s.held.length > 0)).toBe(true);
    expect(doc.timeouts.length).toBeGreaterThan(0);
    expect(doc.completions.length).toBeGreaterThan(0);
    const rngState = a.rng.getState();
    const logFrom = a.port.log.length;
    const eventsFrom = a.events.length;

    const b = machine(999);
    b.clock.nowNs = a.clock.nowNs;
    b.clock.queue.nextSeq = a.clock.queue.nextSeq; // as the platform's state loader does
    b.rng.setState(rngState);
    b.dma.setState(doc);
    expect(stripSeq(b.dma.getState())).toEqual(stripSeq(doc));

    a.clock.advanceTo(1_500_000);
    b.clock.advanceTo(1_500_000);
    expect(allStats(b.dma)).toEqual(allStats(a.dma));
    expect(b.port.log).toEqual(a.port.log.slice(logFrom));
    expect(b.events).toEqual(a.events.slice(eventsFrom));
    expect(b.dma.startStream({ deviceId: 1, iovaBase: 0n, length: 64, ratePerSec: 1, accessBytes: 64, writeRatio: 0 })).toBe('s4');
    const s = b.dma.stats();
    expect(s.timeouts).toBeGreaterThan(0);
    expect(s.stalls).toEqual([
      { startNs: 300_000, endNs: 380_000 },
      { startNs: 320_000, endNs: 330_000 },
      { startNs: 330_000, endNs: 340_000 },
    ]);
    expect(s.aborted).toBeGreaterThan(0);
  });

  it('re-schedules stream arrivals, releases and timeouts on the injected clock', () => {
    const a = runToSnapshot();
    const doc = a.dma.getState();
    const b = machine(1);
    b.clock.nowNs = a.clock.nowNs;
    b.dma.setState(doc);
    // Two running streams (s3 is stopped), two stall releases, the pending timeouts.
    expect(b.clock.queue.size).toBe(2 + 2 + doc.timeouts.length);
  });

  const hostile: [string, (d: any) => unknown][] = [
    ['not an object', () => null],
    ['an array', () => []],
    ['a newer version', (d) => ({ ...d, version: 2 })],
    [
      'a broken identity',
      (d) => {
        d.total.issued += 1;
        return d;
      },
    ],
    [
      'a corrupt histogram',
      (d) => {
        d.devices[0].counters.histogram = 'HISTFAAAAB';
        return d;
      },
    ],
    [
      'a histogram that does not match completed',
      (d) => {
        d.total.completed += 1;
        d.total.issued += 1;
        return d;
      },
    ],
    [
      'a stream of an unknown device',
      (d) => {
        d.streams[0].deviceId = 0x999;
        return d;
      },
    ],
    [
      'a bad stream iovaBase',
      (d) => {
        d.streams[0].iovaBase = '0xzz';
        return d;
      },
    ],
    [
      'a negative rate',
      (d) => {
        d.streams[0].ratePerSec = -1;
        return d;
      },
    ],
    [
      'a cursor out of range',
      (d) => {
        d.streams[1].cursor = 1e9;
        return d;
      },
    ],
    [
      'a stream id beyond nextStreamNum',
      (d) => {
        d.streams[0].streamId = 's9';
        return d;
      },
    ],
    [
      'a running stream with no arrival time',
      (d) => {
        d.streams[0].nextArrivalNs = null;
        return d;
      },
    ],
    [
      'a completion of an unknown stream',
      (d) => {
        d.completions[0].streamId = 's77';
        return d;
      },
    ],
    [
      "a completion of another device's stream",
      (d) => {
        d.completions[0].streamId = 's1';
        return d;
      },
    ],
    [
      'a missing completion',
      (d) => {
        d.completions.pop();
        return d;
      },
    ],
    [
      'a dangling window index',
      (d) => {
        d.stalls[0].window = 99;
        return d;
      },
    ],
    [
      'a stall whose window is another one',
      (d) => {
        d.stalls[0].window = d.stalls[1].window;
        return d;
      },
    ],
    [
      'a stall that ended in the past',
      (d) => {
        d.stalls[0].endNs = 1;
        return d;
      },
    ],
    [
      'a duplicate held order',
      (d) => {
        d.timeouts[0].order = d.stalls.find((s: any) => s.held.length > 0).held[0].order;
        return d;
      },
    ],
    [
      'a dropped timeout',
      (d) => {
        d.timeouts = [];
        return d;
      },
    ],
    [
      'a duplicate device',
      (d) => {
        d.devices.push(d.devices[0]);
        return d;
      },
    ],
    [
      'a window ending before it starts',
      (d) => {
        d.windows[0].endNs = 0;
        return d;
      },
    ],
    [
      'a non-integer time',
      (d) => {
        d.streams[0].nextArrivalNs += 0.5;
        return d;
      },
    ],
  ];

  it.each(hostile)('refuses %s with BAD_DOCUMENT and changes nothing', (_name, mutate) => {
    const a = runToSnapshot();
    const good = JSON.stringify(a.dma.getState());
    const b = machine(2);
    b.clock.nowNs = a.clock.nowNs;
    b.dma.setState(JSON.parse(good));
    const before = JSON.stringify(stripSeq(b.dma.getState()));
    const queued = b.clock.queue.size;
    expect(() => b.dma.setState(mutate(JSON.parse(good)))).toThrow(expect.objectContaining({ code: ERROR_CODES.BAD_DOCUMENT }));
    expect(JSON.stringify(stripSeq(b.dma.getState()))).toBe(before);
    expect(b.clock.queue.size).toBe(queued);
  });
});
