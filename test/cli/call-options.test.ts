/** `smash-emu call` arguments: METHOD, JSON-PARAMS and the connection flags. No process is started. */
import { describe, expect, it } from 'vitest';
import { parseCallArgs, resolveCallOptions } from '../../src/cli/call.js';
import type { CallOptions } from '../../src/cli/call.js';
import { CliError } from '../../src/cli/cli-error.js';
import type { Env } from '../../src/cli/flag-values.js';

function resolve(argv: string[], env: Env = {}): CallOptions {
  return resolveCallOptions(parseCallArgs(argv), env);
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

describe('call options', () => {
  it('calls the default server with {} and a 10 s timeout by default', () => {
    expect(resolve(['emu.info'])).toEqual({ method: 'emu.info', params: {}, url: 'ws://127.0.0.1:8547', token: undefined, timeoutMs: 10_000, okStatus: [], progress: true });
  });

  it('reads --timeout as a duration (ms, s, m, bare seconds; 0 = forever), beating --timeout-ms and the variables', () => {
    expect(resolve(['x', '--timeout', '500ms']).timeoutMs).toBe(500);
    expect(resolve(['x', '--timeout', '30s']).timeoutMs).toBe(30_000);
    expect(resolve(['x', '--timeout', '2m']).timeoutMs).toBe(120_000);
    expect(resolve(['x', '--timeout', '1.5']).timeoutMs).toBe(1500);
    expect(resolve(['x', '--timeout', '0']).timeoutMs).toBe(0);
    expect(resolve(['x', '--timeout', '1s', '--timeout-ms', '7']).timeoutMs).toBe(1000);
    expect(resolve(['x', '--timeout-ms', '7'], { SMASH_EMU_TIMEOUT: '9s' }).timeoutMs).toBe(7);
    expect(resolve(['x'], { SMASH_EMU_TIMEOUT: '9s' }).timeoutMs).toBe(9000);
  });

  it('collects --ok-status names (repeatable, comma-separated) and reads --progress', () => {
    expect(resolve(['x', '--ok-status', 'IN_USE,INVALID_PARAM', '--ok-status', 'NPF']).okStatus).toEqual(['IN_USE', 'INVALID_PARAM', 'NPF']);
    expect(resolve(['x'], { SMASH_EMU_OK_STATUS: '0x3a' }).okStatus).toEqual(['0x3a']);
    expect(resolve(['x', '--progress', 'off']).progress).toBe(false);
  });

  it('takes - as "read the calls from stdin", with no JSON-PARAMS after it', () => {
    expect(resolve(['-']).method).toBe('-');
    expect(refusal(['-', '{}'])).toMatch(/^call - reads every call from stdin/);
  });

  it('sends JSON-PARAMS as given, even when the server will refuse them', () => {
    expect(resolve(['mem.alloc', '{"pages": 2}']).params).toEqual({ pages: 2 });
    expect(resolve(['mem.alloc', '[1]']).params).toEqual([1]);
  });

  it('takes --url, --token and --timeout-ms over SMASH_EMU_URL, SMASH_EMU_TOKEN and SMASH_EMU_TIMEOUT_MS', () => {
    const env = { SMASH_EMU_URL: 'ws://h:1/platforms/a', SMASH_EMU_TOKEN: 'e', SMASH_EMU_TIMEOUT_MS: '5' };
    expect(resolve(['x'], env)).toMatchObject({ url: 'ws://h:1/platforms/a', token: 'e', timeoutMs: 5 });
    expect(resolve(['x', '--url=wss://k:2', '--token', 'f', '--timeout-ms', '6'], env)).toMatchObject({ url: 'wss://k:2', token: 'f', timeoutMs: 6 });
  });

  it.each([
    [[], 'call needs a METHOD, e.g. smash-emu call emu.info (or - to read JSON Lines from stdin)'],
    [['x', '--timeout', '10 parsecs'], '--timeout must be a duration such as 500ms, 30s, 2m or a number of seconds (0 waits forever), got "10 parsecs"'],
    [['x', '--progress', 'loud'], '--progress must be one of on, off, got "loud"'],
    [['mem.alloc', '{pages: 1}'], /^JSON-PARAMS is not valid JSON \(.+\), got "\{pages: 1\}"$/],
    [['mem.alloc', '{"pages":', '1}'], /^call takes METHOD and at most one JSON-PARAMS, got 3 arguments; quote the JSON/],
    [['x', '--url', 'http://127.0.0.1:8547'], '--url must be a ws:// or wss:// URL such as ws://127.0.0.1:8547, got "http://127.0.0.1:8547"'],
    [['x', '--timeout-ms', '0'], '--timeout-ms must be an integer >= 1, got "0"'],
    [['x', '--token='], '--token must not be empty; leave it out instead'],
    [['x', '--port', '1'], /^unknown flag --port; known flags: --url, --token, --timeout, --timeout-ms, --ok-status, --progress/],
  ] as const)('%j is refused with exit code 2', (argv, message) => {
    if (typeof message === 'string') expect(refusal([...argv])).toBe(message);
    else expect(refusal([...argv])).toMatch(message);
  });

  it('names the variable when the bad value came from one', () => {
    expect(refusal(['x'], { SMASH_EMU_URL: 'nope' })).toBe('SMASH_EMU_URL must be a ws:// or wss:// URL such as ws://127.0.0.1:8547, got "nope"');
  });
});
