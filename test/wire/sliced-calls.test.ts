/**
 * Single large calls do not hold the event loop: emu.dumpState and trace.export
 * write their answer in slices, and /healthz is answered between them. Observed as
 * events, not timing: the /healthz answers the server gave between the moment the
 * call's handler started and the moment its answer was sent are counted (the
 * server runs in this process, so both moments are seen where they happen).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { WebSocket } from 'ws';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import type { Platform } from '../../src/platform/platform.js';

let t: AppUnderTest | undefined;
const originalSend = WebSocket.prototype.send;
afterEach(async () => {
  WebSocket.prototype.send = originalSend;
  await t?.stop();
  t = undefined;
});

/**
 * Runs `call` while /healthz is asked continuously (four requests in flight); returns
 * how many /healthz answers came between `method`'s handler starting (the wrapped
 * platform method) and the server sending its answer (the first frame over 1 MB).
 */
async function healthzDuring(app: AppUnderTest, p: Platform, wrap: 'dumpStateSliced' | 'traceExport' | 'loadStateSliced' | 'snapshotSliced' | 'revertSliced', call: () => Promise<unknown>): Promise<number> {
  let answered = 0;
  let atStart = -1;
  let atSend = -1;
  const inner = p[wrap].bind(p) as (...a: unknown[]) => unknown;
  (p as unknown as Record<string, unknown>)[wrap] = (...a: unknown[]) => {
    atStart = answered;
    const r = inner(...a);
    // A small answer (emu.loadState): the handler's end is when it is sent.
    if (r instanceof Promise)
      void r.then(
        () => (atSend = answered),
        () => undefined,
      );
    return r;
  };
  WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
    if (atSend < 0 && typeof data === 'string' && data.length > 1_000_000) atSend = answered;
    return (originalSend as (...x: unknown[]) => void).call(this, data, ...rest);
  } as typeof WebSocket.prototype.send;
  const url = app.app.url.replace(/^ws/, 'http') + '/healthz';
  let done = false;
  const loop = async () => {
    while (!done) {
      const r = await fetch(url);
      await r.arrayBuffer();
      answered++;
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  await call();
  done = true;
  await Promise.all(loops);
  expect(atStart, 'the handler ran').toBeGreaterThanOrEqual(0);
  expect(atSend, 'the answer was sent').toBeGreaterThanOrEqual(0);
  return atSend - atStart;
}

/** ~10 MB of non-zero memory words in the dump (a frame under the 16 MiB cap, so it loads back). */
async function fillMemory(app: AppUnderTest): Promise<void> {
  const values = Array.from({ length: 65_536 }, (_, i) => '0x' + (0x1000_0000_0000 + i).toString(16));
  for (let k = 0; k < 8; k++) {
    const { spa } = await app.call('mem.alloc', { pages: 128 });
    await app.call('mem.write64', { spa, values });
  }
}

describe('large answers are written in slices: /healthz is answered meanwhile', () => {
  it('emu.dumpState of ~10 MB, and emu.loadState of it', async () => {
    t = await startTestApp({ validateResults: false });
    await fillMemory(t);
    const p = t.app.platforms().get('') as Platform;
    let dump: { state: { memory: { pages: unknown[] } } } | undefined;
    const between = await healthzDuring(t, p, 'dumpStateSliced', async () => {
      dump = await t!.call('emu.dumpState');
    });
    expect(between).toBeGreaterThan(0);
    // The answer is the whole document, and it loads back.
    expect(dump!.state.memory.pages.length).toBeGreaterThanOrEqual(8 * 128);
    WebSocket.prototype.send = originalSend;
    const load = await healthzDuring(t, p, 'loadStateSliced', async () => {
      expect(await t!.call('emu.loadState', { state: dump!.state })).toMatchObject({ ok: true });
    });
    expect(load).toBeGreaterThan(0);
    expect(JSON.stringify((await t.call('emu.dumpState')).state)).toBe(JSON.stringify(dump!.state));
  });

  it('trace.export of a large trace', async () => {
    t = await startTestApp({ validateResults: false });
    await t.call('trace.start', { maxEvents: 100_000, topics: ['dma'] });
    // Faulting requests: one dma event each.
    await t.call('dma.startStream', { deviceId: 0x200, iovaBase: '0x8000000', length: '0x100000', ratePerSec: 1e7, accessBytes: 64, writeRatio: 0 });
    await t.call('clock.advance', { ns: 10_000_000 });
    const p = t.app.platforms().get('') as Platform;
    let exported: { events: number; trace: { traceEvents: unknown[] } } | undefined;
    const between = await healthzDuring(t, p, 'traceExport', async () => {
      exported = await t!.call('trace.export', { format: 'perfetto-json' });
    });
    expect(between).toBeGreaterThan(0);
    expect(exported!.events).toBe(100_000);
    expect(exported!.trace.traceEvents.length).toBeGreaterThan(100_000);
  });
});

/** Fills the platform's IOTLB: a stream touching every page of 256 MB (~64K entries). */
async function fillIotlb(app: AppUnderTest, call = app.call): Promise<void> {
  const { streamId } = await call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x10000000', ratePerSec: 20_000_000, accessBytes: 4096, writeRatio: 0, pattern: 'sequential', arrival: 'fixed' });
  for (let i = 0; i < 7; i++) await call('clock.advance', { ns: 2_000_000 });
  await call('dma.stopStream', { streamId });
}

describe('emu.snapshot and emu.revert of a large IOTLB work in slices', () => {
  it('/healthz is answered while each runs', async () => {
    t = await startTestApp({ validateResults: false });
    await fillIotlb(t);
    const p = t.app.platforms().get('') as Platform;
    expect(p.m.iommu.iotlb.size).toBeGreaterThan(50_000);
    let snapshotId = '';
    const during = await healthzDuring(t, p, 'snapshotSliced', async () => {
      ({ snapshotId } = await t!.call('emu.snapshot'));
    });
    expect(during).toBeGreaterThan(0);
    const atSnapshot = JSON.stringify((await t.call('emu.dumpState')).state);
    await t.call('clock.advance', { ns: 1_000_000 });
    const reverting = await healthzDuring(t, p, 'revertSliced', async () => {
      await t!.call('emu.revert', { snapshotId });
    });
    expect(reverting).toBeGreaterThan(0);
    expect(JSON.stringify((await t.call('emu.dumpState')).state)).toBe(atSnapshot);
  });

  it("another platform's calls are answered meanwhile; the same platform's calls wait and are not in the snapshot", async () => {
    t = await startTestApp({ validateResults: false });
    await fillIotlb(t);
    const p = t.app.platforms().get('') as Platform;
    const other = await t.connect('/platforms/other');
    const same = await t.connect('/');
    const spa = '0x10000000';
    let started!: () => void;
    const snapshotStarted = new Promise<void>((resolve) => (started = resolve));
    const inner = p.snapshotSliced.bind(p);
    p.snapshotSliced = (...a) => {
      const r = inner(...a);
      started();
      return r;
    };
    const order: string[] = [];
    let snapshotDone = false;
    const snap = t.call('emu.snapshot').then((r: { snapshotId: string }) => {
      snapshotDone = true;
      order.push('snapshot');
      return r;
    });
    await snapshotStarted;
    // Sent once the snapshot is under way: it waits for it, on its own connection.
    const write = same.call('mem.write64', { spa, values: ['0xfeed'] }).then(() => order.push('write'));
    let otherAnswers = 0;
    while (!snapshotDone) {
      await other.call('clock.now');
      if (!snapshotDone) otherAnswers++;
    }
    const { snapshotId } = await snap;
    await write;
    expect(otherAnswers).toBeGreaterThan(0);
    expect(order).toEqual(['snapshot', 'write']);
    expect((await t.call('mem.read64', { spa, count: 1 })).values).toEqual(['0xfeed']);
    await t.call('emu.revert', { snapshotId });
    expect((await t.call('mem.read64', { spa, count: 1 })).values).toEqual(['0x0']);
  });
});
