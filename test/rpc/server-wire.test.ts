/**
 * Socket tests: JSON-RPC 2.0 §7 (params by name) and the json-rpc-2.0 1.8.1
 * deviations, over a real WebSocket on 127.0.0.1.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer } from '../../src/rpc/server.js';
import type { RunningServer } from '../../src/rpc/server.js';
import { closeAllClients, fakeHooks, openClient } from '../helpers/ws.js';
import type { FakeHooks, TestClient } from '../helpers/ws.js';

let server: RunningServer;
let fake: FakeHooks;
let client: TestClient;

beforeEach(async () => {
  fake = fakeHooks();
  server = await startServer({ port: 0, onInternalError: () => {} }, fake.hooks);
  client = await openClient(server.url);
});

afterEach(async () => {
  closeAllClients();
  await server.close();
});

const err = (id: unknown, code: number, message: string) => ({ jsonrpc: '2.0', id, error: expect.objectContaining({ code, message }) });
const ok = (id: unknown, result: unknown) => ({ jsonrpc: '2.0', id, result });

/** [what, frame, the answer or undefined for silence] */
const CASES: [string, unknown, unknown][] = [
  ['named params', { jsonrpc: '2.0', method: 'subtract', params: { subtrahend: 23, minuend: 42 }, id: 3 }, ok(3, 19)],
  ['positional params get -32602', { jsonrpc: '2.0', method: 'subtract', params: [42, 23], id: 1 }, err(1, -32602, 'Invalid params')],
  ['a notification', { jsonrpc: '2.0', method: 'update', params: { a: [1, 2, 3, 4, 5] } }, undefined],
  ['a notification of an unknown method', { jsonrpc: '2.0', method: 'foobar' }, undefined],
  ['a non-existent method', { jsonrpc: '2.0', method: 'foobar', id: '1' }, err('1', -32601, 'Method not found')],
  ['invalid JSON', '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', err(null, -32700, 'Parse error')],
  ['an invalid request object', { jsonrpc: '2.0', method: 1, params: 'bar' }, err(null, -32600, 'Invalid Request')],
  ['a batch of invalid JSON', '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method" ]', err(null, -32700, 'Parse error')],
  ['an empty batch', [], err(null, -32600, 'Invalid Request')],
  ['[1]', [1], [err(null, -32600, 'Invalid Request')]],
  ['[1,2,3]', [1, 2, 3], [1, 2, 3].map(() => err(null, -32600, 'Invalid Request'))],
  [
    'a mixed batch',
    [
      { jsonrpc: '2.0', method: 'sum', params: { values: [1, 2, 4] }, id: '1' },
      { jsonrpc: '2.0', method: 'notify_hello', params: { values: [7] } },
      { jsonrpc: '2.0', method: 'subtract', params: { minuend: 42, subtrahend: 23 }, id: '2' },
      { foo: 'boo' },
      { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
      { jsonrpc: '2.0', method: 'get_data', id: '9' },
    ],
    [ok('1', 7), ok('2', 19), err(null, -32600, 'Invalid Request'), err('5', -32601, 'Method not found'), ok('9', ['hello', 5])],
  ],
  [
    'a batch of notifications only',
    [
      { jsonrpc: '2.0', method: 'notify_sum', params: { values: [1, 2, 4] } },
      { jsonrpc: '2.0', method: 'notify_hello', params: { values: [7] } },
    ],
    undefined,
  ],
  ['a batch of one (1.8.1: an object)', [{ jsonrpc: '2.0', method: 'echo', params: { a: 1 }, id: 1 }], [ok(1, { a: 1 })]],
  ['method 1 without an id (1.8.1: silence)', { jsonrpc: '2.0', method: 1 }, err(null, -32600, 'Invalid Request')],
  ['primitive params (1.8.1: accepted)', { jsonrpc: '2.0', method: 'echo', params: 'bar', id: 2 }, err(2, -32602, 'Invalid params')],
  ['an object id (1.8.1: accepted)', { jsonrpc: '2.0', method: 'echo', id: { a: 1 } }, err(null, -32600, 'Invalid Request')],
  ['[null] (1.8.1: throws)', [null], [err(null, -32600, 'Invalid Request')]],
  ['a plain thrown Error (1.8.1: code 0)', { jsonrpc: '2.0', method: 'boom', id: 4 }, err(4, -32603, 'Internal error')],
  ['an EmuError-like NOT_FOUND', { jsonrpc: '2.0', method: 'notFound', id: 5 }, err(5, -32001, 'no stream s-9')],
  ['bigints in a result', { jsonrpc: '2.0', method: 'big', id: 6 }, ok(6, expect.objectContaining({ max: '0xffffffffffffffff', words: ['0x10', '0xabc'] }))],
];

describe('server: JSON-RPC 2.0 over WebSocket', () => {
  for (const [what, frame, expected] of CASES) {
    it(`answers ${what} as the spec says`, async () => {
      client.send(frame);
      if (expected !== undefined) expect(await client.nextJson()).toEqual(expected);
      // The connection is still usable and nothing else was sent: frames are answered in
      // order, so anything the first frame wrongly drew would arrive before this answer.
      expect(await client.call({ jsonrpc: '2.0', method: 'echo', params: { after: true }, id: 'after' })).toEqual(ok('after', { after: true }));
    });
  }

  it('never answers with error code 0', async () => {
    for (const method of ['boom', 'throwString', 'zeroCode', 'mystery', 'circular']) {
      const res = (await client.call({ jsonrpc: '2.0', method, id: method })) as { error: { code: number } };
      expect(res.error.code).not.toBe(0);
      expect(res.error.code).toBe(-32603);
    }
  });

  it('runs batch members sequentially and answers in order', async () => {
    const res = await client.call([
      { jsonrpc: '2.0', method: 'slow', params: { ms: 50, tag: 'a' }, id: 1 },
      { jsonrpc: '2.0', method: 'slow', params: { ms: 0, tag: 'b' }, id: 2 },
    ]);
    expect(res).toEqual([ok(1, 'a'), ok(2, 'b')]);
    expect(fake.tables.get('')?.timeline).toEqual(['start:a', 'end:a', 'start:b', 'end:b']);
  });

  it('answers pipelined frames in request order, a slow one not overtaken', async () => {
    client.send({ jsonrpc: '2.0', method: 'slow', params: { ms: 60, tag: 'first' }, id: 1 });
    client.send({ jsonrpc: '2.0', method: 'echo', params: { n: 2 }, id: 2 });
    client.send({ jsonrpc: '2.0', method: 'slow', params: { ms: 0, tag: 'third' }, id: 3 });
    expect([await client.nextJson(), await client.nextJson(), await client.nextJson()]).toEqual([ok(1, 'first'), ok(2, { n: 2 }), ok(3, 'third')]);
  });

  it('refuses a batch longer than maxBatch with one -32600 object', async () => {
    const small = await startServer({ port: 0, maxBatch: 3 }, fakeHooks().hooks);
    try {
      const c = await openClient(small.url);
      const member = { jsonrpc: '2.0', method: 'echo', id: 1 };
      expect(await c.call([member, member, member, member])).toEqual(err(null, -32600, 'Invalid Request'));
      expect(await c.call([member, member, member])).toHaveLength(3);
    } finally {
      closeAllClients();
      await small.close();
    }
  });
});
