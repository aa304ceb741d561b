/**
 * Socket tests of the line transport (`serve --unix PATH`, protocol/README.md
 * §1.9): the same contract as the WebSocket, one JSON text per line, through the
 * real server on a Unix socket in a temporary directory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import type { ServerOptionsInput } from '../../src/rpc/options.js';
import { LineClient } from '../helpers/line.js';
import { ROOT, cleanEnv } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-line-'));
let nextSock = 0;
const sockPath = () => join(dir, `s${nextSock++}.sock`);
const apps: RunningApp[] = [];
const lines: LineClient[] = [];
const wsClients: SmashEmuClient[] = [];

afterEach(async () => {
  for (const c of lines.splice(0)) c.close();
  await Promise.all(wsClients.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(server: ServerOptionsInput = {}): Promise<RunningApp & { unixPath: string }> {
  const app = await startApp({ scenario: DEFAULT_SCENARIO, validateResults: true, server: { host: '127.0.0.1', port: 0, pingMs: 0, unixPath: sockPath(), ...server } });
  apps.push(app);
  return app as RunningApp & { unixPath: string };
}

async function connect(app: { unixPath: string }): Promise<LineClient> {
  const c = await LineClient.connect(app.unixPath);
  lines.push(c);
  return c;
}

describe('the socket file', () => {
  it('is created with mode 0600 and removed when the server closes', async () => {
    const app = await serve();
    const st = lstatSync(app.unixPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    const c = await connect(app);
    expect((await c.call('clock.now')).nowNs).toBe(0);
    await app.close();
    apps.length = 0;
    expect(existsSync(app.unixPath)).toBe(false);
    // The client was told why, then the stream ended.
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'session.closed', params: { code: 1001, reason: 'server shutting down' } });
    expect(await c.next()).toBeUndefined();
  });

  it("replaces a dead server's socket file, and refuses a live one or a file that is not a socket", async () => {
    const stale = sockPath();
    // A socket file nobody listens on, as a killed server leaves it (bound, never unlinked).
    const made = spawnSync('/usr/bin/python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
    expect(made.status).toBe(0);
    expect(lstatSync(stale).isSocket()).toBe(true);
    const app = await serve({ unixPath: stale });
    const c = await connect(app);
    expect((await c.call('emu.info')).platform).toBe('');
    await expect(serve({ unixPath: stale })).rejects.toThrow(/another server is listening/);
    writeFileSync(join(dir, 'placeholder'), '');
    await expect(serve({ unixPath: join(dir, 'placeholder') })).rejects.toThrow(/not a socket/);
    // The refused starts did not take the live server's socket away.
    expect((await c.call('clock.now')).nowNs).toBe(0);
    expect(lstatSync(stale).isSocket()).toBe(true);
  });

  it('asks no token, even when the WebSocket requires one', async () => {
    const app = await serve({ token: 'sekrit' });
    const c = await connect(app);
    expect((await c.call('clock.advance', { ns: 5 })).nowNs).toBe(5);
  });
});

describe('frames', () => {
  it('answers single requests, batches (in order, notifications unanswered) and protocol errors as the WebSocket does', async () => {
    const app = await serve();
    const c = await connect(app);
    c.send('{"jsonrpc":"2.0","id":1,"method":"clock.now"}\r\n');
    expect(await c.next()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { nowNs: 0 } });
    // A blank line is skipped; a batch is one line and gets one line back.
    c.send('\n   \n[{"jsonrpc":"2.0","id":"a","method":"clock.advance","params":{"ns":10}},{"jsonrpc":"2.0","method":"clock.advance","params":{"ns":5}},{"jsonrpc":"2.0","id":"b","method":"clock.now"}]\n');
    expect(await c.next()).toMatchObject([
      { jsonrpc: '2.0', id: 'a', result: { nowNs: 10 } },
      { jsonrpc: '2.0', id: 'b', result: { nowNs: 15 } },
    ]);
    // A lone notification runs and gets nothing: the next line is the next answer.
    c.send({ jsonrpc: '2.0', method: 'clock.advance', params: { ns: 100 } });
    c.send('{not json\n');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    c.send('[]\n');
    expect((await c.next()).error.code).toBe(-32600);
    expect((await c.request('clock.now')).result.nowNs).toBe(115);
    const bad = await c.request('mem.read64', { spa: 'nope', count: 1 });
    expect(bad.error.code).toBe(-32602);
    expect(bad.error.data.issues[0].path).toEqual(['spa']);
    expect((await c.request('no.such')).error.code).toBe(-32601);
  });

  it('sends notifications a call causes before its answer', async () => {
    const app = await serve();
    const c = await connect(app);
    const { subscriptionId } = await c.call('events.subscribe', { topics: ['tmpm'] });
    const skipped: any[] = [];
    const r = await c.request('tmpm.submit', { command: 1, listSpa: '0x1000' }, skipped);
    expect(r.result.statusName).toBe('SUCCESS');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ jsonrpc: '2.0', method: 'events.notify', params: { subscriptionId, topic: 'tmpm', data: { kind: 'command', commandName: 'NOOP' } } });
  });

  it('refuses a line over --max-frame-bytes: session.closed 1009, then the end of the stream', async () => {
    const app = await serve({ maxFrameBytes: 200 });
    const c = await connect(app);
    const fits = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'clock.now', params: {} });
    expect(fits.length).toBeLessThan(200);
    c.send(fits + '\n');
    expect((await c.next()).result.nowNs).toBe(0);
    c.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'clock.now', params: { pad: 'x'.repeat(300) } }) + '\n');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'session.closed', params: { code: 1009, reason: 'a line is at most 200 bytes (--max-frame-bytes)' } });
    expect(await c.next()).toBeUndefined();
    // Also when the line never ends: refused as soon as it passes the limit.
    const d = await connect(app);
    d.send('['.repeat(201));
    expect((await d.next()).params.code).toBe(1009);
    await d.closed;
  });

  it('applies --max-batch, and refuses a line that is not UTF-8 with 1007', async () => {
    const app = await serve({ maxBatch: 2 });
    const c = await connect(app);
    const call = { jsonrpc: '2.0', id: 1, method: 'clock.now' };
    c.send([call, call, call]);
    const r = await c.next();
    expect(r.error.code).toBe(-32600);
    expect(r.error.data.reason).toMatch(/maxBatch 2/);
    c.socket.write(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    expect((await c.next()).params.code).toBe(1007);
    await c.closed;
  });

  it('answers what a client sent before it ended its side (the last line may lack its newline), then ends', async () => {
    const app = await serve();
    const c = await connect(app);
    c.send('{"jsonrpc":"2.0","id":1,"method":"clock.advance","params":{"ns":7}}\n{"jsonrpc":"2.0","id":2,"method":"clock.now"}');
    c.socket.end();
    expect((await c.next()).result.nowNs).toBe(7);
    expect((await c.next()).result.nowNs).toBe(7);
    expect(await c.next()).toBeUndefined();
  });

  it('closes the connection after a fault rule with close: true, saying so', async () => {
    const app = await serve();
    const c = await connect(app);
    await c.call('fault.add', { method: 'clock.now', close: true });
    expect((await c.request('clock.now')).result.nowNs).toBe(0);
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'session.closed', params: { code: 4000, reason: 'closed by fault injection' } });
  });
});

describe('session.attach', () => {
  it('moves the connection to a named platform, shared with the WebSocket path of that name', async () => {
    const app = await serve();
    const c = await connect(app);
    expect(await c.call('session.attach', { platform: 'lab-1' })).toEqual({ ok: true, platform: 'lab-1' });
    expect((await c.call('emu.info')).platform).toBe('lab-1');
    await c.call('clock.advance', { ns: 1234 });
    const ws = await SmashEmuClient.connect(app.url + '/platforms/lab-1');
    wsClients.push(ws);
    expect((await ws.call('clock.now')).nowNs).toBe(1234);
    // The default platform did not move.
    const d = await connect(app);
    expect((await d.call('clock.now')).nowNs).toBe(0);
    const listed = (await d.call('emu.platforms')).platforms.find((p: { name: string }) => p.name === 'lab-1');
    expect(listed.connections).toBe(2);
    // Neither journaled nor recorded on either platform.
    expect((await c.call('journal.count', { method: 'session.attach' })).count).toBe(0);
    expect((await d.call('journal.count', { method: 'session.attach' })).count).toBe(0);
  });

  it('attaches as a notification too (no answer), and a second connection to the same name shares the platform', async () => {
    const app = await serve();
    const c = await connect(app);
    c.send({ jsonrpc: '2.0', method: 'session.attach', params: { platform: 'quiet' } });
    await c.call('clock.advance', { ns: 42 });
    expect((await c.call('emu.info')).platform).toBe('quiet');
    const d = await connect(app);
    await d.call('session.attach', { platform: 'quiet' });
    expect((await d.call('clock.now')).nowNs).toBe(42);
    expect([...app.platforms().keys()]).toEqual(['', 'quiet']);
  });

  it('refuses a bad name (-32602), a call that is not the first (-32002) and one in a batch (-32002), changing nothing', async () => {
    const app = await serve();
    const a = await connect(app);
    const bad = await a.request('session.attach', { platform: '../etc' });
    expect(bad.error.code).toBe(-32602);
    expect(bad.error.data.issues[0].path).toEqual(['platform']);
    expect((await a.call('emu.info')).platform).toBe('');

    const b = await connect(app);
    await b.call('clock.now');
    const late = await b.request('session.attach', { platform: 'x' });
    expect(late.error.code).toBe(-32002);
    expect(late.error.message).toMatch(/first call/);
    expect((await b.call('emu.info')).platform).toBe('');

    const c = await connect(app);
    c.send([{ jsonrpc: '2.0', id: 1, method: 'session.attach', params: { platform: 'x' } }]);
    expect((await c.next())[0].error.code).toBe(-32002);
    expect(app.platforms().has('x')).toBe(false);
  });

  it('counts against --max-platforms (-32003 with the fixes named), and the WebSocket refuses it', async () => {
    const app = await serve({ maxPlatforms: 1 });
    expect(await (await connect(app)).call('session.attach', { platform: 'one' })).toEqual({ ok: true, platform: 'one' });
    const r = await (await connect(app)).request('session.attach', { platform: 'two' });
    expect(r.error.code).toBe(-32003);
    expect(r.error.data).toEqual({ code: 'EMU_LIMIT', detail: { limit: 'maxPlatforms', maxPlatforms: 1 } });
    expect(r.error.message).toMatch(/DELETE \/platforms\/NAME/);
    // An existing platform is not a new one.
    expect((await (await connect(app)).call('session.attach', { platform: 'one' })).platform).toBe('one');
    const ws = await SmashEmuClient.connect(app.url);
    wsClients.push(ws);
    await expect(ws.call('session.attach' as never, { platform: 'one' } as never)).rejects.toMatchObject({ code: -32002 });
  });

  it('a deleted platform closes its line connections with session.closed 1001', async () => {
    const app = await serve();
    const c = await connect(app);
    await c.call('session.attach', { platform: 'gone' });
    const res = await fetch(`http://127.0.0.1:${app.port}/platforms/gone`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'session.closed', params: { code: 1001, reason: 'platform deleted' } });
    expect(await c.next()).toBeUndefined();
  });
});

describe('smash-emu serve --unix', () => {
  const procs: ChildProcess[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  });

  async function start(args: string[], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; stderr: () => string; exited: Promise<number | null> }> {
    const proc = spawn(process.execPath, ['bin/smash-emu.mjs', 'serve', '--port', '0', ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(proc);
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    proc.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
    await new Promise<void>((resolve, reject) => {
      proc.stdout?.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (out.includes('smash-emu listening on ws://')) resolve();
      });
      void exited.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    return { proc, stderr: () => err, exited };
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`serves the socket from the flag and removes it on ${signal}`, async () => {
      const path = sockPath();
      const s = await start(['--unix', path]);
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      const c = await LineClient.connect(path);
      lines.push(c);
      expect((await c.call('emu.info')).name).toBe('smash-emu');
      s.proc.kill(signal);
      expect(await s.exited).toBe(0);
      expect(existsSync(path)).toBe(false);
      expect((await c.next()).params.code).toBe(1001);
      expect(s.stderr()).toContain(`line transport (newline-delimited JSON) on unix:${path}`);
    });
  }

  it('takes the path from SMASH_EMU_UNIX', async () => {
    const path = sockPath();
    const s = await start([], { SMASH_EMU_UNIX: path });
    const c = await LineClient.connect(path);
    lines.push(c);
    expect((await c.call('clock.now')).nowNs).toBe(0);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('refuses to start on a path that is not a socket, saying why, and leaves the file', async () => {
    const path = join(dir, 'a-file');
    writeFileSync(path, 'keep me');
    const proc = spawn(process.execPath, ['bin/smash-emu.mjs', 'serve', '--port', '0', '--unix', path], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(proc);
    let err = '';
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
    expect(code).not.toBe(0);
    expect(err).toMatch(/the path exists and is not a socket/);
    expect(existsSync(path)).toBe(true);
  });
});
