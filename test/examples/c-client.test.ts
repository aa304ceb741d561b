/**
 * The C kit, through the real server: the README's "From C" commands compile
 * examples/c/hello.c (the client library) and examples/c/tmpm_demo.c (a TMPM
 * driver of our own through the kernel shim) with gcc -std=c11 -Wall -Werror, and
 * both run against `smash-emu serve --unix` on a temporary socket. The README shows
 * hello.c as it is and both outputs as they are. gcc and libjansson-dev are
 * required (.ci/run installs them): without them this fails, it never skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT, cleanEnv } from '../helpers/processes.js';
import { commandLines, readmeBlocks } from '../helpers/readme-blocks.js';
import { METHOD_NAMES } from '../../src/protocol/methods.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-c-'));
const socket = join(dir, 'smash-emu.sock');
const blocks = readmeBlocks('## From C');
let server: ChildProcess | undefined;

/** Runs a README gcc line from the project root, writing the program into the temporary directory. */
function compile(line: string): string {
  const words = line.split(/\s+/).slice(1);
  const out = words.indexOf('-o');
  expect(out).toBeGreaterThan(0);
  const exe = join(dir, words[out + 1] as string);
  words[out + 1] = exe;
  const r = spawnSync('gcc', words, { cwd: ROOT, encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`gcc could not run (${r.error.message}): install gcc and libjansson-dev (.ci/run does)`);
  expect(r.stderr, `gcc ${words.join(' ')}`).toBe('');
  expect(r.status).toBe(0);
  return exe;
}

function run(exe: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(exe, args, { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  server = spawn(process.execPath, ['bin/smash-emu.mjs', 'serve', '--port', '0', '--unix', socket], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  server.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  await new Promise<void>((resolve, reject) => {
    server?.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('smash-emu listening on ws://')) resolve();
    });
    server?.once('close', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
});

afterAll(async () => {
  if (server !== undefined && server.exitCode === null) {
    const closed = new Promise((resolve) => server?.once('close', resolve));
    server.kill('SIGTERM');
    await closed;
  }
  rmSync(dir, { recursive: true, force: true });
});

it('README "From C" shows examples/c/hello.c exactly, and the commands the test runs', () => {
  const c = blocks.filter((b) => b.lang === 'c');
  expect(c).toHaveLength(1);
  expect(c[0]?.body).toBe(readFileSync(join(ROOT, 'examples/c/hello.c'), 'utf8'));
  const gcc = commandLines(blocks, 'gcc');
  expect(gcc).toHaveLength(2);
  for (const line of gcc) expect(line).toContain('-std=c11 -Wall -Werror');
});

it("hello.c: connect, attach, memory, a subscription's callback, a call, a register, the clock, an error", async () => {
  const exe = compile(commandLines(blocks, 'gcc')[0] as string);
  const r = await run(exe, [socket]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(blocks.filter((b) => b.lang === 'text')[0]?.body);
  expect(r.stdout).toContain('event tmpm at 1000 ns: NOOP\ntmpm.submit: 0 SUCCESS\n');
  expect(r.stdout).toContain('error -32602: Invalid params: spa: must be 8-byte-aligned');
});

it('the TMPM driver through the kernel shim: bring-up, capabilities, PSMASH_IO, refusals, timeout, ring full, WPTR_ERR and its interrupt', async () => {
  const exe = compile(commandLines(blocks, 'gcc')[1] as string);
  const r = await run(exe, [socket, 'tmpm-demo']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines).toContain('bring-up: 0, STATUS 0x80000003, ring 2 MB aligned: yes');
  expect(lines).toContain('GET_CAPABILITIES: 0, fw 1.0, spec 0.51, support 0xc0 (PSMASH 1, PUNSMASH 1)');
  expect(lines).toContain('PSMASH_IO: 0, status 0xf0 SUCCESS, gctx word status 0xf0, IOVA 0x203000 now a 2^12 leaf');
  expect(lines).toContain('PSMASH_IO again: -EIO, status 0x0a INVALID_HPTE_PADDR');
  expect(lines).toContain('command 0x7f: 0, status 0x0b INVALID_COMMAND');
  expect(lines).toContain('NOOP while paused: -ETIMEDOUT after 25025 us of virtual time');
  expect(lines).toContain('ring full: 255 entries pending, then -EAGAIN');
  expect(lines).toContain('resumed: 0, tail 3, 255 slots SUCCESS');
  // The interrupt handler ran (its dev_err line) before the write that raised it returned.
  const irq = lines.indexOf('[err] tmpm: interrupt: STATUS 0x84000003 WPTR_ERR: the engine stopped');
  expect(irq).toBeGreaterThan(0);
  expect(lines[irq + 1]).toBe('WPTR_ERR: interrupts 1, STATUS 0x84000003, stopped 1');
  expect(lines).toContain('restart: 0, NOOP 0 status 0xf0 SUCCESS');
  expect(lines).toContain('shutdown: 0, STATUS 0x80000001, audit violations 0');
  expect(r.stdout).toBe(blocks.filter((b) => b.lang === 'text')[1]?.body);
});

it('clients/c/tests: the client library and the shim, case by case (mirror, queue, errors, irq masking, transport failure)', async () => {
  const exe = compile('gcc -std=c11 -Wall -Werror -Iclients/c clients/c/tests/test_smash_emu.c clients/c/smash_emu.c -ljansson -o test_smash_emu');
  const r = await run(exe, [socket, 'c-tests']);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines.at(-1)).toBe('1..9');
  expect(lines.slice(0, -1).every((l) => l.startsWith('ok '))).toBe(true);
  // psp.* is wrapped by the library; its case runs whenever the server has the methods.
  const hasPsp = (METHOD_NAMES as string[]).includes('psp.readReg');
  expect(lines.some((l) => l.includes('# SKIP'))).toBe(!hasPsp);
  expect(r.stderr).toContain('readl at 0xfed40040: in no MMIO window');
});
