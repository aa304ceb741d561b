/**
 * `smash-emu call METHOD [JSON-PARAMS]`: one request to a running server. The result
 * goes to stdout as pretty JSON (exit 0); a JSON-RPC error goes to stderr as
 * `error CODE: MESSAGE` and its data as JSON (exit 1).
 */
import { ConnectionClosedError, RpcCallError, RpcTimeoutError } from '../client/smash-emu-client.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { EXIT, failure, usageError } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { CONNECT_FLAGS, connect, resolveConnectOptions, type ConnectOptions } from './connect.js';

export { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_CALL_URL } from './connect.js';
export const CALL_FLAGS: readonly FlagSpec[] = CONNECT_FLAGS;

export interface CallOptions extends ConnectOptions {
  method: string;
  /** Sent as given: judging them (objects only, by name) is the server's job, so contract tests can send anything. */
  params: unknown;
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
  return { method, params, ...resolveConnectOptions(parsed, env) };
}

/** The method comes from the command line, so the typed client's method map cannot apply. */
type UntypedCall = (method: string, params: unknown) => Promise<unknown>;

export async function call(opts: CallOptions): Promise<ExitCode> {
  const client = await connect(opts);
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
