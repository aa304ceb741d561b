/**
 * The servers the RPC figures are measured against, run in a child process (as
 * `smash-emu serve` would be) so the benchmark's clients do not share their event
 * loop: the real application (startApp, default scenario) and a raw `ws` echo
 * server with the same defaults, both on 127.0.0.1:0. Prints one JSON line with
 * both URLs; closes both and exits when its stdin ends (the parent closed it or died).
 * A stdin line `cpu` prints its CPU time so far (a JSON line).
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { startApp } from '../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../src/platform/scenario.js';
import { firstJsonLine, isMain, spawnBench } from './util.js';
import type { ChildProcess } from 'node:child_process';

export interface ServerUrls {
  appUrl: string;
  echoUrl: string;
}

/** A raw WebSocket echo: every frame goes back as the same bytes. */
export async function startEcho(): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await once(wss, 'listening');
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

async function main(): Promise<void> {
  const app = await startApp({ scenario: DEFAULT_SCENARIO, server: { host: '127.0.0.1', port: 0, pingMs: 0 } });
  const echo = await startEcho();
  const urls: ServerUrls = { appUrl: app.url, echoUrl: echo.url };
  process.stdout.write(JSON.stringify(urls) + '\n');
  // A stdin line `cpu` asks for this process's CPU time so far (user + system, ms).
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line !== 'cpu') return;
    const u = process.cpuUsage();
    process.stdout.write(JSON.stringify({ cpuMs: (u.user + u.system) / 1000 }) + '\n');
  });
  process.stdin.once('end', () => {
    void Promise.all([app.close(1000), echo.close()]).then(() => process.exit(0));
  });
}

/** Starts this file as a child; `stop` ends its stdin and waits for it to exit. */
export async function startServers(): Promise<ServerUrls & { pid: number; stop(): Promise<void>; cpuMs(): Promise<number> }> {
  const child: ChildProcess = spawnBench(
    './servers.ts',
    [],
    (process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== ''),
  );
  const urls = await firstJsonLine<ServerUrls>(child);
  return {
    ...urls,
    /** The servers' process (its RSS is the server's). */
    pid: child.pid as number,
    /** The child's CPU time so far (user + system), ms. */
    cpuMs: async () => {
      const answer = firstJsonLine<{ cpuMs: number }>(child);
      child.stdin?.write('cpu\n');
      return (await answer).cpuMs;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin?.end();
      await exited;
    },
  };
}

if (isMain(import.meta.url)) {
  void main();
}
