/**
 * Socket tests: subscriptions deliver tmpm and stall events for a smash, before the
 * smash's response; rmp, iommu and dma topics; unsubscribe and close end them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { openClient, closeAllClients } from '../helpers/ws.js';
import { readFileSync } from 'node:fs';

/** The version emu.info reports: package.json's. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  closeAllClients();
  await t.stop();
});

type Call = (m: string, p?: unknown) => Promise<any>;

async function prepareSmash(call: Call, iova: string) {
  const { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa } = await call('tmpm.preparePsmash', { domainId: 1, iova });
  return { srcPgSpa, smashHpteSpa, srcHpmdSpa, gctxSpa };
}

describe('events.subscribe', () => {
  it('delivers stall begin/end and the tmpm command of a smash before its response', async () => {
    const call = t.client.call.bind(t.client) as unknown as Call;
    const params = await prepareSmash(call, '0x200000');
    const raw = await openClient(t.app.url);
    const sub = (await raw.call({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { topics: ['tmpm', 'stall', 'rmp'] } })) as any;
    const subscriptionId = sub.result.subscriptionId;
    raw.send({ jsonrpc: '2.0', id: 2, method: 'tmpm.psmashIo', params });
    const frames: any[] = [];
    for (;;) {
      const f = (await raw.nextJson()) as any;
      frames.push(f);
      if (f.id === 2) break;
    }
    const notes = frames.filter((f) => f.method === 'events.notify').map((f) => f.params);
    expect(notes.every((n) => n.subscriptionId === subscriptionId)).toBe(true);
    expect(notes.map((n) => `${n.topic}:${n.data.phase ?? n.data.op ?? n.data.kind}`)).toEqual(['stall:begin', 'rmp:psmash', 'stall:end', 'tmpm:command']);
    const [begin, , end, cmd] = notes;
    const result = frames.at(-1).result;
    expect(begin.atNs).toBe(result.startNs);
    expect(begin.data).toMatchObject({ command: 'tmpm.PSMASH_IO', domainId: 1, iova: '0x200000', srcPgSpa: '0x100200000' });
    expect(end.atNs).toBe(result.endNs);
    expect(cmd.data).toMatchObject({ kind: 'command', commandName: 'PSMASH_IO', command: 5, status: 0xf0, statusName: 'SUCCESS', index: result.index, startNs: result.startNs, endNs: result.endNs });
  });

  it('delivers iommu and dma events for a faulting request, and stops after unsubscribe', async () => {
    const events: any[] = [];
    const s = await t.client.subscribe(['iommu', 'dma'], (n) => events.push(n));
    const r = await t.client.call('dma.issue', { deviceId: 0x200, iova: '0x10000000', bytes: 8, write: true });
    expect(r.outcome).toBe('io_page_fault');
    expect(events.map((e) => e.topic)).toEqual(['iommu', 'dma']);
    expect(events[0].data).toMatchObject({ typeName: 'IO_PAGE_FAULT', deviceId: 0x200, domainId: 2, address: '0x10000000', write: true });
    expect(events[0].data.words).toEqual(['0x00000200', '0x20200002', '0x10000000', '0x00000000']);
    expect(events[1].data).toMatchObject({ outcome: 'io_page_fault', deviceId: 0x200, iova: '0x10000000' });
    await s.unsubscribe();
    await t.client.call('dma.issue', { deviceId: 0x200, iova: '0x10000000', bytes: 8, write: true });
    expect(events).toHaveLength(2);
    expect(t.app.platforms().get('')!.bus.listenerCount()).toBe(0);
  });

  it('ends a subscription when its connection closes', async () => {
    const c = await t.connect('/');
    await c.subscribe(['fw'], () => undefined);
    const bus = t.app.platforms().get('')!.bus;
    expect(bus.listenerCount()).toBe(1);
    await c.close();
    // The server sees the close on its own time: wait for the event, not for so many ms.
    await expect.poll(() => bus.listenerCount(), { timeout: 20_000, interval: 5 }).toBe(0);
  });

  it('refuses an unknown subscription id with -32001', async () => {
    await expect(t.client.call('events.unsubscribe', { subscriptionId: 'sub999' })).rejects.toMatchObject({ code: -32001 });
  });
});

describe('platforms by path', () => {
  it('keeps /platforms/NAME isolated from / and from each other, shared by connections on one path', async () => {
    const a1 = await t.connect('/platforms/alpha');
    const a2 = await t.connect('/platforms/alpha');
    const b = await t.connect('/platforms/beta');
    await a1.call('clock.advance', { ns: 1234 });
    expect((await a2.call('clock.now', {})).nowNs).toBe(1234);
    expect((await b.call('clock.now', {})).nowNs).toBe(0);
    expect((await t.client.call('clock.now', {})).nowNs).toBe(0);
    await b.call('rmp.update', { spa: '0x100000000', assigned: false, pageSize: '2M' });
    expect((await a1.call('rmp.read', { spa: '0x100000000' })).assigned).toBe(true);
    expect((await b.call('emu.info', {})).platform).toBe('beta');
  });
});

describe('fault injection over the wire', () => {
  it('delayNs advances virtual time before the call; close closes the connection after the response', async () => {
    await t.client.call('fault.add', { method: 'clock.now', delayNs: 5000 });
    expect((await t.client.call('clock.now', {})).nowNs).toBe(5000);
    const c = await openClient(t.app.url);
    await c.call({ jsonrpc: '2.0', id: 1, method: 'fault.add', params: { method: 'emu.info', close: true } });
    const r = (await c.call({ jsonrpc: '2.0', id: 2, method: 'emu.info' })) as any;
    expect(r.result.version).toBe(VERSION);
    expect((await c.closed).code).toBe(4000);
  });

  it('fires on call nth and times - 1 after it, and with a seeded probability', async () => {
    await t.client.call('fault.add', { method: 'fw.init', status: 0x3a, nth: 2, times: 2 });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.client.call('fw.init', {})).status);
    expect(statuses).toEqual([1, 0x3a, 0x3a, 1, 1]);
    await t.client.call('fault.clear', {});
    await t.client.call('fault.add', { method: 'rmp.psmash', status: 3, probability: 0.5, times: 10 });
    let hits = 0;
    for (let i = 0; i < 60; i++) if ((await t.client.call('rmp.psmash', { spa: '0x100000000' })).rc === 3) hits++;
    expect(hits).toBe(10);
    expect((await t.client.call('fault.list', {})).faults[0]).toMatchObject({ hits: 10 });
  });

  it('a tmpm.PSMASH_IO rule fires however the command arrives; its delayNs keeps the engine busy, so a second command queues behind it', async () => {
    const call = t.client.call.bind(t.client) as unknown as Call;
    const params = await prepareSmash(call, '0x400000');
    await call('tmpm.setStallModel', { jitter: { dist: 'none' } });
    await call('fault.add', { method: 'tmpm.PSMASH_IO', delayNs: 1_000_000 });
    const first = await call('tmpm.psmashIo', params);
    expect(first).toMatchObject({ statusName: 'SUCCESS', stallNs: 2_000_000 });
    expect(first.endNs - first.startNs).toBe(3_000_000);
    await call('fault.add', { method: 'tmpm.PSMASH_IO', status: 0x17 });
    const other = await t.connect('/');
    const second = await other.call('tmpm.psmashIo', params);
    expect(second).toMatchObject({ status: 0x17, statusName: 'RESOURCE_NOT_AVAILABLE', detail: { injected: true } });
    expect((await call('fault.list', {})).faults.map((f: { method: string; hits: number }) => [f.method, f.hits])).toEqual([
      ['tmpm.PSMASH_IO', 1],
      ['tmpm.PSMASH_IO', 1],
    ]);
    await expect(call('fault.add', { method: 'tmpm.PSMASH_IO', delayMs: 5 })).rejects.toMatchObject({ code: -32602 });
  });
});

describe('fault events', () => {
  it('carry the faulting byte address, not only its page', async () => {
    await t.client.call('dma.issue', { deviceId: 0x200, iova: '0x10000abc', bytes: 4, write: false });
    const ev = (await t.client.call('iommu.events', {})).events.at(-1)!;
    expect(ev).toMatchObject({ typeName: 'IO_PAGE_FAULT', address: '0x10000abc', write: false });
  });
});

describe('typed client', () => {
  it('narrows guest.pvalidate to its #NPF or rc form', async () => {
    const r = await t.client.call('guest.pvalidate', { asid: 1, gpa: '0x1000', pageSize: '4K', validate: false });
    if (!('npf' in r)) throw new Error('expected a nested page fault');
    expect(r.npf.errorCode).toBe('0x880000000');
    const ok = await t.client.call('guest.pvalidate', { asid: 1, gpa: '0x0', pageSize: '2M', validate: true });
    if ('npf' in ok) throw new Error('expected a return code');
    expect([ok.rc, ok.noUpdate]).toEqual([0, true]);
  });
});
