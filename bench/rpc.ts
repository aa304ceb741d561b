/**
 * RPC against a raw echo (README.md "Performance"): `clock.now` over WebSocket at 1 and at 32
 * requests in flight, against a raw `ws` echo server answering the same frames
 * with the same bytes. Both servers run in one child process (servers.ts); the
 * same bare `ws` client drives both, sending `{"jsonrpc":"2.0","id":N,"method":"clock.now"}`
 * and counting answers. Rounds alternate rpc and echo (swapping which goes first);
 * rates are medians over rounds, ratios the median of each round's rpc/echo (a
 * pair measured back to back, so load from elsewhere on the machine mostly cancels).
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { median, nowMs, perSec } from './util.js';
import type { ServerUrls } from './servers.js';

export interface RpcResult {
  c1RpcPerSec: number;
  c1EchoPerSec: number;
  c1Ratio: number;
  c32RpcPerSec: number;
  c32EchoPerSec: number;
  c32Ratio: number;
}

export interface RpcSizes {
  rounds: number;
  /** Requests per round at 1 in flight, and at 32. */
  n1: number;
  n32: number;
}

export const FULL_RPC_SIZES: RpcSizes = { rounds: 21, n1: 1500, n32: 15_000 };
/** Rounds run first and not counted (JIT warm-up of both servers and the client). */
const WARMUP_ROUNDS = 2;

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return ws;
}

let nextId = 1;

/** Sends `n` frames keeping `inFlight` unanswered, resolves with the wall ms. */
function drive(ws: WebSocket, n: number, inFlight: number, checkAnswers: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    const send = () => {
      sent++;
      ws.send(`{"jsonrpc":"2.0","id":${nextId++},"method":"clock.now"}`);
    };
    const onMessage = (data: Buffer) => {
      if (checkAnswers && answered === 0 && !String(data).includes('"result"')) {
        ws.off('message', onMessage);
        reject(new Error(`clock.now did not answer a result: ${String(data)}`));
        return;
      }
      answered++;
      if (sent < n) send();
      else if (answered === n) {
        ws.off('message', onMessage);
        resolve(nowMs() - t0);
      }
    };
    ws.on('message', onMessage);
    const t0 = nowMs();
    for (let i = 0; i < Math.min(inFlight, n); i++) send();
  });
}

export async function rpcVsEcho(urls: ServerUrls, sizes: RpcSizes = FULL_RPC_SIZES): Promise<RpcResult> {
  const rpc = await open(urls.appUrl);
  const echo = await open(urls.echoUrl);
  const rate = { c1: { rpc: [] as number[], echo: [] as number[] }, c32: { rpc: [] as number[], echo: [] as number[] } };
  const ratios = { c1: [] as number[], c32: [] as number[] };
  for (let round = -WARMUP_ROUNDS; round < sizes.rounds; round++) {
    const rpcFirst = round % 2 === 0;
    for (const [key, c, n] of [
      ['c1', 1, sizes.n1],
      ['c32', 32, sizes.n32],
    ] as const) {
      const first = perSec(n, await drive(rpcFirst ? rpc : echo, n, c, rpcFirst));
      const second = perSec(n, await drive(rpcFirst ? echo : rpc, n, c, !rpcFirst));
      if (round < 0) continue;
      const [r, e] = rpcFirst ? [first, second] : [second, first];
      rate[key].rpc.push(r);
      rate[key].echo.push(e);
      ratios[key].push(r / e);
    }
  }
  rpc.close();
  echo.close();
  await Promise.all([once(rpc, 'close'), once(echo, 'close')]);
  return {
    c1RpcPerSec: median(rate.c1.rpc),
    c1EchoPerSec: median(rate.c1.echo),
    c1Ratio: median(ratios.c1),
    c32RpcPerSec: median(rate.c32.rpc),
    c32EchoPerSec: median(rate.c32.echo),
    c32Ratio: median(ratios.c32),
  };
}
