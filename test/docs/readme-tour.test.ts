/**
 * The README's five-minute tour shows exactly what a user sees, and the test runs
 * it the way a user types it, with what `npm ci` built (dist/, built first when
 * stale): `$ npm start` is a real `npm start -- --port 0` in the checkout (its banner
 * and ready line compared, the port aside), and every `$ npx smash-emu call ...` is
 * that command run by a shell-less spawn of `npx` in the checkout against that
 * server (default scenario, seed 1, virtual time: the values are exact). The lines
 * under each command must be its stdout followed by its stderr, character for
 * character; `$ echo $?` shows the exit code of the command before it.
 *
 * Changing the tour: edit the commands in README.md, then run
 * `UPDATE_README=1 npx vitest run test/docs/readme-tour.test.ts` to write the real
 * outputs under them, and read the diff. That mode still checks what does not come
 * from the README: every step runs, the shown exit codes are those of the commands,
 * and the rewritten README reads back as exactly what ran.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/package.js';
import { ROOT, cleanEnv } from '../helpers/processes.js';

const README = join(ROOT, 'README.md');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; scripts: { start: string } };

interface Step {
  command: string;
  /** The lines under the command, as README shows them. */
  shown: string;
  /** Offsets of `shown` in the README text, for UPDATE_README. */
  start: number;
  end: number;
}

/** The `$ ` commands of the sh blocks of the tour section, each with the text under it. */
function tourSteps(text: string): Step[] {
  const from = text.indexOf('## A five-minute tour');
  const to = text.indexOf('\n## ', from + 1);
  const steps: Step[] = [];
  const blockRe = /```sh\n([\s\S]*?)```/g;
  blockRe.lastIndex = from;
  for (let m = blockRe.exec(text); m !== null && m.index < to; m = blockRe.exec(text)) {
    const bodyStart = m.index + '```sh\n'.length;
    const body = m[1] as string;
    const lineRe = /^\$ (.*)\n/gm;
    const commands = [...body.matchAll(lineRe)];
    commands.forEach((c, i) => {
      const outStart = (c.index as number) + c[0].length;
      const outEnd = i + 1 < commands.length ? (commands[i + 1]!.index as number) : body.length;
      steps.push({ command: c[1] as string, shown: body.slice(outStart, outEnd), start: bodyStart + outStart, end: bodyStart + outEnd });
    });
  }
  return steps;
}

/** Words of a command line as a POSIX shell splits them (single quotes only, as the tour uses). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|(\S+)/g)) out.push(m[1] ?? (m[2] as string));
  return out;
}

/** What `npm start -- ARGS` prints on stdout: npm's banner, then the ready line. */
function npmStartOutput(args: string[], url: string): string {
  const script = [pkg.scripts.start, ...args].join(' ');
  return `\n> ${pkg.name}@${pkg.version} start\n> ${script}\n\nsmash-emu listening on ${url}\n`;
}

/** The tour's server: `npm start -- --port 0` in the checkout, in its own process group. */
let server: { proc: ReturnType<typeof spawn>; out: () => string; closed: Promise<number | null>; url: string } | undefined;

beforeAll(async () => {
  await ensureBuilt();
  const proc = spawn('npm', ['start', '--', '--port', '0'], { cwd: ROOT, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const closed = new Promise<number | null>((resolve) => proc.once('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /smash-emu listening on (\S+)\n/.exec(out);
      if (m !== null) resolve(m[1] as string);
    });
    void closed.then((code) => reject(new Error(`npm start exited with ${code}: ${out}`)));
  });
  server = { proc, out: () => out, closed, url };
}, 600_000);

afterAll(async () => {
  if (server === undefined) return;
  try {
    process.kill(-(server.proc.pid as number), 'SIGTERM');
  } catch {
    // already gone
  }
  await server.closed;
});

/** `npx smash-emu ARGS` as typed in the checkout; stdout then stderr, as the tour shows them. */
function npx(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn('npx', ['smash-emu', ...args], { cwd: ROOT, env: cleanEnv({ SMASH_EMU_URL: (server as { url: string }).url }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it("README: npm start prints npm's banner and then exactly one line, as the tour shows", () => {
  const s = server as { out: () => string; url: string };
  expect(s.out()).toBe(npmStartOutput(['--port', '0'], s.url));
});

it('README: a five-minute tour, output for output, through the commands users type', async () => {
  const s = server as { out: () => string; url: string };
  const text = readFileSync(README, 'utf8');
  const steps = tourSteps(text);
  expect(steps.filter((step) => step.command.startsWith('npx smash-emu call')).length).toBeGreaterThan(8);
  const actual: string[] = [];
  const codes: (number | null)[] = [];
  let lastCode: number | null | undefined;
  for (const step of steps) {
    const argv = words(step.command);
    let out: string;
    if (step.command === 'npm start') {
      // What ran is `npm start -- --port 0`; the tour shows the default port and no flags.
      out = s.out().replace(npmStartOutput(['--port', '0'], s.url), npmStartOutput([], 'ws://127.0.0.1:8547'));
    } else if (step.command === 'echo $?') {
      if (lastCode === undefined) throw new Error('README: `echo $?` before any command');
      out = `${lastCode}\n`;
    } else if (argv[0] === 'npx' && argv[1] === 'smash-emu' && argv[2] === 'call') {
      const r = await npx(argv.slice(2));
      lastCode = r.code;
      codes.push(r.code);
      out = r.stdout + r.stderr;
    } else {
      throw new Error(`README tour: no way to check "$ ${step.command}"; the tour uses npx smash-emu call, echo $? and npm start`);
    }
    actual.push(out);
  }
  // Whatever the README says: every call ran to an answer (exit 0, 3 or 4: a result,
  // a refused status, a JSON-RPC error), and the npm start step is the real banner.
  for (const code of codes) expect([0, 3, 4]).toContain(code);
  expect(codes.filter((c) => c === 0).length).toBeGreaterThan(8);
  expect(actual[steps.findIndex((step) => step.command === 'npm start')]).toBe(npmStartOutput([], 'ws://127.0.0.1:8547'));
  if (process.env.UPDATE_README === '1') {
    let next = text;
    for (let i = steps.length - 1; i >= 0; i--) next = next.slice(0, steps[i]!.start) + actual[i] + next.slice(steps[i]!.end);
    writeFileSync(README, next);
    // The rewrite reads back as what ran, and nothing outside the tour's outputs moved.
    const again = tourSteps(readFileSync(README, 'utf8'));
    expect(again.map((step) => step.command)).toEqual(steps.map((step) => step.command));
    expect(again.map((step) => step.shown)).toEqual(actual);
    return;
  }
  steps.forEach((step, i) => expect(step.shown, `$ ${step.command}`).toBe(actual[i]));
}, 600_000);
