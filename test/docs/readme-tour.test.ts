/**
 * The README's five-minute tour shows exactly what a user sees. Every `$ npx
 * smash-emu call ...` line of the tour's sh blocks is run through the real CLI
 * code (in process, against a real server on 127.0.0.1:0, default scenario, seed
 * 1, virtual time: the values are exact), and the lines under it must be its
 * stdout followed by its stderr, character for character; `$ echo $?` shows the
 * exit code of the call before it; `$ npm start` shows npm's banner and the ready
 * line (checked against a real `npm start -- --port 0`).
 *
 * Changing the tour: edit the commands in README.md, then run
 * `UPDATE_README=1 npx vitest run test/docs/readme-tour.test.ts` to write the
 * real outputs under them, and read the diff.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, parseCallArgs, resolveCallOptions, type CallIo } from '../../src/cli/call.js';
import { CliError } from '../../src/cli/cli-error.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
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

let t: AppUnderTest;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

async function runCall(argv: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const io: CallIo = {
    stdout: (s) => (text += s),
    stderr: (s) => (text += s),
    async *stdinLines() {},
  };
  try {
    return { code: await call(resolveCallOptions(parseCallArgs(argv), { SMASH_EMU_URL: t.app.url }), io), text };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, text: `${text}smash-emu: ${err.message}\n` };
    throw err;
  }
}

it('README: a five-minute tour, output for output', async () => {
  const text = readFileSync(README, 'utf8');
  const steps = tourSteps(text);
  expect(steps.filter((s) => s.command.startsWith('npx smash-emu call')).length).toBeGreaterThan(8);
  const actual: string[] = [];
  let lastCode: number | undefined;
  for (const step of steps) {
    const argv = words(step.command);
    let out: string;
    if (step.command === 'npm start') {
      out = npmStartOutput([], 'ws://127.0.0.1:8547');
    } else if (step.command === 'echo $?') {
      if (lastCode === undefined) throw new Error('README: `echo $?` before any call');
      out = `${lastCode}\n`;
    } else if (argv[0] === 'npx' && argv[1] === 'smash-emu' && argv[2] === 'call') {
      const r = await runCall(argv.slice(3));
      lastCode = r.code;
      out = r.text;
    } else {
      throw new Error(`README tour: no way to check "$ ${step.command}"; the tour uses npx smash-emu call, echo $? and npm start`);
    }
    actual.push(out);
  }
  if (process.env.UPDATE_README === '1') {
    let next = text;
    for (let i = steps.length - 1; i >= 0; i--) next = next.slice(0, steps[i]!.start) + actual[i] + next.slice(steps[i]!.end);
    writeFileSync(README, next);
    return;
  }
  steps.forEach((step, i) => expect(step.shown, `$ ${step.command}`).toBe(actual[i]));
});

it('README: npm start prints npm\'s banner and then exactly one line, as the tour shows', async () => {
  const proc = spawn('npm', ['start', '--', '--port', '0'], { cwd: ROOT, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const closed = new Promise<number | null>((resolve) => proc.once('close', resolve));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const m = /smash-emu listening on (\S+)\n/.exec(out);
        if (m !== null) resolve(m[1] as string);
      });
      void closed.then((code) => reject(new Error(`npm start exited with ${code}: ${out}`)));
    });
    expect(out).toBe(npmStartOutput(['--port', '0'], url));
  } finally {
    try {
      process.kill(-(proc.pid as number), 'SIGTERM');
    } catch {
      // already gone
    }
    await closed;
  }
});
