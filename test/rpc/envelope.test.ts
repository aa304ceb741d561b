/**
 * The strict envelope with no socket: JSON-RPC 2.0 §7 (params by name,
 * protocol/README.md §2 and §3) and each place json-rpc-2.0 1.8.1 deviates from the
 * spec.
 */
import { describe, expect, it } from 'vitest';
import { handleFrame, processFrame } from '../../src/rpc/envelope.js';
import type { CallRecord } from '../../src/rpc/envelope.js';
import { RpcError } from '../../src/rpc/method-table.js';
import type { RpcCallContext, RpcHandler } from '../../src/rpc/method-table.js';
import { fakeMethods } from '../helpers/ws.js';

function setup(maxBatch?: number) {
  const table = fakeMethods();
  const notifications: unknown[] = [];
  const records: CallRecord[] = [];
  const ctx: RpcCallContext = {
    platformName: '',
    connectionId: 1,
    notify: (method, params) => notifications.push({ method, params }) > 0,
    onClose: () => {},
    closeAfterResponse: () => {},
  };
  const opts = maxBatch === undefined ? { observe: (r: CallRecord) => records.push(r) } : { maxBatch, observe: (r: CallRecord) => records.push(r) };
  const send = async (frame: unknown): Promise<unknown> => {
    const out = await processFrame(typeof frame === 'string' ? frame : JSON.stringify(frame), table.handlers, ctx, opts);
    return out === undefined ? undefined : JSON.parse(out);
  };
  return { table, notifications, records, send };
}

const err = (id: unknown, code: number, message: string) => ({ jsonrpc: '2.0', id, error: expect.objectContaining({ code, message }) });

describe('processFrame: JSON-RPC 2.0 §7 examples (params by name)', () => {
  it('answers a call with named params', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'subtract', params: { subtrahend: 23, minuend: 42 }, id: 3 })).toEqual({ jsonrpc: '2.0', result: 19, id: 3 });
    expect(await send({ jsonrpc: '2.0', method: 'subtract', params: { minuend: 42, subtrahend: 23 }, id: 4 })).toEqual({ jsonrpc: '2.0', result: 19, id: 4 });
  });

  it('answers positional params with -32602 and the id, since params are by name only', async () => {
    const { send, table } = setup();
    const res = await send({ jsonrpc: '2.0', method: 'subtract', params: [42, 23], id: 1 });
    expect(res).toEqual(err(1, -32602, 'Invalid params'));
    expect((res as { error: { data: { issues: unknown[] } } }).error.data.issues).toEqual([{ path: [], message: expect.stringContaining('positional') }]);
    expect(table.calls).toEqual([]);
  });

  it('stays silent on notifications, whether or not they succeed', async () => {
    const { send, table } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'update', params: { a: [1, 2, 3, 4, 5] } })).toBeUndefined();
    expect(await send({ jsonrpc: '2.0', method: 'foobar' })).toBeUndefined();
    expect(await send({ jsonrpc: '2.0', method: 'boom' })).toBeUndefined();
    expect(await send({ jsonrpc: '2.0', method: 'subtract', params: [1, 2] })).toBeUndefined();
    expect(table.calls).toEqual(['update', 'boom']);
  });

  it('answers a non-existent method with -32601', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'foobar', id: '1' })).toEqual(err('1', -32601, 'Method not found'));
  });

  it('answers invalid JSON with -32700 and id null', async () => {
    const { send } = setup();
    expect(await send('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')).toEqual(err(null, -32700, 'Parse error'));
  });

  it('answers an invalid request object with -32600 and id null', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 1, params: 'bar' })).toEqual(err(null, -32600, 'Invalid Request'));
  });

  it('answers a batch of invalid JSON with one -32700', async () => {
    const { send } = setup();
    expect(await send('[ {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method" ]')).toEqual(err(null, -32700, 'Parse error'));
  });

  it('answers an empty batch with one -32600 object, not an array', async () => {
    const { send } = setup();
    expect(await send([])).toEqual(err(null, -32600, 'Invalid Request'));
  });

  it('answers [1] with an array of one -32600', async () => {
    const { send } = setup();
    expect(await send([1])).toEqual([err(null, -32600, 'Invalid Request')]);
  });

  it('answers [1,2,3] with three -32600', async () => {
    const { send } = setup();
    expect(await send([1, 2, 3])).toEqual([1, 2, 3].map(() => err(null, -32600, 'Invalid Request')));
  });

  it('answers a mixed batch member by member, in order, skipping notifications', async () => {
    const { send } = setup();
    const res = await send([
      { jsonrpc: '2.0', method: 'sum', params: { values: [1, 2, 4] }, id: '1' },
      { jsonrpc: '2.0', method: 'notify_hello', params: { values: [7] } },
      { jsonrpc: '2.0', method: 'subtract', params: { minuend: 42, subtrahend: 23 }, id: '2' },
      { foo: 'boo' },
      { jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
      { jsonrpc: '2.0', method: 'get_data', id: '9' },
    ]);
    expect(res).toEqual([
      { jsonrpc: '2.0', result: 7, id: '1' },
      { jsonrpc: '2.0', result: 19, id: '2' },
      err(null, -32600, 'Invalid Request'),
      err('5', -32601, 'Method not found'),
      { jsonrpc: '2.0', result: ['hello', 5], id: '9' },
    ]);
  });

  it('sends nothing for a batch of notifications only', async () => {
    const { send, table } = setup();
    expect(
      await send([
        { jsonrpc: '2.0', method: 'notify_sum', params: { values: [1, 2, 4] } },
        { jsonrpc: '2.0', method: 'notify_hello', params: { values: [7] } },
      ]),
    ).toBeUndefined();
    expect(table.calls).toEqual(['notify_sum', 'notify_hello']);
  });
});

describe('processFrame: where json-rpc-2.0 1.8.1 deviates', () => {
  it('answers a batch of one with an array of one', async () => {
    const { send } = setup();
    expect(await send([{ jsonrpc: '2.0', method: 'echo', params: { a: 1 }, id: 1 }])).toEqual([{ jsonrpc: '2.0', result: { a: 1 }, id: 1 }]);
  });

  it('answers {"jsonrpc":"2.0","method":1} without an id: it is invalid, not a notification', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 1 })).toEqual(err(null, -32600, 'Invalid Request'));
  });

  it('answers primitive and null params with -32602 and the id', async () => {
    const { send, table } = setup();
    for (const params of ['bar', 3, true, null]) {
      expect(await send({ jsonrpc: '2.0', method: 'echo', params, id: 7 })).toEqual(err(7, -32602, 'Invalid params'));
    }
    expect(table.calls).toEqual([]);
  });

  it('refuses object, array and boolean ids with -32600 and id null', async () => {
    const { send, table } = setup();
    for (const id of [{ a: 1 }, [1], true]) {
      expect(await send({ jsonrpc: '2.0', method: 'echo', id })).toEqual(err(null, -32600, 'Invalid Request'));
    }
    expect(await send('{"jsonrpc":"2.0","method":"echo","id":1e400}')).toEqual(err(null, -32600, 'Invalid Request'));
    expect(table.calls).toEqual([]);
  });

  it('answers [null] with an array of one -32600 instead of throwing', async () => {
    const { send } = setup();
    expect(await send([null])).toEqual([err(null, -32600, 'Invalid Request')]);
    expect(await send('null')).toEqual(err(null, -32600, 'Invalid Request'));
    expect(await send('"text"')).toEqual(err(null, -32600, 'Invalid Request'));
  });

  it('answers a plain thrown Error with -32603, never code 0', async () => {
    const { send } = setup();
    const res = await send({ jsonrpc: '2.0', method: 'boom', id: 1 });
    expect(res).toEqual(err(1, -32603, 'Internal error'));
    expect((res as { error: { data: unknown } }).error.data).toEqual({ message: 'kaboom' });
    expect(await send({ jsonrpc: '2.0', method: 'throwString', id: 2 })).toEqual(err(2, -32603, 'Internal error'));
    expect(await send({ jsonrpc: '2.0', method: 'zeroCode', id: 3 })).toEqual(err(3, -32603, 'Internal error'));
  });

  it('runs batch members one after another, in order', async () => {
    const { send, table } = setup();
    const res = await send([
      { jsonrpc: '2.0', method: 'slow', params: { ms: 40, tag: 'a' }, id: 1 },
      { jsonrpc: '2.0', method: 'slow', params: { ms: 0, tag: 'b' }, id: 2 },
      { jsonrpc: '2.0', method: 'slow', params: { ms: 20, tag: 'c' }, id: 3 },
    ]);
    expect(res).toEqual([1, 2, 3].map((id, i) => ({ jsonrpc: '2.0', id, result: ['a', 'b', 'c'][i] })));
    expect(table.timeline).toEqual(['start:a', 'end:a', 'start:b', 'end:b', 'start:c', 'end:c']);
  });
});

describe('processFrame: further envelope rules', () => {
  it('gives the id back on -32600 when the id is valid', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '1.0', method: 'echo', id: 'x' })).toEqual(err('x', -32600, 'Invalid Request'));
    expect(await send({ method: 'echo', id: 5 })).toEqual(err(5, -32600, 'Invalid Request'));
    expect(await send({ jsonrpc: '2.0', id: null })).toEqual(err(null, -32600, 'Invalid Request'));
    expect(await send({ jsonrpc: '2.0', method: 'echo', id: 6, result: 1 })).toEqual(err(6, -32600, 'Invalid Request'));
  });

  it('accepts a null id and answers it', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'echo', params: {}, id: null })).toEqual({ jsonrpc: '2.0', id: null, result: {} });
  });

  it('answers unregistered rpc.* names with -32601 and serves registered ones', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'rpc.other', id: 1 })).toEqual(err(1, -32601, 'Method not found'));
    expect(await send({ jsonrpc: '2.0', method: 'rpc.discover', id: 2 })).toEqual({ jsonrpc: '2.0', id: 2, result: { openrpc: '1.3.2' } });
  });

  it('does not treat Object.prototype names as methods', async () => {
    const { send } = setup();
    for (const method of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      expect(await send({ jsonrpc: '2.0', method, id: 1 })).toEqual(err(1, -32601, 'Method not found'));
    }
  });

  it('refuses a batch longer than maxBatch with one -32600 object', async () => {
    const { send, table } = setup(2);
    const member = { jsonrpc: '2.0', method: 'echo', id: 1 };
    expect(await send([member, member, member])).toEqual(err(null, -32600, 'Invalid Request'));
    expect(table.calls).toEqual([]);
    expect(await send([member, member])).toHaveLength(2);
  });

  it('maps EmuError codes: argument misuse to -32602 with issues, the rest to -320xx', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'misaligned', id: 1 })).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: {
        code: -32602,
        message: 'spa 0x1001 is not 4 KB aligned',
        data: { code: 'EMU_MISALIGNED', issues: [{ path: ['spa'], message: 'spa 0x1001 is not 4 KB aligned' }], detail: { path: ['spa'] } },
      },
    });
    expect(await send({ jsonrpc: '2.0', method: 'notFound', id: 2 })).toEqual({ jsonrpc: '2.0', id: 2, error: { code: -32001, message: 'no stream s-9', data: { code: 'EMU_NOT_FOUND' } } });
    expect(await send({ jsonrpc: '2.0', method: 'mystery', id: 3 })).toEqual(err(3, -32603, 'Internal error'));
  });

  it('keeps a handler RpcError as thrown', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'subtract', params: { minuend: 'x' }, id: 1 })).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32602, message: 'Invalid params', data: { issues: [{ path: ['minuend'], message: 'minuend and subtrahend must be numbers' }] } },
    });
  });

  it('sends bigints anywhere in a result as lowercase hex, and undefined as null', async () => {
    const { send } = setup();
    expect(await send({ jsonrpc: '2.0', method: 'big', id: 1 })).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: { max: '0xffffffffffffffff', zero: '0x0', list: ['0x1', '0xff'], words: ['0x10', '0xabc'], nested: { deep: [{ v: '0xdeadbeef' }] } },
    });
    expect(await send({ jsonrpc: '2.0', method: 'nothing', id: 2 })).toEqual({ jsonrpc: '2.0', id: 2, result: null });
  });

  it('answers a result that cannot be JSON with -32603, and the rest of the batch normally', async () => {
    const { send } = setup();
    expect(
      await send([
        { jsonrpc: '2.0', method: 'circular', id: 1 },
        { jsonrpc: '2.0', method: 'echo', params: { ok: true }, id: 2 },
      ]),
    ).toEqual([err(1, -32603, 'Internal error'), { jsonrpc: '2.0', id: 2, result: { ok: true } }]);
  });

  it('reports each call to observe, notifications and refusals included', async () => {
    const { send, records } = setup();
    await send([{ jsonrpc: '2.0', method: 'echo', id: 1 }, { jsonrpc: '2.0', method: 'boom' }, { jsonrpc: '2.0', method: 'nope', id: 2 }, 5]);
    await send('{');
    expect(records.map((r) => [r.method, r.outcome])).toEqual([
      ['echo', 'ok'],
      ['boom', -32603],
      ['(unknown)', -32601],
      ['(invalid)', -32600],
      ['(invalid)', -32700],
    ]);
  });
});

describe('handleFrame: answers at once when the handlers do (issue 4)', () => {
  const ctx: RpcCallContext = { platformName: '', connectionId: 1, notify: () => true, onClose: () => {}, closeAfterResponse: () => {} };
  const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
  const handlers = new Map<string, RpcHandler>([
    ['now', () => ({ nowNs: 5n })],
    [
      'later',
      async () => {
        await tick();
        return { nowNs: 7n };
      },
    ],
    [
      'laterBoom',
      async () => {
        await tick();
        throw new Error('late kaboom');
      },
    ],
    ['laterRefused', () => Promise.reject(new RpcError(-32001, 'no such stream'))],
  ]);
  const frame = (method: string, id?: number) => JSON.stringify(id === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, id });

  it('returns a string, not a promise, when every handler returns a plain value, batches included', () => {
    expect(handleFrame(frame('now', 1), handlers, ctx)).toBe('{"jsonrpc":"2.0","id":1,"result":{"nowNs":"0x5"}}');
    expect(handleFrame(`[${frame('now', 1)},${frame('now')},${frame('now', 2)}]`, handlers, ctx)).toBe('[{"jsonrpc":"2.0","id":1,"result":{"nowNs":"0x5"}},{"jsonrpc":"2.0","id":2,"result":{"nowNs":"0x5"}}]');
    expect(handleFrame(frame('now'), handlers, ctx)).toBeUndefined();
    expect(handleFrame('{', handlers, ctx)).toContain('-32700');
  });

  it('settles a promise-returning handler through the library, errors and notifications included', async () => {
    const internal: string[] = [];
    const records: CallRecord[] = [];
    const opts = { observe: (r: CallRecord) => records.push(r), onInternalError: (method: string) => internal.push(method) };
    const later = handleFrame(frame('later', 1), handlers, ctx, opts);
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe('{"jsonrpc":"2.0","id":1,"result":{"nowNs":"0x7"}}');
    expect(JSON.parse((await handleFrame(frame('laterBoom', 2), handlers, ctx, opts)) as string)).toEqual({
      jsonrpc: '2.0',
      id: 2,
      error: { code: -32603, message: 'Internal error', data: { message: 'late kaboom' } },
    });
    expect(JSON.parse((await handleFrame(frame('laterRefused', 3), handlers, ctx, opts)) as string)).toEqual({ jsonrpc: '2.0', id: 3, error: { code: -32001, message: 'no such stream' } });
    expect(await handleFrame(frame('later'), handlers, ctx, opts)).toBeUndefined();
    expect(internal).toEqual(['laterBoom']);
    expect(records.map((r) => [r.method, r.outcome])).toEqual([
      ['later', 'ok'],
      ['laterBoom', -32603],
      ['laterRefused', -32001],
      ['later', 'ok'],
    ]);
    expect(records[0]?.seconds).toBeGreaterThan(0);
  });

  it('keeps batch order when plain and promise-returning members mix', async () => {
    const out = handleFrame(`[${frame('now', 1)},${frame('later', 2)},${frame('now', 3)},${frame('later')},${frame('laterBoom', 4)},${frame('now', 5)}]`, handlers, ctx);
    expect(out).toBeInstanceOf(Promise);
    const answers = JSON.parse((await out) as string) as { id: number; result?: unknown; error?: { code: number } }[];
    expect(answers.map((a) => [a.id, a.result ?? a.error?.code])).toEqual([
      [1, { nowNs: '0x5' }],
      [2, { nowNs: '0x7' }],
      [3, { nowNs: '0x5' }],
      [4, -32603],
      [5, { nowNs: '0x5' }],
    ]);
  });
});

describe('processFrame: bounded answers and cancelled batches (issue 14)', () => {
  const ctxWith = (signal?: AbortSignal): RpcCallContext => ({
    platformName: '',
    connectionId: 1,
    notify: () => true,
    onClose: () => {},
    closeAfterResponse: () => {},
    ...(signal !== undefined ? { signal } : {}),
  });
  const handlers = new Map<string, RpcHandler>([
    ['blob', (params) => 'x'.repeat(Number(params?.n ?? 0))],
    ['slowBlob', async (params) => 'y'.repeat(Number(params?.n ?? 0))],
    ['count', () => ++counted],
  ]);
  let counted = 0;

  it('replaces every answer from the one that would pass maxResponseBytes by -32003, same ids, sync or async', async () => {
    for (const method of ['blob', 'slowBlob']) {
      const batch = Array.from({ length: 6 }, (_, i) => ({ jsonrpc: '2.0', id: i, method, params: { n: 1000 } }));
      const out = (await processFrame(JSON.stringify(batch), handlers, ctxWith(), { maxResponseBytes: 3500 })) as string;
      // The cap, plus the short -32003 objects of the refused members.
      expect(out.length).toBeLessThanOrEqual(3500 + 3 * 300);
      const answers = JSON.parse(out) as Array<{ id: number; result?: string; error?: { code: number } }>;
      expect(answers.map((a) => a.id)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(answers.map((a) => (a.error === undefined ? 'ok' : a.error.code))).toEqual(['ok', 'ok', 'ok', -32003, -32003, -32003]);
    }
    const single = JSON.parse((await processFrame(JSON.stringify({ jsonrpc: '2.0', id: 'a', method: 'blob', params: { n: 5000 } }), handlers, ctxWith(), { maxResponseBytes: 1024 })) as string);
    expect(single).toMatchObject({ id: 'a', error: { code: -32003, data: { limit: 'maxResponseBytes' } } });
  });

  it('stops running a batch once its connection is gone', async () => {
    counted = 0;
    const abort = new AbortController();
    const batch = [{ jsonrpc: '2.0', id: 0, method: 'slowBlob', params: { n: 1 } }, ...Array.from({ length: 5 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'count' }))];
    const pending = handleFrame(JSON.stringify(batch), handlers, ctxWith(abort.signal));
    abort.abort();
    expect(await pending).toBeUndefined();
    expect(counted).toBe(0);
  });
});
