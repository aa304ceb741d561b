/**
 * Socket tests: the smash-emu command as a process (README.md "Run it, test it",
 * "Configuration", "Exit codes"; protocol/README.md §1.4). Each server listens on
 * 127.0.0.1:0 and tells its port in the ready line; every process still running is
 * killed after each test.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { launchNode, type Proc } from '../helpers/processes.js';

const READY = /^smash-emu listening on (ws:\/\/127\.0\.0\.1:(\d+))$/;
const dir = mkdtempSync(join(tmpdir(), 'smash-emu-process-'));
const running = new Set<ChildProcessWithoutNullStreams>();
const clients: SmashEmuClient[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const proc of running) proc.kill('SIGKILL');
  running.clear();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in one process (node --import tsx), so signals reach it directly. */
function launch(args: string[], env: Record<string, string> = {}, entry: string[] = ['--import', 'tsx', 'src/cli/main.ts']): Proc {
  return launchNode([...entry, ...args], running, { env });
}

async function run(args: string[], env: Record<string, string> = {}, entry?: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = launch(args, env, entry);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

interface Server extends Proc {
  url: string;
}

/** Starts `serve` and waits for its ready line. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const p = launch(['serve', ...(env['SMASH_EMU_PORT'] === undefined ? ['--port', '0'] : []), ...args], env);
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const line = p.stdout().split('\n')[0] ?? '';
      const m = READY.exec(line);
      if (m !== null && p.stdout().includes('\n')) resolve(m[1] as string);
    };
    p.proc.stdout.on('data', check);
    void p.exited.then((code) => reject(new Error(`serve exited with ${code} before it was ready: ${p.stderr()}`)));
  });
  return { ...p, url };
}

function connectTcp(port: number): Socket {
  const socket = createConnection(port, '127.0.0.1');
  socket.on('error', () => {});
  sockets.push(socket);
  return socket;
}

/** Sec-WebSocket-Key: any 16 bytes in base64; the server only echoes a hash of it. */
function anyKey(): string {
  return Buffer.from('smash-emu-test-k').toString('base64');
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function connect(url: string): Promise<SmashEmuClient> {
  const client = await SmashEmuClient.connect(url);
  clients.push(client);
  return client;
}

describe('smash-emu serve (process)', () => {
  it('prints exactly one ready line on stdout, with the port it picked', async () => {
    const server = await serve([]);
    expect(server.stdout()).toMatch(/^smash-emu listening on ws:\/\/127\.0\.0\.1:\d+\n$/);
    expect(Number(READY.exec(server.stdout().trim())?.[2])).toBeGreaterThan(0);
  });

  it('takes its settings from SMASH_EMU_* variables', async () => {
    const server = await serve([], { SMASH_EMU_PORT: '0', SMASH_EMU_CLOCK: 'realtime', SMASH_EMU_SPEED: '2' });
    const info = await (await connect(server.url)).call('emu.info');
    expect(info).toMatchObject({ clockMode: 'realtime', speed: 2 });
  });

  it('refuses a scenario file that breaks the schema, naming the key, with exit code 2', async () => {
    const path = join(dir, 'bad-scenario.json');
    writeFileSync(path, JSON.stringify({ clock: { mode: 'wall' } }));
    const r = await run(['serve', '--port', '0', '--scenario', path]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`smash-emu: --scenario ${path}: the scenario is not valid`);
    expect(r.stderr).toContain('scenario.clock.mode');
  });

  it('refuses a bad flag with exit code 2 and one line naming it', async () => {
    const r = await run(['--port', 'abc']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'smash-emu: --port must be an integer 0..65535, got "abc"\n' });
  });

  it('closes clients with 1001 on SIGINT and exits 0', async () => {
    const server = await serve([]);
    const ws = new WebSocket(server.url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    server.proc.kill('SIGINT');
    expect(await closed).toBe(1001);
    expect(await server.exited).toBe(0);
    expect(server.stdout()).toMatch(/^smash-emu listening on \S+\n$/);
  });

  it('exits at once, with code 1 and nothing saved, on a second signal during shutdown (more than 1 s after the first)', async () => {
    const statePath = join(dir, 'forced.json');
    const server = await serve(['--state', statePath]);
    // A peer that never answers the close handshake holds the shutdown for closeTimeoutMs (5 s).
    const port = Number(new URL(server.url).port);
    const socket = connectTcp(port);
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${anyKey()}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    server.proc.kill('SIGTERM');
    await until(() => server.stderr().includes('SIGTERM: closing clients'));
    // Within 1 s the same signal is a repeat of the first request (npm and process groups deliver one twice).
    server.proc.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(server.stderr()).not.toContain('exiting now');
    server.proc.kill('SIGTERM');
    // Exit code 1 and no state file: it did not wait out the held shutdown (which saves and exits 0).
    expect(await server.exited).toBe(1);
    expect(server.stderr()).not.toMatch(/saved \d+ platform state/);
    expect(server.stderr()).toContain(`SIGTERM again: exiting now, without finishing the shutdown; ${statePath} may not have been saved`);
    expect(existsSync(statePath)).toBe(false);
    socket.destroy();
  });

  it('saves every platform on SIGTERM (atomically) and restores them on restart with the same --state', async () => {
    const statePath = join(dir, 'saved.json');
    const first = await serve(['--state', statePath]);
    const home = await connect(first.url);
    const lab = await connect(`${first.url}/platforms/lab`);
    await home.call('clock.advance', { ns: 123_456 });
    await home.call('mem.write64', { spa: '0x80000000', values: ['0xdeadbeefcafef00d', '0x1'] });
    await lab.call('clock.advance', { ns: 42 });
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stderr()).toContain(`saved 2 platform states to ${statePath}`);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const saved = JSON.parse(readFileSync(statePath, 'utf8')) as { format: string; version: number; platforms: Record<string, unknown> };
    expect(saved.format).toBe('smash-emu-saved-state');
    expect(saved.version).toBe(1);
    expect(Object.keys(saved.platforms).sort()).toEqual(['', 'lab']);

    const second = await serve(['--state', statePath]);
    const home2 = await connect(second.url);
    expect(await home2.call('clock.now')).toMatchObject({ nowNs: 123_456 });
    expect(await home2.call('mem.read64', { spa: '0x80000000', count: 2 })).toEqual({ values: ['0xdeadbeefcafef00d', '0x1'] });
    expect(await (await connect(`${second.url}/platforms/lab`)).call('clock.now')).toMatchObject({ nowNs: 42 });
  });

  it('refuses a corrupt --state file with exit code 1 and leaves it byte-identical', async () => {
    const cases = {
      'not-json.json': '{"format": "smash-emu-saved-state", "vers',
      'rejected.json': JSON.stringify({ format: 'smash-emu-saved-state', version: 1, platforms: { '': { format: 'smash-emu-state', version: 1 } } }),
    };
    for (const [name, text] of Object.entries(cases)) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const r = await run(['serve', '--port', '0', '--state', path]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^smash-emu: --state ${path}: .+; the file is left untouched`));
      expect(readFileSync(path, 'utf8')).toBe(text);
      expect(readdirSync(dir).filter((f) => f.startsWith(`${name}.tmp-`))).toEqual([]);
    }
  });
});

describe('smash-emu call (process)', () => {
  it('prints the result as pretty JSON and exits 0', async () => {
    const server = await serve([]);
    const r = await run(['call', 'emu.info', '--url', server.url]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\{\n {2}"/);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: expect.any(String), platform: '', clockMode: 'virtual' });
  });

  it('sends JSON-PARAMS through bin/smash-emu.mjs', async () => {
    const server = await serve([]);
    const r = await run(['call', 'clock.advance', '{"ns": 5}'], { SMASH_EMU_URL: server.url }, ['bin/smash-emu.mjs']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ nowNs: 5 });
  });

  it('prints a JSON-RPC error as "error CODE: MESSAGE" and its data on stderr, with the nearest method names, and exits 4', async () => {
    const server = await serve([]);
    const r = await run(['call', 'emu.inf', '--url', server.url]);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error -32601: Method not found\n/);
    expect(JSON.parse(r.stderr.slice(r.stderr.indexOf('\n') + 1, r.stderr.lastIndexOf('}') + 1))).toEqual({ method: 'emu.inf', nearest: ['emu.info'] });
    expect(r.stderr).toContain('smash-emu: no method "emu.inf"; did you mean emu.info?\n');
  });

  it('exits 3 for a status other than SUCCESS, and 0 when --ok-status names it', async () => {
    const server = await serve([]);
    const failed = await run(['call', 'rmp.psmash', '{"spa": "0x1000"}', '--url', server.url]);
    expect(failed.code).toBe(3);
    expect(JSON.parse(failed.stdout)).toEqual({ rc: 1, rcName: 'FAIL_INPUT' });
    expect(failed.stderr).toBe('smash-emu: rmp.psmash answered FAIL_INPUT (exit 3; --ok-status FAIL_INPUT accepts it)\n');
    const accepted = await run(['call', 'rmp.psmash', '{"spa": "0x1000"}', '--url', server.url, '--ok-status', 'FAIL_INPUT']);
    expect(accepted).toMatchObject({ code: 0, stderr: '' });
  });

  it('needs the token when the server has one', async () => {
    const server = await serve(['--token', 's3cret']);
    const refused = await run(['call', 'emu.info', '--url', server.url]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/HTTP 401.*--token/);
    const allowed = await run(['call', 'emu.info', '--url', server.url], { SMASH_EMU_TOKEN: 's3cret' });
    expect(allowed.code).toBe(0);
  });

  it('says it cannot connect when no server listens, and exits 5', async () => {
    const server = await serve([]);
    server.proc.kill('SIGTERM');
    await server.exited;
    const r = await run(['call', 'emu.info', '--url', server.url]);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`smash-emu: cannot connect to ${server.url}: connect ECONNREFUSED ${server.url.slice('ws://'.length)}; is the server running? start it with smash-emu serve\n`);
  });

  it('refuses bad JSON-PARAMS with exit code 2 and the parse error', async () => {
    const r = await run(['call', 'mem.alloc', '{pages:1}']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^smash-emu: JSON-PARAMS is not valid JSON \(.+\), got "\{pages:1\}"\n$/);
  });
});
