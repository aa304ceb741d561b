/**
 * startServer's options: every default in one block, validated once with messages
 * that name the option and the rule (README.md "Configuration"; protocol/README.md
 * §1.3 Limits).
 */
import { invalidArgument } from '../util/emu-error.js';

export interface ServerOptions {
  host: string;
  port: number;
  unixPath: string | undefined;
  token: string | undefined;
  allowOrigin: readonly string[];
  allowHost: readonly string[];
  maxFrameBytes: number;
  maxBatch: number;
  maxPlatforms: number;
  pingMs: number;
  maxBufferedBytes: number;
  maxQueuedFrames: number;
  closeTimeoutMs: number;
  maxResponseBytes: number;
  stalledReaderMs: number;
  sliceMs: number;
  onInternalError: (method: string, err: unknown) => void;
}

export type ServerOptionsInput = { [K in keyof ServerOptions]?: ServerOptions[K] | undefined };

export const DEFAULT_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  /** Loopback only: anyone who can connect can drive the platform. */
  host: '127.0.0.1',
  /** 0 picks a free port. */
  port: 8547,
  /** Also serve the line transport (newline-delimited JSON) on this Unix-domain socket path: mode 0600, no token, removed at close. */
  unixPath: undefined,
  /** When set, required as `Authorization: Bearer TOKEN` or `?token=TOKEN`, WebSocket and HTTP alike, except GET /healthz. */
  token: undefined,
  /** Exact `Origin` values a browser may connect from ('*' for any); a request with an unlisted Origin gets HTTP 403. */
  allowOrigin: [],
  /**
   * Host names (besides IP addresses and localhost) a request's `Host` may name ('*'
   * for any); others get HTTP 403, WebSocket and HTTP alike, so a DNS-rebinding page
   * cannot reach the server under its own name.
   */
  allowHost: [],
  /** 16 MiB. A larger frame closes the connection with 1009 (ws `maxPayload`). */
  maxFrameBytes: 16 * 1024 * 1024,
  /** A longer batch gets one -32600 object. */
  maxBatch: 1000,
  /** Named platforms (/platforms/NAME) at once; the default platform at '/' does not count. A new one beyond gets HTTP 503. */
  maxPlatforms: 64,
  /** Ping interval in ms; a peer that did not pong since the previous ping is terminated. 0 turns pings off. */
  pingMs: 30_000,
  /**
   * 8 MiB. A notification is sent only while the socket's unsent bytes are below
   * this; at or above, the client is closed with 1008. For responses it pauses the
   * connection (no more frames read or processed) until they drain.
   */
  maxBufferedBytes: 8 * 1024 * 1024,
  /** Frames waiting their turn on one connection (or maxFrameBytes of them) before the server stops reading its socket, until half have been processed. */
  maxQueuedFrames: 1024,
  /** How long a closing client has to finish the close handshake before its socket is destroyed, in ms. */
  closeTimeoutMs: 5_000,
  /** Longest answer to one frame (a batch's joined answer included); past it answers are -32003. 256 MiB: half of V8's longest string. */
  maxResponseBytes: 256 * 1024 * 1024,
  /** How long a client may leave maxBufferedBytes of answers unread before it is closed with 1008 ('response backlog'), in ms. */
  stalledReaderMs: 30_000,
  /** Wall time a connection's queue or a batch runs before yielding to other clients, in ms. */
  sliceMs: 10,
  /**
   * Handler throws (an RPC answered -32603, an HTTP request answered 500) are bugs;
   * by default each is one line on stderr (internalErrorLine), and the server goes on.
   */
  onInternalError: (method: string, err: unknown) => {
    process.stderr.write(`${internalErrorLine(method, err)}\n`);
  },
});

export function resolveServerOptions(input: ServerOptionsInput = {}): ServerOptions {
  const opts: ServerOptions = { ...DEFAULT_SERVER_OPTIONS };
  for (const key of Object.keys(input) as (keyof ServerOptions)[]) {
    if (input[key] !== undefined) (opts as unknown as Record<string, unknown>)[key] = input[key];
  }
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(DEFAULT_SERVER_OPTIONS, key)) throw invalidArgument(`unknown server option "${key}"; known: ${Object.keys(DEFAULT_SERVER_OPTIONS).join(', ')}`);
  }
  if (typeof opts.host !== 'string' || opts.host === '') throw invalidArgument('host must be a non-empty string, e.g. "127.0.0.1"');
  integer('port', opts.port, 0, 65_535);
  if (opts.unixPath !== undefined && (typeof opts.unixPath !== 'string' || opts.unixPath === '' || opts.unixPath.includes('\0'))) {
    throw invalidArgument('unixPath must be a non-empty file path, or left unset for no Unix socket');
  }
  if (opts.token !== undefined && (typeof opts.token !== 'string' || opts.token === '')) throw invalidArgument('token must be a non-empty string, or left unset for no token');
  if (!Array.isArray(opts.allowOrigin) || !opts.allowOrigin.every((o) => typeof o === 'string' && o !== '')) {
    throw invalidArgument('allowOrigin must be an array of origins such as "http://localhost:3000"');
  }
  if (!Array.isArray(opts.allowHost) || !opts.allowHost.every((h) => typeof h === 'string' && h !== '')) {
    throw invalidArgument('allowHost must be an array of host names such as "emulator.lan" (or "*")');
  }
  integer('maxFrameBytes', opts.maxFrameBytes, 1);
  integer('maxBatch', opts.maxBatch, 1);
  integer('maxPlatforms', opts.maxPlatforms, 0);
  integer('pingMs', opts.pingMs, 0);
  integer('maxBufferedBytes', opts.maxBufferedBytes, 1);
  integer('maxQueuedFrames', opts.maxQueuedFrames, 1);
  integer('closeTimeoutMs', opts.closeTimeoutMs, 0);
  integer('maxResponseBytes', opts.maxResponseBytes, 1024, 256 * 1024 * 1024);
  integer('stalledReaderMs', opts.stalledReaderMs, 0);
  integer('sliceMs', opts.sliceMs, 0);
  if (typeof opts.onInternalError !== 'function') throw invalidArgument('onInternalError must be a function');
  return opts;
}

function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`, { path: [name] });
  }
}

/**
 * One line for a handler's failure: where, the error, and the frame that threw
 * (`smash-emu: internal error in GET /: ENOENT: no such file ... (at readFileSync (node:fs:448:20))`),
 * so a log stays one line per failure and still points at the code.
 */
export function internalErrorLine(where: string, err: unknown): string {
  const message = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  const frame = err instanceof Error ? /\n\s+at (.+)/.exec(err.stack ?? '')?.[1] : undefined;
  return `smash-emu: internal error in ${where}: ${message}${frame === undefined ? '' : ` (at ${frame})`}`.replace(/[\r\n]+/g, ' ');
}
