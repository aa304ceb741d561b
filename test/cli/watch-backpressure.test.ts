/**
 * Socket test: `smash-emu watch` whose stdout is a pipe nobody reads (a paused
 * `less`) stops reading its socket instead of holding every event in its memory.
 * Seen from the server: the unsent events pile up in the server's own buffer for that
 * connection until it passes maxBufferedBytes and the server cuts the reader off
 * (1008, smash_emu_connections_cut_off_total), which can only happen when the watch
 * stopped reading; a watch that kept reading into its own memory is never cut off,
 * and this test would run into its timeout. Once stdout is read again, the watch
 * prints what it had, sees the close and says why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { ROOT, cleanEnv } from '../helpers/processes.js';

let t: AppUnderTest | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await t?.stop();
});

async function cutOffs(app: AppUnderTest): Promise<number> {
  const text = await (await fetch(`${app.app.url.replace(/^ws:/, 'http:')}/metrics`)).text();
  const m = /^smash_emu_connections_cut_off_total\{platform="bp"\} (\d+)$/m.exec(text);
  return m === null ? 0 : Number(m[1]);
}

it('smash-emu watch with an unread stdout pipe pauses its socket until the server cuts it off, and says so once read', async () => {
  const app = await startTestApp({ server: { maxBufferedBytes: 256 * 1024 } });
  t = app;
  // stdout is a pipe this test does not read (no 'data' listener): it fills and stays full.
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'watch', '--url', `${app.app.url}/platforms/bp`, '--topics', 'dma'], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
  await new Promise<void>((resolve, reject) => {
    proc.stderr.on('data', () => {
      if (stderr.includes('watching dma')) resolve();
    });
    void exited.then((code) => reject(new Error(`watch exited with ${code}: ${stderr}`)));
  });

  // A flood of DMA faults: the untrusted device past its 64 MiB, each one an event.
  const c = await app.connect('/platforms/bp');
  await c.call('dma.startStream', { deviceId: 0x200, iovaBase: '0x8000000', length: '0x100000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
  let advanced = 0;
  while ((await cutOffs(app)) === 0) {
    await c.call('clock.advance', { ns: 5_000_000 });
    advanced++;
    // Far more events than any buffer between the two would hold (~100 MB of lines).
    expect(advanced, 'the server never had to cut the watch off: it kept reading').toBeLessThan(100);
    expect(proc.exitCode).toBeNull();
  }
  expect(await cutOffs(app)).toBe(1);

  // Reading stdout again lets it go on: it prints the events it had, then sees the close.
  let lines = 0;
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (lines += chunk.split('\n').length - 1));
  expect(await exited).toBe(1);
  expect(lines).toBeGreaterThan(0);
  expect(stderr).toMatch(/the server closed the connection \(1008 [^)]*\); the events were not read fast enough/);
}, 120_000);
