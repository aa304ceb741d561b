/**
 * Socket tests: `smash-emu call` in process (its output captured), against the
 * real server and against a fake one that reports progress: exit codes by
 * outcome, --ok-status, `call -` (JSON Lines on one connection), --timeout with
 * progress as a sign of life, and progress lines on stderr.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { call, parseCallArgs, resolveCallOptions, type CallIo } from '../../src/cli/call.js';
import { CliError, EXIT } from '../../src/cli/cli-error.js';
import { statusOutcome } from '../../src/cli/status-outcome.js';
import { PROGRESS_RULES, ProgressReporter, progressLine } from '../../src/cli/progress.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import { startFakeProgressServer, type FakeProgressServer } from '../helpers/fake-progress.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `clockStepMs`: a fake wall clock for the progress rules that moves this much at each reading. */
async function run(argv: string[], stdin: string[] = [], clockStepMs?: number): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let wallMs = 0;
  const io: CallIo = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    async *stdinLines() {
      yield* stdin;
    },
    ...(clockStepMs === undefined ? {} : { nowMs: () => (wallMs += clockStepMs) }),
  };
  try {
    const code = await call(resolveCallOptions(parseCallArgs(argv), {}), io);
    return { code, stdout, stderr };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, stdout, stderr: stderr + err.message };
    throw err;
  }
}

describe('statusOutcome: which results are emulated failures', () => {
  it('reads statusName (SEV 0 and TMPM 0xF0 are both named SUCCESS), rcName and #NPF', () => {
    expect(statusOutcome({ status: 0, statusName: 'SUCCESS' })).toBeUndefined();
    expect(statusOutcome({ status: 0xf0, statusName: 'SUCCESS' })).toBeUndefined();
    expect(statusOutcome({ status: 0x3a, statusName: 'IN_USE' })?.name).toBe('IN_USE');
    expect(statusOutcome({ rc: 0, rcName: 'SUCCESS', noUpdate: true })).toBeUndefined();
    expect(statusOutcome({ rc: 7, rcName: 'FAIL_BADADDR' })?.name).toBe('FAIL_BADADDR');
    expect(statusOutcome({ npf: { errorCode: '0x80000000' } })?.name).toBe('NPF');
    expect(statusOutcome({ nowNs: 5 })).toBeUndefined();
    expect(statusOutcome(null)).toBeUndefined();
  });

  it('accepts an --ok-status item by name or by number, decimal or hex', () => {
    const o = statusOutcome({ status: 0x3a, statusName: 'IN_USE' })!;
    expect(o.accepted(['IN_USE'])).toBe(true);
    expect(o.accepted(['58'])).toBe(true);
    expect(o.accepted(['0x3A'])).toBe(true);
    expect(o.accepted(['INVALID_PARAM', '59'])).toBe(false);
  });
});

describe('progressLine', () => {
  it('prints topic clock progress as a percentage with virtual times in seconds', () => {
    expect(progressLine('clock.advance', { phase: 'progress', fromNs: 0, nowNs: 4_200_000_000, targetNs: 10_000_000_000 })).toBe('smash-emu: clock.advance: 42% (virtual time 4.2 s, advancing 0 s -> 10 s)');
    expect(progressLine('clock.advance', { phase: 'done' })).toBeUndefined();
    expect(progressLine('clock.advance', { phase: 'progress', fromNs: 'x' })).toBeUndefined();
  });
});

describe('ProgressReporter: a line only for work that lasts in wall time', () => {
  const at = (fromNs: number, nowNs: number, targetNs: number) => ({ phase: 'progress', fromNs, nowNs, targetNs });
  function reporter(times: number[]): ProgressReporter {
    const clock = [...times];
    return new ProgressReporter('clock.advance', () => clock.shift() as number);
  }

  it('prints nothing for a 100 µs clock.advance that reports 50% after 2 ms of wall time', () => {
    const r = reporter([0, 2, 3]);
    expect(r.line(at(0, 50_000, 100_000))).toBeUndefined();
    expect(r.line(at(0, 90_000, 100_000))).toBeUndefined();
  });

  it('prints nothing when the expected total stays under minTotalMs, however far in', () => {
    // 90% after 1.5 s: about 1.67 s in all.
    expect(reporter([0, 1500]).line(at(0, 9e9, 10e9))).toBeUndefined();
    expect(PROGRESS_RULES.minTotalMs).toBe(2000);
  });

  it('prints a call expected to last, with what is left, at most one line a second', () => {
    const r = reporter([0, 1000, 1500, 2000, 2100]);
    expect(r.line(at(0, 2e9, 10e9))).toBe('smash-emu: clock.advance: 20% (virtual time 2 s, advancing 0 s -> 10 s); about 4 s left');
    expect(r.line(at(0, 3e9, 10e9))).toBeUndefined();
    expect(r.line(at(0, 4e9, 10e9))).toBe('smash-emu: clock.advance: 40% (virtual time 4 s, advancing 0 s -> 10 s); about 3 s left');
    expect(r.line({ phase: 'done' })).toBeUndefined();
  });

  it('with no progress yet, prints once the call has run minTotalMs', () => {
    const r = reporter([0, 1999, 2000]);
    expect(r.line(at(0, 0, 10e9))).toBeUndefined();
    expect(r.line(at(0, 0, 10e9))).toBe('smash-emu: clock.advance: 0% (virtual time 0 s, advancing 0 s -> 10 s)');
  });
});

describe('smash-emu call against the real server', () => {
  let t: AppUnderTest;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.stop();
  });
  const url = () => ['--url', t.app.url + '/platforms/cli-call'];

  it('prints pretty JSON and exits 0 for a success', async () => {
    const r = await run(['clock.now', ...url()]);
    expect(r).toEqual({ code: EXIT.OK, stdout: '{\n  "nowNs": 0,\n  "mode": "virtual",\n  "speed": 1,\n  "lagNs": 0\n}\n', stderr: '' });
  });

  it('exits 3 for a #NPF or an rc other than SUCCESS, and 0 with --ok-status', async () => {
    const npf = await run(['guest.pvalidate', '{"asid":1,"gpa":"0x1000","pageSize":"4K","validate":false}', ...url()]);
    expect(npf.code).toBe(EXIT.STATUS);
    expect(npf.stderr).toBe('smash-emu: guest.pvalidate answered NPF (exit 3; --ok-status NPF accepts it)\n');
    expect((await run(['guest.pvalidate', '{"asid":1,"gpa":"0x1000","pageSize":"4K","validate":false}', ...url(), '--ok-status', 'NPF'])).code).toBe(EXIT.OK);
    expect((await run(['rmp.psmash', '{"spa":"0x1000"}', ...url(), '--ok-status', '1'])).code).toBe(EXIT.OK);
  });

  it('exits 4 for a JSON-RPC error, naming the nearest key of a misspelt param', async () => {
    const r = await run(['iommu.walk', '{"deviceId":256,"ioav":"0x0"}', ...url()]);
    expect(r.code).toBe(EXIT.RPC_ERROR);
    expect(r.stderr).toMatch(/^error -32602: Invalid params\n/);
    expect(r.stderr).toContain('did you mean \\"iova\\"?');
  });

  it('call - runs JSON Lines on one connection, one result per line, and stops at the first failure', async () => {
    const r = await run(
      ['-', ...url()],
      [
        '{"method": "emu.reset"}',
        '',
        '{"method": "clock.advance", "params": {"ns": 5}}',
        '{"jsonrpc": "2.0", "id": 9, "method": "clock.now"}',
        '{"method": "rmp.psmash", "params": {"spa": "0x1000"}}',
        '{"method": "clock.advance", "params": {"ns": 1}}',
      ],
    );
    expect(r.code).toBe(EXIT.STATUS);
    expect(r.stdout.split('\n')).toEqual(['{"ok":true,"scenario":"default"}', '{"nowNs":5}', '{"nowNs":5,"mode":"virtual","speed":1,"lagNs":0}', '{"rc":1,"rcName":"FAIL_INPUT"}', '']);
    expect(r.stderr).toContain('stopped at stdin line 5 (rmp.psmash); later lines were not sent');
    expect((await run(['clock.now', ...url()])).stdout).toContain('"nowNs": 5');
  });

  it('call - refuses a line that is not a call with exit 2, naming the line', async () => {
    const r = await run(['-', ...url()], ['{"method": "clock.now"}', '{"metod": "clock.now"}']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toContain('stdin line 2 must be an object with a "method" string');
    expect(r.stderr).toContain('the 1 call(s) before it were sent and answered, it and the lines after it were not sent');
    expect(r.stdout.split('\n')).toHaveLength(2);
  });

  it('call - with a bad first line sends nothing, as exit 2 says', async () => {
    const before = (await run(['clock.now', ...url()])).stdout;
    const r = await run(['-', ...url()], ['{"method": "clock.advance", "params": {"ns": 5}', '{"method": "clock.advance", "params": {"ns": 5}}']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^stdin line 1 is not valid JSON/);
    expect(r.stderr).not.toContain('were sent');
    expect((await run(['clock.now', ...url()])).stdout).toBe(before);
  });

  it('exits 5 when no server listens', async () => {
    const r = await run(['clock.now', '--url', 'ws://127.0.0.1:1']);
    expect(r.code).toBe(EXIT.NO_SERVER);
    expect(r.stderr).toMatch(/^cannot connect to ws:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});

describe('smash-emu call: --timeout and progress (fake server)', () => {
  let fake: FakeProgressServer | undefined;
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
  });

  it('prints progress of a call that lasts on stderr and counts each notification as a sign of life for --timeout', async () => {
    // 4 steps 250 ms apart: 1.25 s in all, past the timeout, but never 800 ms without news.
    // The progress rules read a fake wall clock that moves 1 s at each reading.
    fake = await startFakeProgressServer({ steps: 4, stepMs: 250 });
    const r = await run(['clock.advance', '{"ns": 10000000000}', '--url', fake.url, '--timeout', '800ms'], [], 1000);
    expect(r.code).toBe(EXIT.OK);
    expect(JSON.parse(r.stdout)).toEqual({ nowNs: 10_000_000_000 });
    expect(r.stderr.split('\n')).toEqual([
      'smash-emu: clock.advance: 20% (virtual time 2 s, advancing 0 s -> 10 s); about 4 s left',
      'smash-emu: clock.advance: 40% (virtual time 4 s, advancing 0 s -> 10 s); about 3 s left',
      'smash-emu: clock.advance: 60% (virtual time 6 s, advancing 0 s -> 10 s); about 2 s left',
      'smash-emu: clock.advance: 80% (virtual time 8 s, advancing 0 s -> 10 s); about 1 s left',
      '',
    ]);
    expect(fake.calls).toEqual(['events.subscribe', 'clock.advance']);
  });

  it('prints no progress for a call that is quick in wall time, however it reports, and still counts it as life', async () => {
    // The same four notifications, but the (fake) wall clock moves 1 ms a reading.
    fake = await startFakeProgressServer({ steps: 4, stepMs: 250 });
    const r = await run(['clock.advance', '{"ns": 100000}', '--url', fake.url, '--timeout', '800ms'], [], 1);
    expect(r).toEqual({ code: EXIT.OK, stdout: '{\n  "nowNs": 100000\n}\n', stderr: '' });
  });

  it('exits 6 with "the call may still complete" when nothing arrives within --timeout', async () => {
    fake = await startFakeProgressServer({ steps: 0, stepMs: 0 });
    const r = await run(['slow', '{"ms": 2000}', '--url', fake.url, '--timeout', '100ms']);
    expect(r.code).toBe(EXIT.TIMEOUT);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`smash-emu: slow: no answer from ${fake.url} within 100 ms (--timeout); the call may still complete on the server\n`);
  });

  it('prints nothing and still works with --progress off, or when the server has no topic clock', async () => {
    fake = await startFakeProgressServer({ steps: 2, stepMs: 10, topics: [] });
    const r = await run(['clock.advance', '{"ns": 100}', '--url', fake.url]);
    expect(r).toEqual({ code: EXIT.OK, stdout: '{\n  "nowNs": 100\n}\n', stderr: '' });
    const off = await run(['clock.advance', '{"ns": 100}', '--url', fake.url, '--progress', 'off']);
    expect(off.code).toBe(EXIT.OK);
    expect(fake.calls).toEqual(['events.subscribe', 'clock.advance', 'clock.advance']);
  });
});
