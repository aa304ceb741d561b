/**
 * The connection flags every client command shares (`call`, `watch`, `trace`):
 * --url, --token, --timeout-ms, and connecting with a readable failure.
 */
import { SmashEmuClient } from '../client/smash-emu-client.js';
import { DEFAULT_SERVER_OPTIONS } from '../rpc/options.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { failure, usageError } from './cli-error.js';
import type { Env } from './flag-values.js';
import { integer, nonEmpty, pick } from './flag-values.js';

export const DEFAULT_CALL_URL = `ws://${DEFAULT_SERVER_OPTIONS.host}:${DEFAULT_SERVER_OPTIONS.port}`;
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

export const CONNECT_FLAGS: readonly FlagSpec[] = [
  { name: 'url', value: 'URL', help: 'server to call; /platforms/NAME selects a named platform', defaultText: DEFAULT_CALL_URL },
  { name: 'token', value: 'TOKEN', help: "the server's --token, sent as a bearer token", defaultText: 'none' },
  { name: 'timeout-ms', value: 'MS', help: 'how long to wait for the connection, then for the answer', defaultText: String(DEFAULT_CALL_TIMEOUT_MS) },
];

export interface ConnectOptions {
  url: string;
  token: string | undefined;
  timeoutMs: number;
}

export function resolveConnectOptions(parsed: ParsedArgs, env: Env): ConnectOptions {
  const url = pick(parsed, env, 'url');
  const token = pick(parsed, env, 'token');
  const timeout = pick(parsed, env, 'timeout-ms');
  return {
    url: url === undefined ? DEFAULT_CALL_URL : wsUrl(url.text, url.source),
    token: token === undefined ? undefined : nonEmpty(token),
    timeoutMs: timeout === undefined ? DEFAULT_CALL_TIMEOUT_MS : integer(timeout, 1),
  };
}

/** A --url value, checked to be ws:// or wss://. */
export function wsUrl(text: string, source: string): string {
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol === 'ws:' || protocol === 'wss:') return text;
  throw usageError(`${source} must be a ws:// or wss:// URL such as ${DEFAULT_CALL_URL}, got ${JSON.stringify(text)}`);
}

export async function connect(opts: ConnectOptions): Promise<SmashEmuClient> {
  try {
    return await SmashEmuClient.connect(opts.url, { timeoutMs: opts.timeoutMs, ...(opts.token !== undefined ? { token: opts.token } : {}) });
  } catch (err) {
    throw failure(`cannot connect to ${opts.url}: ${(err as Error).message}${connectHint(err)}`);
  }
}

function connectHint(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return '; is the server running? start it with smash-emu serve';
  if (/HTTP 401\b/.test((err as Error).message)) return "; pass the server's token with --token or SMASH_EMU_TOKEN";
  return '';
}
