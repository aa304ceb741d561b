/**
 * `smash-emu call METHOD [JSON-PARAMS]`: one request to a running server, and
 * `smash-emu call -`: many, as JSON Lines on stdin, on one connection.
 *
 * One call prints its result on stdout as pretty JSON; `-` prints each result as
 * one line of JSON. A JSON-RPC error goes to stderr as `error CODE: MESSAGE` and its
 * data as JSON. The exit code says what happened (cli-error.ts `EXIT`): 0 success,
 * 3 a status other than SUCCESS, 4 a JSON-RPC error, 5 no server, 6 no answer in
 * time (the call may still complete). `-` stops at the first line that does not
 * exit 0 and exits with its code; a line that is not a call stops it with exit 2
 * (nothing sent from that line on; the lines before it were sent).
 */
import { ConnectionClosedError, RpcCallError, RpcTimeoutError, SmashEmuClient } from '../client/smash-emu-client.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { CliError, EXIT, usageError } from './cli-error.js';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_CALL_URL, wsUrl } from './connect.js';
import type { ExitCode } from './cli-error.js';
import type { Env, Raw } from './flag-values.js';
import { integer, nonEmpty, oneOf, pick, pickList } from './flag-values.js';
import { ProgressReporter, wantsProgress } from './progress.js';
import { statusOutcome } from './status-outcome.js';

/** setTimeout's largest delay; --timeout 0 (wait forever) leaves the client's own timer at it. */
const FOREVER_MS = 2 ** 31 - 1;

export const CALL_FLAGS: readonly FlagSpec[] = [
  { name: 'url', value: 'URL', help: 'server to call; /platforms/NAME selects a named platform', defaultText: DEFAULT_CALL_URL },
  { name: 'token', value: 'TOKEN', help: "the server's --token, sent as a bearer token", defaultText: 'none' },
  {
    name: 'timeout',
    value: 'DURATION',
    help: 'give up (exit 6) when neither the answer nor progress came for this long: 500ms, 30s, 2m, or seconds; 0 waits forever',
    defaultText: `${DEFAULT_CALL_TIMEOUT_MS / 1000}s`,
  },
  { name: 'timeout-ms', value: 'MS', help: 'the same in milliseconds (--timeout wins when both are given)', defaultText: String(DEFAULT_CALL_TIMEOUT_MS) },
  {
    name: 'ok-status',
    value: 'NAME',
    help: 'exit 0 also when the result has this status or rc (a name such as IN_USE, NPF, or a number); repeatable, comma-separated',
    defaultText: 'none',
    repeatable: true,
  },
  { name: 'progress', value: 'on|off', help: 'print the progress of calls that last (clock.advance, fw.*, tmpm.* expected to take 2 s or more of wall time) on stderr, a line a second', defaultText: 'on' },
];

export interface CallOptions {
  /** The method, or '-' to read calls as JSON Lines from stdin. */
  method: string;
  /** Sent as given: judging them (objects only, by name) is the server's job, so contract tests can send anything. */
  params: unknown;
  url: string;
  token: string | undefined;
  /** 0 = wait forever. */
  timeoutMs: number;
  /** Status or rc names (or numbers as text) that count as success too. */
  okStatus: string[];
  progress: boolean;
}

/** Where call writes and reads: the process's streams, or a test's buffers. */
export interface CallIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Lines of stdin, for `call -`. */
  stdinLines(): AsyncIterable<string>;
  /** Wall clock in ms for the progress rules (default performance.now; tests pass their own). */
  nowMs?(): number;
}

export function parseCallArgs(argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, CALL_FLAGS);
}

export function resolveCallOptions(parsed: ParsedArgs, env: Env): CallOptions {
  const [method, json, ...extra] = parsed.positionals;
  if (method === undefined || method === '') throw usageError('call needs a METHOD, e.g. smash-emu call emu.info (or - to read JSON Lines from stdin)');
  if (method === '-' && json !== undefined) {
    throw usageError('call - reads every call from stdin, one JSON object per line ({"method": "clock.advance", "params": {"ns": 5}}); give no JSON-PARAMS after it');
  }
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
  const progress = pick(parsed, env, 'progress');
  return {
    method,
    params,
    url: url === undefined ? DEFAULT_CALL_URL : wsUrl(url.text, url.source),
    token: token === undefined ? undefined : nonEmpty(token),
    timeoutMs: timeoutOf(parsed, env),
    okStatus: pickList(parsed, env, 'ok-status')?.items ?? [],
    progress: progress === undefined ? true : oneOf(progress, ['on', 'off']) === 'on',
  };
}

/** --timeout, else --timeout-ms, else their variables in the same order, else 10 s. */
function timeoutOf(parsed: ParsedArgs, env: Env): number {
  const flag = (name: string): Raw | undefined => {
    const text = parsed.flags.get(name)?.at(-1);
    return text === undefined ? undefined : { text, source: `--${name}` };
  };
  const variable = (name: string): Raw | undefined => {
    const key = `SMASH_EMU_${name.toUpperCase().replaceAll('-', '_')}`;
    const text = env[key];
    return text === undefined || text === '' ? undefined : { text, source: key };
  };
  const t = flag('timeout');
  if (t !== undefined) return duration(t);
  const ms = flag('timeout-ms');
  if (ms !== undefined) return integer(ms, 1);
  const tv = variable('timeout');
  if (tv !== undefined) return duration(tv);
  const msv = variable('timeout-ms');
  if (msv !== undefined) return integer(msv, 1);
  return DEFAULT_CALL_TIMEOUT_MS;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, '': 1000 };

/** "500ms", "30s", "2m", "1.5" (seconds) -> ms; "0" -> 0 (forever). */
export function duration(raw: Raw): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$/.exec(raw.text.trim());
  const ms = m === null ? Number.NaN : Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? ''] as number));
  if (Number.isSafeInteger(ms) && ms >= 0 && ms <= FOREVER_MS) return ms;
  throw usageError(`${raw.source} must be a duration such as 500ms, 30s, 2m or a number of seconds (0 waits forever), got ${JSON.stringify(raw.text)}`);
}

/** The method comes from the command line, so the typed client's method map cannot apply. */
type UntypedCall = (method: string, params: unknown, options: { timeoutMs: number }) => Promise<unknown>;

/** No answer and no progress within --timeout. */
class CallTimedOut extends Error {}

export const processIo: CallIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  async *stdinLines() {
    const { createInterface } = await import('node:readline');
    yield* createInterface({ input: process.stdin, crlfDelay: Infinity });
  },
};

export async function call(opts: CallOptions, io: CallIo = processIo): Promise<ExitCode> {
  let client: SmashEmuClient;
  try {
    client = await SmashEmuClient.connect(opts.url, { timeoutMs: opts.timeoutMs === 0 ? FOREVER_MS : opts.timeoutMs, ...(opts.token !== undefined ? { token: opts.token } : {}) });
  } catch (err) {
    throw new CliError(`cannot connect to ${opts.url}: ${(err as Error).message}${connectHint(err)}`, EXIT.NO_SERVER);
  }
  const session = new CallSession(client, opts, io);
  try {
    if (opts.method !== '-') return await session.one(opts.method, opts.params, 'pretty');
    return await session.lines(io.stdinLines());
  } finally {
    await client.close();
  }
}

/** One connection's calls: progress subscription, timeouts, output and exit codes. */
class CallSession {
  /** Progress goes to stderr while `inFlight` is set: other clients' advances are not ours to report. */
  private inFlight: { kick: () => void; progress: ProgressReporter } | undefined;
  private subscribed = false;

  constructor(
    private readonly client: SmashEmuClient,
    private readonly opts: CallOptions,
    private readonly io: CallIo,
  ) {}

  async one(method: string, params: unknown, format: 'pretty' | 'line'): Promise<ExitCode> {
    if (this.opts.progress && wantsProgress(method)) await this.subscribeProgress();
    let result: unknown;
    try {
      result = await this.callWithTimeout(method, params);
    } catch (err) {
      return this.failed(method, err);
    }
    this.io.stdout(`${format === 'pretty' ? JSON.stringify(result, null, 2) : JSON.stringify(result)}\n`);
    const outcome = statusOutcome(result);
    if (outcome === undefined || outcome.accepted(this.opts.okStatus)) return EXIT.OK;
    this.io.stderr(`smash-emu: ${method} answered ${outcome.name} (exit ${EXIT.STATUS}; --ok-status ${outcome.name} accepts it)\n`);
    return EXIT.STATUS;
  }

  async lines(input: AsyncIterable<string>): Promise<ExitCode> {
    let n = 0;
    let sent = 0;
    for await (const text of input) {
      n++;
      if (text.trim() === '') continue;
      let parsed: { method: string; params: unknown };
      try {
        parsed = parseLine(text, n);
      } catch (err) {
        // Exit 2 says "nothing sent"; here that holds from this line on only.
        if (err instanceof CliError && sent > 0) throw usageError(`${err.message}; the ${sent} call(s) before it were sent and answered, it and the lines after it were not sent`);
        throw err;
      }
      sent++;
      const code = await this.one(parsed.method, parsed.params, 'line');
      if (code !== EXIT.OK) {
        this.io.stderr(`smash-emu: stopped at stdin line ${n} (${parsed.method}); later lines were not sent\n`);
        return code;
      }
    }
    return EXIT.OK;
  }

  /** Topic `clock` progress, when the server has it; a server without it is answered silently. */
  private async subscribeProgress(): Promise<void> {
    if (this.subscribed) return;
    this.subscribed = true;
    try {
      // `clock` is newer than some servers: cast, and treat a refusal as "no progress".
      await this.client.subscribe(['clock'] as never, (n) => {
        const flight = this.inFlight;
        if (flight === undefined) return;
        if (n.data === null || typeof n.data !== 'object' || (n.data as { phase?: unknown }).phase !== 'progress') return;
        flight.kick();
        const line = flight.progress.line(n.data);
        if (line !== undefined) this.io.stderr(`${line}\n`);
      });
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
    }
  }

  private callWithTimeout(method: string, params: unknown): Promise<unknown> {
    const ms = this.opts.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let fire: (err: Error) => void = () => {};
    const timedOut = new Promise<never>((_, reject) => (fire = reject));
    const kick = () => {
      if (ms === 0) return;
      clearTimeout(timer);
      timer = setTimeout(() => fire(new CallTimedOut()), ms);
    };
    kick();
    const nowMs = this.io.nowMs?.bind(this.io);
    this.inFlight = { kick, progress: new ProgressReporter(method, nowMs) };
    const answer = (this.client.call as unknown as UntypedCall).call(this.client, method, params, { timeoutMs: FOREVER_MS });
    return Promise.race([answer, timedOut]).finally(() => {
      clearTimeout(timer);
      this.inFlight = undefined;
      // The abandoned call rejects when the connection closes; nobody waits for it.
      answer.catch(() => {});
    });
  }

  private failed(method: string, err: unknown): ExitCode {
    if (err instanceof RpcCallError) {
      this.io.stderr(`error ${err.code}: ${err.message}\n`);
      if (err.data !== undefined) this.io.stderr(`${JSON.stringify(err.data, null, 2)}\n`);
      const nearest = (err.data as { nearest?: unknown } | undefined)?.nearest;
      if (err.code === -32601 && Array.isArray(nearest) && nearest.length > 0) this.io.stderr(`smash-emu: no method ${JSON.stringify(method)}; did you mean ${nearest.join(' or ')}?\n`);
      return EXIT.RPC_ERROR;
    }
    const limit = this.opts.timeoutMs;
    if (err instanceof CallTimedOut || err instanceof RpcTimeoutError) {
      this.io.stderr(`smash-emu: ${method}: no answer from ${this.opts.url} within ${limit} ms (--timeout); the call may still complete on the server\n`);
      return EXIT.TIMEOUT;
    }
    if (err instanceof ConnectionClosedError) {
      this.io.stderr(`smash-emu: ${method}: the server closed the connection before answering (${err.closeCode}${err.reason === '' ? '' : ` ${err.reason}`}); the call may still have completed\n`);
      return EXIT.TIMEOUT;
    }
    throw err;
  }
}

/** One JSON Lines input line: {"method": "...", "params": {...}} (jsonrpc and id are allowed and ignored). */
function parseLine(text: string, n: number): { method: string; params: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw usageError(`stdin line ${n} is not valid JSON (${(err as Error).message}); each line is one object such as {"method": "clock.now"}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || typeof (value as { method?: unknown }).method !== 'string') {
    throw usageError(`stdin line ${n} must be an object with a "method" string and optional "params", got ${text.length > 80 ? `${text.slice(0, 80)}...` : text}`);
  }
  const { method, params, ...rest } = value as { method: string; params?: unknown };
  const unknown = Object.keys(rest).filter((k) => k !== 'jsonrpc' && k !== 'id');
  if (unknown.length > 0) throw usageError(`stdin line ${n}: unknown key ${JSON.stringify(unknown[0])}; a line has "method" and "params"`);
  return { method, params: params === undefined ? {} : params };
}

function connectHint(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return '; is the server running? start it with smash-emu serve';
  const message = (err as Error).message;
  if (/HTTP 401\b/.test(message)) return "; pass the server's token with --token or SMASH_EMU_TOKEN";
  if (/HTTP 503\b/.test(message)) return '; the server is shutting down or at its --max-platforms limit (free one with emu.deletePlatform or HTTP DELETE /platforms/NAME)';
  return '';
}
