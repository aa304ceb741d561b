/**
 * Socket tests: the call journal (journal.find, journal.count), a harness's way to
 * verify what a VMM sent, per platform and bounded.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOURNAL_ENTRIES } from '../../src/protocol/methods-session.js';
import { contains } from '../../src/rpc/call-journal.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(async () => {
  await t.stop();
});

describe('journal.find', () => {
  it('lists each call of the platform, from every connection, with its params as sent, virtual times and outcome', async () => {
    const second = await t.connect('/');
    await t.client.call('clock.advance', { ns: 1500 });
    const plan = await second.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
    await t.client.call('tmpm.psmashIo', { srcPgSpa: plan.srcPgSpa, smashHpteSpa: plan.smashHpteSpa, srcHpmdSpa: plan.srcHpmdSpa, gctxSpa: plan.gctxSpa });
    await expect(t.client.call('mem.read64', { spa: '0x1', count: 1 })).rejects.toMatchObject({ code: -32602 });
    const { entries, lastSeq, dropped } = await t.client.call('journal.find');
    expect(dropped).toBe(0);
    expect(lastSeq).toBe(4);
    expect(entries.map((e) => [e.seq, e.method, e.ok])).toEqual([
      [1, 'clock.advance', true],
      [2, 'tmpm.preparePsmash', true],
      [3, 'tmpm.psmashIo', true],
      [4, 'mem.read64', false],
    ]);
    expect(entries[0]).toEqual({ seq: 1, method: 'clock.advance', params: { ns: 1500 }, connectionId: expect.any(Number), atNs: 0, endNs: 1500, ok: true });
    expect(entries[1]!.connectionId).not.toBe(entries[0]!.connectionId);
    // The smash ran its stall in virtual time: the entry shows when it started and ended.
    expect(entries[2]!.atNs).toBe(1500);
    expect(entries[2]!.endNs).toBeGreaterThan(1_500_000);
    expect(entries[3]).toMatchObject({ params: { spa: '0x1', count: 1 }, error: { code: -32602 } });
  });

  it('filters by method, since and max; journal.* calls are not journaled; emu.reset keeps the journal', async () => {
    for (let i = 0; i < 3; i++) await t.client.call('clock.advance', { ns: 10 });
    await t.client.call('emu.reset');
    await t.client.call('clock.now');
    expect((await t.client.call('journal.find', { method: 'clock.advance' })).entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await t.client.call('journal.find', { since: 2 })).entries.map((e) => e.method)).toEqual(['clock.advance', 'emu.reset', 'clock.now']);
    expect((await t.client.call('journal.find', { since: 1, max: 2 })).entries.map((e) => e.seq)).toEqual([2, 3]);
    expect((await t.client.call('journal.find')).lastSeq).toBe(5);
  });

  it('is per platform: a named platform has its own', async () => {
    const other = await t.connect('/platforms/other');
    await other.call('clock.now');
    await t.client.call('emu.info');
    expect((await other.call('journal.find')).entries.map((e) => e.method)).toEqual(['clock.now']);
    expect((await t.client.call('journal.find')).entries.map((e) => e.method)).toEqual(['emu.info']);
  });

  it(`keeps the last ${JOURNAL_ENTRIES} calls and counts the dropped ones; long params are kept as their size`, async () => {
    await Promise.all(Array.from({ length: JOURNAL_ENTRIES + 5 }, (_, i) => t.client.call('clock.advance', { ns: i })));
    const found = await t.client.call('journal.find');
    expect(found.entries).toHaveLength(JOURNAL_ENTRIES);
    expect(found.dropped).toBe(5);
    expect(found.entries[0]).toMatchObject({ seq: 6, params: { ns: 5 } });
    const { spa } = await t.client.call('mem.alloc', { pages: 2 });
    await t.client.call('mem.write64', { spa, values: Array.from({ length: 512 }, () => '0x1234567890') });
    const last = (await t.client.call('journal.find', { method: 'mem.write64' })).entries[0];
    expect(last?.params).toEqual({ truncated: true, bytes: expect.any(Number) });
    expect((last?.params as { bytes: number }).bytes).toBeGreaterThan(4096);
  });

  it('journals a call answered by an injected fault, with the injected error', async () => {
    await t.client.call('fault.add', { method: 'clock.now', rpcError: { code: -32050, message: 'injected' } });
    await expect(t.client.call('clock.now')).rejects.toMatchObject({ code: -32050 });
    expect((await t.client.call('journal.find', { method: 'clock.now' })).entries).toMatchObject([{ ok: false, error: { code: -32050, message: 'injected' } }]);
    // fault.* journal like any call; journal.* cannot be a fault target.
    await expect(t.client.call('fault.add', { method: 'journal.find' as never, status: 1 })).rejects.toMatchObject({ code: -32602 });
  });
});

describe('journal.count', () => {
  it('counts calls of a method whose params contain the given ones, hex by value', async () => {
    await t.client.call('dma.issue', { deviceId: 0x100, iova: '0x200000', bytes: 64, write: true });
    await t.client.call('dma.issue', { deviceId: 0x100, iova: '0x0200000', bytes: 64, write: false });
    await t.client.call('dma.issue', { deviceId: 0x200, iova: '0x1000', bytes: 8, write: true });
    expect(await t.client.call('journal.count', { method: 'dma.issue' })).toEqual({ count: 3, lastSeq: 3 });
    expect((await t.client.call('journal.count', { method: 'dma.issue', params: { iova: '0x200000' } })).count).toBe(2);
    expect((await t.client.call('journal.count', { method: 'dma.issue', params: { deviceId: 256, write: true } })).count).toBe(1);
    expect((await t.client.call('journal.count', { method: 'dma.issue', params: { deviceId: 256, bytes: 4096 } })).count).toBe(0);
    expect((await t.client.call('journal.count', { method: 'dma.issue', params: { iova: '0x200000' }, since: 1 })).count).toBe(1);
    expect((await t.client.call('journal.count', { method: 'tmpm.psmashIo' })).count).toBe(0);
  });

  it('refuses bad params naming the key', async () => {
    await expect(t.client.call('journal.count', {} as never)).rejects.toMatchObject({ code: -32602, data: { issues: [{ path: ['method'], message: 'is required' }] } });
    await expect(t.client.call('journal.find', { since: -1 })).rejects.toMatchObject({ code: -32602, data: { issues: [expect.objectContaining({ path: ['since'] })] } });
  });
});

describe('contains (the subset match)', () => {
  it('matches nested objects by their keys, arrays element by element, hex by value', () => {
    expect(contains({ a: { b: 1, c: 2 }, d: [1, 2] }, { a: { b: 1 } })).toBe(true);
    expect(contains({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(contains({ d: [1, 2] }, { d: [1, 2] })).toBe(true);
    expect(contains({ d: [1, 2] }, { d: [1] })).toBe(false);
    expect(contains({ q: ['0x0A', '0x1'] }, { q: ['0xa', '0x01'] })).toBe(true);
    expect(contains({ x: 'abc' }, { x: 'ABC' })).toBe(false);
    expect(contains({ x: null }, { x: null })).toBe(true);
    expect(contains({}, { x: undefined })).toBe(false);
  });
});

describe('journal and hostile params', () => {
  it('a call whose params nest past the stack is still answered -32602, and journaled with its size unknown', async () => {
    const ws = await import('ws');
    const sock = new ws.WebSocket(t.app.url);
    await new Promise((resolve) => sock.once('open', resolve));
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const answer = new Promise<string>((resolve) => sock.once('message', (d) => resolve(String(d))));
    sock.send(`{"jsonrpc":"2.0","id":1,"method":"clock.advance","params":${deep}}`);
    expect(JSON.parse(await answer)).toMatchObject({ id: 1, error: { code: -32602 } });
    sock.close();
    const [entry] = (await t.client.call('journal.find', { method: 'clock.advance' })).entries;
    expect(entry).toMatchObject({ ok: false, error: { code: -32602 }, params: { truncated: true, bytes: null } });
  });
});

describe('journal.count with an oversize filter', () => {
  it('an 8 MB "0x..." filter is refused -32602 naming its key, before any entry is compared; a zero-padded hex of 64 digits still matches', async () => {
    for (let i = 0; i < 50; i++) await t.client.call('mem.read64', { spa: '0x1000', count: 1 });
    const huge = '0x' + '0'.repeat(8 * 1024 * 1024 - 6) + '1000';
    const r = t.client.call('journal.count', { method: 'mem.read64', params: { spa: huge } });
    await expect(r).rejects.toMatchObject({ code: -32602, data: { issues: [{ path: ['params', 'spa'], message: expect.stringMatching(/at most 64 digits/) }] } });
    const padded = '0x' + '0'.repeat(60) + '1000';
    expect((await t.client.call('journal.count', { method: 'mem.read64', params: { spa: padded } })).count).toBe(50);
    expect((await t.client.call('journal.count', { method: 'mem.read64', params: { spa: '0x1001' } })).count).toBe(0);
    // Nested too.
    await expect(t.client.call('journal.count', { method: 'mem.read64', params: { a: [{ b: huge }] } })).rejects.toMatchObject({ code: -32602, data: { issues: [{ path: ['params', 'a', 0, 'b'] }] } });
  });

  it('a filter is compiled once: a large object filter of short values is answered, matching nothing', async () => {
    for (let i = 0; i < 50; i++) await t.client.call('clock.now');
    const wide: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) wide[`k${i}`] = '0x' + i.toString(16);
    expect((await t.client.call('journal.count', { method: 'clock.now', params: wide })).count).toBe(0);
    expect((await t.client.call('journal.count', { method: 'clock.now', params: {} })).count).toBe(50);
  });
});
