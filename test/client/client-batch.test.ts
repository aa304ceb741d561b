/**
 * SmashEmuClient.batch through the real server: one frame, answers in call order,
 * a member's error as its outcome (the rest still run), smashes in a batch leaving
 * the platform as the same calls one by one do, and whole-batch failures.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionClosedError, RpcCallError, RpcTimeoutError, SmashEmuClient, type BatchCall } from '../../src/client/smash-emu-client.js';
import { useTestApp } from '../helpers/app.js';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';

const app = useTestApp();

async function smashArgs(c: SmashEmuClient) {
  await c.call('tmpm.setStallModel', { jitter: { dist: 'none', spreadNs: 0 } });
  const p = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  return { srcPgSpa: p.srcPgSpa, smashHpteSpa: p.smashHpteSpa, srcHpmdSpa: p.srcHpmdSpa, gctxSpa: p.gctxSpa };
}

describe('SmashEmuClient.batch', () => {
  it('runs the calls in order in one frame and answers each in place', async () => {
    const c = app().client;
    const out = await c.batch([{ method: 'clock.advance', params: { ns: 1000 } }, { method: 'clock.now' }, { method: 'clock.advance', params: { ns: 500 } }]);
    expect(out).toEqual([
      { ok: true, result: { nowNs: 1000 } },
      { ok: true, result: expect.objectContaining({ nowNs: 1000 }) },
      { ok: true, result: { nowNs: 1500 } },
    ]);
  });

  it('gives a member its JSON-RPC error as its outcome, and runs the members after it', async () => {
    const c = app().client;
    const out = await c.batch([
      { method: 'clock.advance', params: { ns: -1 } },
      { method: 'clock.advance', params: { ns: 7 } },
    ]);
    expect(out[0]?.ok).toBe(false);
    const err = (out[0] as { ok: false; error: RpcCallError }).error;
    expect(err).toBeInstanceOf(RpcCallError);
    expect(err.code).toBe(-32602);
    expect(err.method).toBe('clock.advance');
    expect(out[1]).toEqual({ ok: true, result: { nowNs: 7 } });
  });

  it('smashes in a batch leave the platform as the same calls one at a time do', async () => {
    const batched = app().client;
    const single = await app().connect('/platforms/single');
    const a = await smashArgs(batched);
    const b = await smashArgs(single);
    expect(b).toEqual(a);
    const un = { srcPgSpa: a.srcPgSpa, srcHpmdSpa: a.srcHpmdSpa, gctxSpa: a.gctxSpa };
    const calls: BatchCall[] = [];
    for (let i = 0; i < 3; i++) calls.push({ method: 'tmpm.psmashIo', params: a }, { method: 'tmpm.punsmashIo', params: un });
    calls.push({ method: 'tmpm.psmashIo', params: a });
    const out = await batched.batch(calls);
    const one: unknown[] = [];
    for (const call of calls) one.push(await (single.call as (m: string, p: unknown) => Promise<unknown>)(call.method, call.params));
    expect(out).toEqual(one.map((result) => ({ ok: true, result })));
    expect(out.every((o) => o.ok && (o.result as { statusName: string }).statusName === 'SUCCESS')).toBe(true);
    expect(await batched.call('emu.dumpState')).toEqual(await single.call('emu.dumpState'));
  });

  it('resolves an empty batch with [] without sending anything, and still works after', async () => {
    const c = app().client;
    expect(await c.batch([])).toEqual([]);
    expect((await c.call('clock.now')).nowNs).toBe(0);
  });

  it('rejects as a whole with ConnectionClosedError when the connection is closed', async () => {
    const c = await app().connect();
    await c.close();
    await expect(c.batch([{ method: 'clock.now' }])).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('rejects as a whole with RpcTimeoutError when the answer does not come in time', async () => {
    // A server that never answers.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    try {
      const c = await SmashEmuClient.connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
      try {
        await expect(c.batch([{ method: 'clock.now' }, { method: 'clock.now' }], { timeoutMs: 50 })).rejects.toBeInstanceOf(RpcTimeoutError);
      } finally {
        await c.close();
      }
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
