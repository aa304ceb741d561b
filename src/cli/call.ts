/**
 * `smash-emu call METHOD [JSON-PARAMS]`: one request to a running server. The result
 * goes to stdout as pretty JSON (exit 0); a JSON-RPC error goes to stderr as
 * `error CODE: MESSAGE` and its data as JSON (exit 1).
 */
import { ConnectionClosedError, RpcCallError, RpcTimeoutError, SmashEmuClient } from '../client/smash-emu-client.js';
import { DEFAULT_SERVER_OPTIONS } from '../rpc/options.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { EXIT, failure, usageError } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { integer, nonEmpty, pick } from './flag-values.js';

export const DEFAULT_CALL_URL = `ws://${DEFAULT_SERVER_OPTIONS.host}:${DEFAULT_SERVER_OPTIONS.port}`;
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

export const CALL_FLAGS: readonly FlagSpec[] = [
  { name: 'url', value: 'URL', help: 'server to call; /platforms/NAME selects a named platform', defaultText: DEFAULT_CALL_URL },
  { name: 'token', value: 'TOKEN', help: "the server's --token, sent as a bearer token", defaultText: 'none' },
  { name: 'timeout-ms', value: 'MS', help: 'how long to wait for the connection, then for the answer', defaultText: String(DEFAULT_CALL_TIMEOUT_MS) },
];

export interface CallOptions {
  method: string;
  /** Sent as given: judging them (objects only, by name) is the server's job, so contract tests can send anything. */
  params: unknown;
  url: string;
  token: string | undefined;
  timeoutMs: number;
}

export function parseCallArgs(argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, CALL_FLAGS);
}

export function resolveCallOptions(parsed: ParsedArgs, env: Env): CallOptions {
  const [method, json, ...extra] = parsed.positionals;
  if (method === undefined || method === '') throw usageError('call needs a METHOD, e.g. smash-emu call emu.info');
  if (extra.length > 0) {
    throw usageError(`call takes METHOD and at most one JSON-PARAMS, got ${2 + extra.length} arguments; quote the JSON so the shell passes it as one, e.g. '{"pages": 1}'`);
  }
  let params: unknown = {};
  if (json !== undefined) {
    try {
      params = JSON.parse(json);
    } catch (err) {
      throw usageError(`JSON-PARAMS is not valid JSON (${(err as Error).message}), got ${JSON.stringify(json)}`);
    }
  }
  const url = pick(parsed, env, 'url');
  const token = pick(parsed, env, 'token');
  const timeout = pick(parsed, env, 'timeout-ms');
  return {
    method,
    params,
    url: url === undefined ? DEFAULT_CALL_URL : wsUrl(url.text, url.source),
    token: token === undefined ? undefined : nonEmpty(token),
    timeoutMs: timeout === undefined ? DEFAULT_CALL_TIMEOUT_MS : integer(timeout, 1),
  };
}

function wsUrl(text: string, source: string): string {
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol === 'ws:' || protocol === 'wss:') return text;
  throw usageError(`${source} must be a ws:// or wss:// URL such as ${DEFAULT_CALL_URL}, got ${JSON.stringify(text)}`);
}

/** The method comes from the command line, so the typed client's method map cannot apply. */
type UntypedCall = (method: string, params: unknown) => Promise<unknown>;

export async function call(opts: CallOptions): Promise<ExitCode> {
  let client: SmashEmuClient;
  try {
    client = await SmashEmuClient.connect(opts.url, { timeoutMs: opts.timeoutMs, ...(opts.token !== undefined ? { token: opts.token } : {}) });
  } catch (err) {
    throw failure(`cannot connect to ${opts.url}: ${(err as Error).message}${connectHint(err)}`);
  }
  try {
    const result = await (client.call as unknown as UntypedCall).call(client, opts.method, opts.params);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof RpcCallError) {
      process.stderr.write(`error ${err.code}: ${err.message}\n`);
      if (err.data !== undefined) process.stderr.write(`${JSON.stringify(err.data, null, 2)}\n`);
      return EXIT.FAILURE;
    }
    if (err instanceof RpcTimeoutError) throw failure(`${opts.method}: no answer from ${opts.url} within ${opts.timeoutMs} ms (--timeout-ms)`);
    if (err instanceof ConnectionClosedError) throw failure(`${opts.method}: the server closed the connection before answering (${err.closeCode}${err.reason === '' ? '' : ` ${err.reason}`})`);
    throw err;
  } finally {
    await client.close();
  }
}

function connectHint(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return '; is the server running? start it with smash-emu serve';
  if (/HTTP 401\b/.test((err as Error).message)) return '; pass the server\'s token with --token or SMASH_EMU_TOKEN';
  return '';
}
