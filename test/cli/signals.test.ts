/**
 * Socket tests: SIGTERM or SIGINT to exactly the process a user started saves the
 * state and frees the port, however the server was started: `npm start`, `npx
 * smash-emu serve`, the bin script, or a whole process group (Ctrl-C). Each
 * command runs in its own process group, killed after the test whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { ROOT, cleanEnv } from '../helpers/processes.js';

const READY = /smash-emu listening on (ws:\/\/127\.0\.0\.1:(\d+))\n/;
const dir = mkdtempSync(join(tmpdir(), 'smash-emu-signals-'));
const groups: number[] = [];

afterEach(() => {
  for (const pgid of groups.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  proc: ChildProcess;
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs `command args` in its own process group and waits for the ready line. */
async function start(command: string, args: string[], onReady?: (proc: ChildProcess) => void): Promise<Started> {
  const proc = spawn(command, args, { cwd: ROOT, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.push(proc.pid as number);
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const ready = new Promise<RegExpExecArray>((resolve, reject) => {
    proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = READY.exec(out);
      if (m !== null) {
        onReady?.(proc);
        resolve(m);
      }
    });
    void exited.then((code) => reject(new Error(`${command} exited with ${code} before it was ready: ${err}`)));
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const m = await ready;
  return { proc, url: m[1] as string, port: Number(m[2]), stdout: () => out, stderr: () => err, exited };
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether something still accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Leaves a mark in the default platform, to find in the saved state. */
async function mark(url: string, ns: number): Promise<void> {
  const client = await SmashEmuClient.connect(url);
  await client.call('clock.advance', { ns });
  await client.close();
}

function savedNowNs(statePath: string): number {
  const saved = JSON.parse(readFileSync(statePath, 'utf8')) as { platforms: Record<string, { clock?: { nowNs?: number } }> };
  return saved.platforms['']?.clock?.nowNs ?? -1;
}

/** The server saved its state with the clock at `nowNs`, and its port is free again. */
async function savedAndClosed(statePath: string, nowNs: number, port: number): Promise<void> {
  await until('the state file', () => existsSync(statePath));
  expect(savedNowNs(statePath)).toBe(nowNs);
  await until('the port to close', async () => !(await listening(port)));
}

describe('stopping the server by signalling the process the user started', () => {
  it('npm start: SIGTERM to npm saves the state, npm exits 0 and the port is free', async () => {
    const statePath = join(dir, 'npm-start.json');
    const s = await start('npm', ['start', '--', '--port', '0', '--state', statePath]);
    await mark(s.url, 111);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    await savedAndClosed(statePath, 111, s.port);
  });

  it('npx smash-emu serve: SIGTERM to npx (which runs the bin through a shell) saves the state and frees the port', async () => {
    const statePath = join(dir, 'npx.json');
    const s = await start('npx', ['smash-emu', 'serve', '--port', '0', '--state', statePath]);
    await mark(s.url, 222);
    s.proc.kill('SIGTERM');
    await s.exited;
    await savedAndClosed(statePath, 222, s.port);
  });

  it('the bin script: SIGINT saves the state and exits 0', async () => {
    const statePath = join(dir, 'bin.json');
    const s = await start(process.execPath, ['bin/smash-emu.mjs', 'serve', '--port', '0', '--state', statePath]);
    await mark(s.url, 333);
    s.proc.kill('SIGINT');
    expect(await s.exited).toBe(0);
    expect(savedNowNs(statePath)).toBe(333);
    expect(s.stdout()).toMatch(/^smash-emu listening on \S+\n$/);
  });

  it('a process group (Ctrl-C on npm start): one SIGINT to every process saves once and exits 0', async () => {
    const statePath = join(dir, 'group.json');
    const s = await start('npm', ['start', '--', '--port', '0', '--state', statePath]);
    await mark(s.url, 444);
    process.kill(-(s.proc.pid as number), 'SIGINT');
    expect(await s.exited).toBe(0);
    await savedAndClosed(statePath, 444, s.port);
  });

  it('SIGTERM sent the moment the ready line appears still saves the state', async () => {
    const statePath = join(dir, 'at-ready.json');
    const s = await start(process.execPath, ['bin/smash-emu.mjs', 'serve', '--port', '0', '--state', statePath], (proc) => proc.kill('SIGTERM'));
    expect(await s.exited).toBe(0);
    expect(existsSync(statePath)).toBe(true);
    expect(s.stderr()).toContain(`saved 1 platform state to ${statePath}`);
  });
});
