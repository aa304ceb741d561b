/**
 * serve settings: flag > SMASH_EMU_* variable > scenario file (clock, speed, seed) >
 * default, and the one-line message for each bad value (README.md
 * "Configuration"). No process is started.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/cli-error.js';
import type { Env } from '../../src/cli/flag-values.js';
import { parseServeArgs, resolveServeOptions, SERVE_FLAGS } from '../../src/cli/serve-options.js';
import type { ServeOptions } from '../../src/cli/serve-options.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function resolve(argv: string[], env: Env = {}): ServeOptions {
  return resolveServeOptions(parseServeArgs(argv), env);
}

function refusal(argv: string[], env: Env = {}): string {
  try {
    resolve(argv, env);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    expect(err.exitCode).toBe(2);
    return err.message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

const realtimeScenario = file('realtime.json', JSON.stringify({ name: 'rt', clock: { mode: 'realtime', speed: 4 }, seed: 9 }));

describe('serve options: defaults', () => {
  it('serves examples/scenarios/default.json on 127.0.0.1:8547 with the transport defaults', () => {
    expect(resolve([])).toEqual({
      server: { host: '127.0.0.1', port: 8547, token: undefined, allowOrigin: [], allowHost: [], maxFrameBytes: 16 * 1024 * 1024, maxBatch: 1000, maxPlatforms: 64, pingMs: 30_000 },
      scenario: DEFAULT_SCENARIO,
      statePath: undefined,
      recordPath: undefined,
      recordDir: undefined,
      platformIdleMs: 0,
      snapshotBudgetBytes: 1024 * 1024 * 1024,
    });
  });
});

describe('serve options: flags and variables', () => {
  it('reads every flag in both spellings', () => {
    const statePath = join(dir, 'state.json');
    const argv = [
      '--host',
      '0.0.0.0',
      '--port=0',
      '--clock',
      'realtime',
      '--speed=2.5',
      '--seed',
      '7',
      '--token',
      's3cret',
      '--allow-origin',
      'http://localhost:3000',
      '--allow-host',
      'emu.lan',
      '--state',
      statePath,
      '--max-frame-bytes=1024',
      '--max-batch',
      '5',
      '--max-platforms',
      '0',
      '--ping-ms=0',
    ];
    const opts = resolve(argv);
    expect(opts.server).toEqual({ host: '0.0.0.0', port: 0, token: 's3cret', allowOrigin: ['http://localhost:3000'], allowHost: ['emu.lan'], maxFrameBytes: 1024, maxBatch: 5, maxPlatforms: 0, pingMs: 0 });
    expect(opts.scenario.clock).toEqual({ mode: 'realtime', speed: 2.5 });
    expect(opts.scenario.seed).toBe(7);
    expect(opts.statePath).toBe(statePath);
  });

  it('reads every flag from its SMASH_EMU_* variable', () => {
    const env: Env = {
      SMASH_EMU_HOST: '::1',
      SMASH_EMU_PORT: '9000',
      SMASH_EMU_SCENARIO: realtimeScenario,
      SMASH_EMU_CLOCK: 'virtual',
      SMASH_EMU_SPEED: '3',
      SMASH_EMU_SEED: '11',
      SMASH_EMU_TOKEN: 't',
      SMASH_EMU_ALLOW_ORIGIN: 'https://a.example, https://b.example:8443',
      SMASH_EMU_ALLOW_HOST: 'a.example,*',
      SMASH_EMU_STATE: join(dir, 's.json'),
      SMASH_EMU_MAX_FRAME_BYTES: '2048',
      SMASH_EMU_MAX_BATCH: '10',
      SMASH_EMU_MAX_PLATFORMS: '3',
      SMASH_EMU_PING_MS: '500',
    };
    const opts = resolve([], env);
    expect(opts.server).toEqual({
      host: '::1',
      port: 9000,
      token: 't',
      allowOrigin: ['https://a.example', 'https://b.example:8443'],
      allowHost: ['a.example', '*'],
      maxFrameBytes: 2048,
      maxBatch: 10,
      maxPlatforms: 3,
      pingMs: 500,
    });
    expect(opts.scenario.name).toBe('rt');
    expect(opts.scenario.clock).toEqual({ mode: 'virtual', speed: 3 });
    expect(opts.scenario.seed).toBe(11);
    expect(opts.statePath).toBe(join(dir, 's.json'));
  });

  it('has one variable per flag, named SMASH_EMU_<FLAG>', () => {
    expect(SERVE_FLAGS.map((f) => f.name)).toEqual([
      'host',
      'port',
      'unix',
      'scenario',
      'clock',
      'speed',
      'seed',
      'token',
      'allow-origin',
      'allow-host',
      'state',
      'record',
      'record-dir',
      'max-frame-bytes',
      'max-batch',
      'max-platforms',
      'platform-idle-ms',
      'snapshot-budget-bytes',
      'ping-ms',
    ]);
  });

  it('--snapshot-budget-bytes and SMASH_EMU_SNAPSHOT_BUDGET_BYTES set the server-wide snapshot budget', () => {
    expect(resolve(['--snapshot-budget-bytes', '1000000']).snapshotBudgetBytes).toBe(1_000_000);
    expect(resolve([], { SMASH_EMU_SNAPSHOT_BUDGET_BYTES: '2000000' }).snapshotBudgetBytes).toBe(2_000_000);
  });

  it('lets a flag beat its variable, and the last of a repeated flag win', () => {
    expect(resolve(['--port', '1', '--port', '2'], { SMASH_EMU_PORT: '3' }).server.port).toBe(2);
    expect(resolve([], { SMASH_EMU_PORT: '3' }).server.port).toBe(3);
  });

  it('does not judge a variable its flag overrides', () => {
    expect(resolve(['--port', '1'], { SMASH_EMU_PORT: 'junk' }).server.port).toBe(1);
  });

  it('treats an empty variable as unset', () => {
    expect(resolve([], { SMASH_EMU_PORT: '', SMASH_EMU_TOKEN: '' }).server).toMatchObject({ port: 8547, token: undefined });
  });

  it('collects --allow-origin from repeats and commas, replacing the variable as a whole', () => {
    const opts = resolve(['--allow-origin', 'http://a.test,http://b.test', '--allow-origin=*'], { SMASH_EMU_ALLOW_ORIGIN: 'http://c.test' });
    expect(opts.server.allowOrigin).toEqual(['http://a.test', 'http://b.test', '*']);
  });
});

describe('serve options: clock, speed and seed precedence', () => {
  it('takes them from the scenario file over the defaults', () => {
    const opts = resolve(['--scenario', realtimeScenario]);
    expect(opts.scenario.clock).toEqual({ mode: 'realtime', speed: 4 });
    expect(opts.scenario.seed).toBe(9);
    expect(opts.scenario.name).toBe('rt');
  });

  it('lets a variable beat the scenario file', () => {
    const opts = resolve(['--scenario', realtimeScenario], { SMASH_EMU_CLOCK: 'virtual', SMASH_EMU_SEED: '5' });
    expect(opts.scenario.clock).toEqual({ mode: 'virtual', speed: 4 });
    expect(opts.scenario.seed).toBe(5);
  });

  it('lets a flag beat the variable and the scenario file', () => {
    const opts = resolve(['--scenario', realtimeScenario, '--speed', '8', '--seed', '0'], { SMASH_EMU_SPEED: '6', SMASH_EMU_SEED: '5' });
    expect(opts.scenario.clock).toEqual({ mode: 'realtime', speed: 8 });
    expect(opts.scenario.seed).toBe(0);
  });

  it('applies them to the embedded default scenario when there is no file', () => {
    const opts = resolve(['--clock', 'realtime']);
    expect(opts.scenario).toEqual({ ...DEFAULT_SCENARIO, clock: { mode: 'realtime', speed: 1 } });
  });
});

describe('serve options: bad values', () => {
  it.each([
    [['--port', 'abc'], '--port must be an integer 0..65535, got "abc"'],
    [['--port', '65536'], '--port must be an integer 0..65535, got "65536"'],
    [['--port', '-1'], '--port must be an integer 0..65535, got "-1"'],
    [['--port', '1.5'], '--port must be an integer 0..65535, got "1.5"'],
    [['--port='], '--port must be an integer 0..65535, got ""'],
    [['--host='], '--host must not be empty; leave it out instead'],
    [['--clock', 'wall'], '--clock must be one of virtual, realtime, got "wall"'],
    [['--speed', '0'], '--speed must be a number > 0 and <= 1000000, got "0"'],
    [['--speed', 'fast'], '--speed must be a number > 0 and <= 1000000, got "fast"'],
    [['--speed', '1e7'], '--speed must be a number > 0 and <= 1000000, got "1e7"'],
    [['--seed', '-3'], '--seed must be an integer 0..4294967295, got "-3"'],
    [['--seed', '4294967296'], '--seed must be an integer 0..4294967295, got "4294967296"'],
    [['--token='], '--token must not be empty; leave it out instead'],
    [['--allow-origin', 'http://a.test/'], '--allow-origin must list origins as scheme://host[:port] with no path (or *), got "http://a.test/"'],
    [['--allow-origin', 'localhost:3000'], '--allow-origin must list origins as scheme://host[:port] with no path (or *), got "localhost:3000"'],
    [['--allow-origin', 'http://a.test,,http://b.test'], '--allow-origin must be a comma-separated list with no empty item, got "http://a.test,,http://b.test"'],
    [['--max-frame-bytes', '0'], '--max-frame-bytes must be an integer >= 1, got "0"'],
    [['--max-frame-bytes', '16MiB'], '--max-frame-bytes must be an integer >= 1, got "16MiB"'],
    [['--max-batch', '0'], '--max-batch must be an integer >= 1, got "0"'],
    [['--max-platforms', 'many'], '--max-platforms must be an integer >= 0, got "many"'],
    [['--ping-ms', '1s'], '--ping-ms must be an integer >= 0, got "1s"'],
    [['extra'], 'serve takes no arguments, got "extra"; flags start with --'],
    [['--bogus'], /^unknown flag --bogus; known flags: --host, --port, /],
  ] as const)('%j is refused with exit code 2', (argv, message) => {
    if (typeof message === 'string') expect(refusal([...argv])).toBe(message);
    else expect(refusal([...argv])).toMatch(message);
  });

  it('names the variable when the bad value came from one', () => {
    expect(refusal([], { SMASH_EMU_PORT: 'abc' })).toBe('SMASH_EMU_PORT must be an integer 0..65535, got "abc"');
    expect(refusal([], { SMASH_EMU_MAX_FRAME_BYTES: '-1' })).toBe('SMASH_EMU_MAX_FRAME_BYTES must be an integer >= 1, got "-1"');
    expect(refusal([], { SMASH_EMU_CLOCK: 'x' })).toBe('SMASH_EMU_CLOCK must be one of virtual, realtime, got "x"');
  });
});

describe('serve options: files', () => {
  it('refuses a missing scenario file clearly', () => {
    const path = join(dir, 'nope.json');
    expect(refusal(['--scenario', path])).toBe(`--scenario ${path}: cannot read the scenario file (no such file or directory, ENOENT)`);
  });

  it('refuses a scenario file that is not JSON, with the parse error', () => {
    const path = file('broken.json', '{"name": ');
    expect(refusal(['--scenario', path])).toMatch(new RegExp(`^--scenario ${path}: not valid JSON \\(.+\\); a scenario file is one JSON object$`));
  });

  it('refuses a scenario that breaks the schema, naming each key and its fix', () => {
    const path = file('bad.json', JSON.stringify({ clock: { mode: 'wall' }, devices: [{ deviceId: 1, domainId: 1, boundAsid: 5 }], colour: 'red' }));
    const message = refusal(['--scenario', path]);
    expect(message).toMatch(new RegExp(`^--scenario ${path}: the scenario is not valid`));
    expect(message).toContain('scenario.clock.mode');
    expect(message).toContain('colour');
  });

  it('names the cross-field problem of a well-formed scenario', () => {
    const path = file('cross.json', JSON.stringify({ devices: [{ deviceId: 1, domainId: 1, boundAsid: 5 }] }));
    expect(refusal(['--scenario', path])).toContain('scenario.devices[0].boundAsid: no guest has ASID 5');
  });

  it('resolves --state to an absolute path and refuses one whose directory is missing', () => {
    const cwd = process.cwd();
    expect(resolve(['--state', 'state.json']).statePath).toBe(join(cwd, 'state.json'));
    const missing = join(dir, 'no-such-dir', 'state.json');
    expect(refusal(['--state', missing])).toBe(`--state ${missing}: the state file could not be saved in ${join(dir, 'no-such-dir')} (no such file or directory, ENOENT); create the directory or pick another path`);
  });
});

describe('serve options: recording', () => {
  it('--record is a file in a writable directory, --record-dir an existing directory, both made absolute', () => {
    const opts = resolve(['--record', join(dir, 'rec.jsonl'), '--record-dir', dir]);
    expect(opts.recordPath).toBe(join(dir, 'rec.jsonl'));
    expect(opts.recordDir).toBe(dir);
    expect(resolve([], { SMASH_EMU_RECORD_DIR: dir }).recordDir).toBe(dir);
  });

  it('refuses a recording that could not be written before anything starts', () => {
    expect(refusal(['--record', join(dir, 'missing', 'rec.jsonl')])).toMatch(
      /^--record .*: the recording could not be saved in .*missing \(no such file or directory, ENOENT\); create the directory or pick another path$/,
    );
    expect(refusal(['--record-dir', join(dir, 'missing')])).toMatch(/^--record-dir .*: recordings cannot be written in .*missing \(no such file or directory, ENOENT\)/);
    expect(refusal(['--record-dir', file('plain.txt', 'x')])).toMatch(/is not a directory$/);
  });
});
