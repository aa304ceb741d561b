/**
 * The JSON-RPC 2.0 specification's section 7 examples, adapted to our methods and
 * run against the real server (by-name params only: positional params are -32602).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { openClient, closeAllClients, type TestClient } from '../helpers/ws.js';

let t: AppUnderTest;
let c: TestClient;
beforeAll(async () => {
  t = await startTestApp();
  c = await openClient(t.app.url);
});
afterAll(async () => {
  closeAllClients();
  await t.stop();
});

describe('JSON-RPC 2.0 section 7, adapted', () => {
  it('rpc call with named parameters', async () => {
    expect(await c.call({ jsonrpc: '2.0', method: 'clock.advance', params: { ns: 42 }, id: 3 })).toEqual({ jsonrpc: '2.0', result: { nowNs: 42 }, id: 3 });
    expect(await c.call({ jsonrpc: '2.0', method: 'mem.read64', params: { count: 1, spa: '0x100000000' }, id: 4 })).toEqual({ jsonrpc: '2.0', result: { values: ['0x0'] }, id: 4 });
  });

  it('rpc call with positional parameters: -32602, params are by name only', async () => {
    const r = (await c.call({ jsonrpc: '2.0', method: 'clock.advance', params: [42], id: 1 })) as any;
    expect(r).toMatchObject({ jsonrpc: '2.0', id: 1, error: { code: -32602 } });
  });

  it('a notification gets no response', async () => {
    const { result: before } = (await c.call({ jsonrpc: '2.0', method: 'clock.now', id: 'before' })) as { result: { nowNs: number } };
    c.send({ jsonrpc: '2.0', method: 'clock.advance', params: { ns: 1 } });
    c.send({ jsonrpc: '2.0', method: 'emu.info' });
    // Frames are answered in order: a response to either would arrive before this one's.
    expect(await c.call({ jsonrpc: '2.0', method: 'clock.now', id: 'after' })).toEqual({ jsonrpc: '2.0', result: { ...before, nowNs: before.nowNs + 1 }, id: 'after' });
  });

  it('rpc call of a non-existent method', async () => {
    expect(await c.call({ jsonrpc: '2.0', method: 'foobar', id: '1' })).toMatchObject({ jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: '1' });
  });

  it('rpc call with invalid JSON', async () => {
    expect(await c.call('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')).toMatchObject({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
  });

  it('rpc call with an invalid request object', async () => {
    expect(await c.call({ jsonrpc: '2.0', method: 1, params: 'bar' })).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request' }, id: null });
  });

  it('batch with invalid JSON', async () => {
    const r = await c.call('[{"jsonrpc": "2.0", "method": "clock.now", "id": "1"},{"jsonrpc": "2.0", "method"]');
    expect(r).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });
  });

  it('an empty array gets one -32600 object', async () => {
    expect(await c.call('[]')).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
  });

  it('an invalid batch of one gets an array of one error', async () => {
    expect(await c.call('[1]')).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: -32600 }), id: null })]);
  });

  it('an invalid batch gets one error per member', async () => {
    const r = (await c.call('[1,2,3]')) as unknown[];
    expect(r).toHaveLength(3);
    for (const x of r) expect(x).toMatchObject({ error: { code: -32600 }, id: null });
  });

  it('a mixed batch: answers in order, none for notifications', async () => {
    const r = await c.call([
      { jsonrpc: '2.0', method: 'clock.advance', params: { ns: 7 }, id: '1' },
      { jsonrpc: '2.0', method: 'emu.info' },
      { jsonrpc: '2.0', method: 'mem.read64', params: { spa: '0x1', count: 1 }, id: '2' },
      { foo: 'boo' },
      { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
      { jsonrpc: '2.0', method: 'clock.now', id: '9' },
    ]);
    expect(r).toEqual([
      { jsonrpc: '2.0', result: { nowNs: expect.any(Number) }, id: '1' },
      expect.objectContaining({ error: expect.objectContaining({ code: -32602 }), id: '2' }),
      expect.objectContaining({ error: expect.objectContaining({ code: -32600 }), id: null }),
      expect.objectContaining({ error: expect.objectContaining({ code: -32601 }), id: '5' }),
      { jsonrpc: '2.0', result: expect.objectContaining({ nowNs: (r as any)[0].result.nowNs }), id: '9' },
    ]);
  });

  it('a batch of notifications gets nothing', async () => {
    const { result: before } = (await c.call({ jsonrpc: '2.0', method: 'clock.now', id: 'before' })) as { result: { nowNs: number } };
    c.send([
      { jsonrpc: '2.0', method: 'clock.advance', params: { ns: 1 } },
      { jsonrpc: '2.0', method: 'emu.info' },
    ]);
    // Frames are answered in order: a response to the batch would arrive before this one's.
    expect(await c.call({ jsonrpc: '2.0', method: 'clock.now', id: 'after' })).toEqual({ jsonrpc: '2.0', result: { ...before, nowNs: before.nowNs + 1 }, id: 'after' });
  });

  it('a batch of one valid request is still an array', async () => {
    expect(await c.call([{ jsonrpc: '2.0', method: 'clock.now', id: 1 }])).toEqual([expect.objectContaining({ id: 1, result: expect.any(Object) })]);
  });

  it('invalid params name the key in data.issues', async () => {
    const r = (await c.call({ jsonrpc: '2.0', method: 'iommu.map', params: { domainId: 1, ioav: '0x0', spa: 'zz', length: '0x1000', sizeLg2: 12, read: true, write: true }, id: 8 })) as any;
    expect(r.error.code).toBe(-32602);
    const paths = r.error.data.issues.map((i: { path: unknown[] }) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['ioav', 'spa', 'iova']));
    for (const i of r.error.data.issues) expect(typeof i.message).toBe('string');
  });
});
