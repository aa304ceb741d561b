/**
 * One WebSocket text frame in, at most one frame out: the strict JSON-RPC 2.0
 * envelope (spec §4-§7, protocol/README.md §1.2 and §3). This file owns the whole
 * envelope, synchronous and asynchronous answers alike; json-rpc-2.0 lends only its
 * types. Its server is not used because 1.8.1 deviates from the spec: a batch of
 * one comes back as an object, an invalid request without an id gets no answer,
 * primitive params and object ids are accepted, [null] throws, a plain thrown error
 * gets code 0, and batch members run concurrently; and its `receive` costs ~1.5 us
 * a call in promise machinery, a tenth of the server's time for a trivial method at
 * 32 requests in flight.
 *
 * Decisions:
 * - A request object whose id is valid gets that id back on -32600; otherwise null.
 * - Params are by name only: an array or any non-object params is -32602 (a
 *   notification with such params is still a notification, so it gets nothing).
 * - A request object carrying `result` or `error` is -32600 (it is a response).
 * - A non-finite number id (1e400 parses to Infinity) is an invalid id.
 * - Batch members run one after another, in order; a batch longer than `maxBatch`
 *   is refused whole with one -32600 object, like an empty one.
 * - An answer is at most `maxResponseBytes` of JSON text (420 mem.read64 of
 *   65,536 words would join past V8's string limit, and the rejection would kill
 *   the process). A single answer over it, and in a batch every answer from
 *   the one that would pass it on, is replaced by a -32003 error with the same id;
 *   the members still run (a batch is a script), only their results are dropped.
 * - A batch yields to the event loop between members once it has run for
 *   `sliceMs`, so one batch of slow members (1,000 emu.audit) cannot keep the
 *   server from answering anyone else, /healthz included.
 * - Once the connection is gone (`ctx.signal` aborted) the rest of a batch is not run.
 */
import type { JSONRPCError, JSONRPCID, JSONRPCResponse } from 'json-rpc-2.0';
import { RPC_ERROR_CODES, errorToRpc, rpcErrorObject } from './errors.js';
import type { RpcCallContext, RpcHandler } from './method-table.js';
import { flatJson, toWire } from './to-wire.js';
import { PreparedJson } from './sliced-json.js';
import { SPLIT_MIN_CHARS, SplitText } from './split-text.js';
import { nearestNames } from '../util/nearest.js';
import { METHOD_LABEL_INVALID, METHOD_LABEL_UNKNOWN, type CallRecord } from '../observe/expose/call-record.js';

export { METHOD_LABEL_INVALID, METHOD_LABEL_UNKNOWN, type CallRecord };

export interface FrameOptions {
  /** Longest batch accepted; a longer one gets one -32600 object. Default 1000. */
  maxBatch?: number;
  /** Called once per request (batch member or single), notifications included. */
  observe?: (call: CallRecord) => void;
  /** Called when a handler throws something that maps to -32603 (a bug worth logging). Default: ignore. */
  onInternalError?: (method: string, err: unknown) => void;
  /** Longest answer (a batch's joined answer included), in UTF-16 code units of JSON text. Default DEFAULT_MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  /** A batch that has run this long (ms of wall time) yields to the event loop before its next member. Default DEFAULT_SLICE_MS. */
  sliceMs?: number;
}

export const DEFAULT_MAX_BATCH = 1000;
/**
 * 256 MiB: half of V8's longest string (2^29 - 24 UTF-16 units), so an answer can
 * always be built, and above the largest legal single answer (emu.dumpState of a
 * 2^23-operation platform is about 108 MiB).
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
/** Wall time a batch or a connection's queue runs before yielding to other clients (ms). */
export const DEFAULT_SLICE_MS = 10;
/** JSON-RPC code of an answer refused for its size: the emulator's resource-limit code (EMU_LIMIT). */
export const RESPONSE_TOO_LARGE_CODE = -32003;

type Handlers = ReadonlyMap<string, RpcHandler>;
/** A response, or null when nothing is sent (a notification). */
type Answer = JSONRPCResponse | null;

/**
 * Processes one text frame and returns the text to send back, or undefined when
 * the spec says nothing is sent (notifications only). Never throws.
 */
export async function processFrame(text: string, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions = {}): Promise<string | undefined> {
  const out = await handleFrame(text, handlers, ctx, opts);
  return out instanceof SplitText ? out.join() : out;
}

/** A frame's answer: its text, or a large single answer's text in pieces (split-text.ts), or undefined (nothing is sent). */
export type FrameAnswer = string | SplitText | undefined;

/**
 * processFrame without the promise when it is not needed: when every handler the
 * frame calls returns a plain value, so does this, and the connection sends the
 * answer at once instead of a microtask later. A single answer of at least
 * SPLIT_MIN_CHARS whose result was written in slices comes as a SplitText, never
 * joined, for the connection to send in chunks. Never throws.
 */
export function handleFrame(text: string, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions = {}): FrameAnswer | Promise<FrameAnswer> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    observeInvalid(opts, RPC_ERROR_CODES.PARSE_ERROR);
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.PARSE_ERROR)));
  }
  if (!Array.isArray(parsed)) {
    const response = processRequest(parsed, handlers, ctx, opts);
    const max = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    return isPromise(response)
      ? neverRejects(
          response.then((r) => serializeAnswer(r, max)),
          opts,
        )
      : serializeAnswer(response, max);
  }
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  if (parsed.length === 0 || parsed.length > maxBatch) {
    observeInvalid(opts, RPC_ERROR_CODES.INVALID_REQUEST);
    const reason = parsed.length === 0 ? 'empty batch' : `batch of ${parsed.length} requests exceeds maxBatch ${maxBatch}`;
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.INVALID_REQUEST, undefined, { reason })));
  }
  // Sequential on purpose: the platform is one machine and a batch is a script.
  // Synchronous members run in this loop; from the first member whose handler
  // returns a promise on (or once the batch has run for sliceMs), the rest run one
  // after another in processBatchRest.
  const acc = new BatchAnswer(opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  const sliceMs = opts.sliceMs ?? DEFAULT_SLICE_MS;
  const started = performance.now();
  for (let i = 0; i < parsed.length; i++) {
    const response = processRequest(parsed[i], handlers, ctx, opts);
    if (isPromise(response)) return neverRejects(processBatchRest(response, parsed, i + 1, acc, handlers, ctx, opts), opts);
    acc.add(response);
    if (i + 1 < parsed.length && performance.now() - started >= sliceMs) {
      return neverRejects(processBatchRest(undefined, parsed, i + 1, acc, handlers, ctx, opts), opts);
    }
  }
  return acc.join();
}

/** A frame's answer promise that never rejects: a bug answers -32603 (id null) rather than escaping as an unhandled rejection, which would end the process. */
function neverRejects<T extends FrameAnswer>(pending: Promise<T>, opts: FrameOptions): Promise<T | string> {
  return pending.catch((err: unknown) => {
    opts.onInternalError?.('batch', err);
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.INTERNAL_ERROR, undefined, { message: String(err) })));
  });
}

async function processBatchRest(pending: Promise<Answer> | undefined, batch: unknown[], next: number, acc: BatchAnswer, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions): Promise<string | undefined> {
  const sliceMs = opts.sliceMs ?? DEFAULT_SLICE_MS;
  if (pending !== undefined) acc.add(await pending);
  else await yieldTurn();
  let sliceStart = performance.now();
  for (let i = next; i < batch.length; i++) {
    if (isAborted(ctx)) return undefined;
    if (performance.now() - sliceStart >= sliceMs) {
      await yieldTurn();
      sliceStart = performance.now();
      if (isAborted(ctx)) return undefined;
    }
    let response = processRequest(batch[i], handlers, ctx, opts);
    if (isPromise(response)) {
      response = await response;
      sliceStart = performance.now();
    }
    acc.add(response);
  }
  return acc.join();
}

/** Whether the call's connection has gone (a function, so each check reads it afresh). */
function isAborted(ctx: RpcCallContext): boolean {
  return ctx.signal?.aborted === true;
}

/** One turn of the event loop: pending I/O (other clients, /healthz) runs first. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A batch's answers, serialised as they come and counted against maxResponseBytes:
 * from the member that would pass it on, answers become -32003 errors, so the
 * joined text is bounded whatever the members return.
 */
class BatchAnswer {
  private readonly parts: string[] = [];
  private chars = 2;
  private over = false;

  constructor(private readonly max: number) {}

  add(response: Answer): void {
    if (response === null) return;
    let text = this.over ? tooLarge(response.id, this.max) : serialize(response);
    if (!this.over && this.chars + text.length + 1 > this.max) {
      this.over = true;
      text = tooLarge(response.id, this.max);
    }
    this.chars += text.length + 1;
    this.parts.push(text);
  }

  join(): string | undefined {
    return this.parts.length === 0 ? undefined : '[' + this.parts.join(',') + ']';
  }
}

function tooLarge(id: JSONRPCID, max: number): string {
  return JSON.stringify(
    errorResponse(
      id,
      rpcErrorObject(RESPONSE_TOO_LARGE_CODE, `the answer would exceed maxResponseBytes (${max}); ask for less per call or per batch`, { code: 'EMU_LIMIT', limit: 'maxResponseBytes', maxResponseBytes: max }),
    ),
  );
}

function serializeAnswer(response: Answer, max: number): FrameAnswer {
  if (response === null) return undefined;
  const pieces = 'result' in response && response.result instanceof PreparedJson ? response.result.pieces : undefined;
  if (pieces !== undefined) {
    // A result written in slices: measured, not joined (the limit counts exactly the joined text's length).
    const split = new SplitText([`{"jsonrpc":"2.0","id":${JSON.stringify(response.id)},"result":`, ...pieces, '}']);
    if (split.length > max) return tooLarge(response.id, max);
    if (split.length >= SPLIT_MIN_CHARS) return split;
    return split.join();
  }
  const text = serialize(response);
  return text.length > max ? tooLarge(response.id, max) : text;
}

function processRequest(raw: unknown, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions): Answer | Promise<Answer> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return invalidRequest(opts, null, 'a request must be an object');
  }
  const request = raw as Record<string, unknown>;
  const hasId = Object.hasOwn(request, 'id');
  const id = request.id;
  if (hasId && !isValidId(id)) return invalidRequest(opts, null, 'id must be a string, a number or null');
  const replyId = hasId ? (id as JSONRPCID) : null;
  if (request.jsonrpc !== '2.0') return invalidRequest(opts, replyId, 'jsonrpc must be exactly "2.0"');
  if (typeof request.method !== 'string') return invalidRequest(opts, replyId, 'method must be a string');
  if (Object.hasOwn(request, 'result') || Object.hasOwn(request, 'error')) {
    return invalidRequest(opts, replyId, 'a request has no result or error member');
  }
  const method = request.method;
  const handler = handlers.get(method);
  if (handler === undefined) {
    // Also every unregistered rpc.* name: that prefix is reserved (spec §4).
    opts.observe?.({ method: METHOD_LABEL_UNKNOWN, outcome: RPC_ERROR_CODES.METHOD_NOT_FOUND, seconds: 0 });
    // `nearest`: the method names closest to a misspelt one, so a client can say "did you mean".
    return hasId ? errorResponse(replyId, rpcErrorObject(RPC_ERROR_CODES.METHOD_NOT_FOUND, undefined, { method, nearest: nearestNames(method, handlers.keys()) })) : null;
  }
  const hasParams = Object.hasOwn(request, 'params');
  const params = request.params;
  if (hasParams && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    opts.observe?.({ method, outcome: RPC_ERROR_CODES.INVALID_PARAMS, seconds: 0 });
    const message = Array.isArray(params) ? 'params must be an object of named params; positional params are not supported' : 'params must be an object of named params';
    return hasId ? errorResponse(replyId, rpcErrorObject(RPC_ERROR_CODES.INVALID_PARAMS, undefined, { issues: [{ path: [], message }] })) : null;
  }
  return invoke(method, handler, hasParams ? (params as Record<string, unknown>) : undefined, hasId ? replyId : undefined, ctx, opts);
}

/**
 * Calls the handler of a request that passed every check above. A handler that
 * returns a plain value is answered at once; one that returns a promise (a slow
 * firmware command, clock.advance, an injected delay) is answered when it settles,
 * by the same success / failure / answer steps.
 */
function invoke(method: string, handler: RpcHandler, params: Record<string, unknown> | undefined, id: JSONRPCID | undefined, ctx: RpcCallContext, opts: FrameOptions): Answer | Promise<Answer> {
  const started = performance.now();
  let value: unknown;
  try {
    value = handler(params, ctx);
  } catch (err) {
    return answer(method, id, failure(method, err, opts, id), started, opts);
  }
  if (isThenable(value)) return settle(method, value, id, started, opts);
  return answer(method, id, success(method, value, opts, id), started, opts);
}

/** The answer to a handler's promise, once it settles. Never rejects. */
async function settle(method: string, pending: PromiseLike<unknown>, id: JSONRPCID | undefined, started: number, opts: FrameOptions): Promise<Answer> {
  let response: JSONRPCResponse;
  try {
    response = success(method, await pending, opts, id);
  } catch (err) {
    response = failure(method, err, opts, id);
  }
  return answer(method, id, response, started, opts);
}

function success(method: string, result: unknown, opts: FrameOptions, id: JSONRPCID | undefined): JSONRPCResponse {
  // A large result its handler wrote as JSON in slices: spliced in as is (serialize).
  if (result instanceof PreparedJson) return { jsonrpc: '2.0', id: id ?? null, result };
  // A flat result (most are) is written straight to its text: no wire copy, no second walk by JSON.stringify.
  const flat = flatJson(result);
  if (flat !== undefined) return { jsonrpc: '2.0', id: id ?? null, result: new PreparedJson(flat, result) };
  let wire: unknown;
  try {
    wire = toWire(result);
  } catch (err) {
    // A circular result: the handler's bug, answered like a throw.
    return failure(method, err, opts, id);
  }
  // A handler that returns nothing answers result null (a response must carry one).
  return { jsonrpc: '2.0', id: id ?? null, result: wire ?? null };
}

function failure(method: string, err: unknown, opts: FrameOptions, id: JSONRPCID | undefined): JSONRPCResponse {
  const error = errorToRpc(err);
  if (error.code === RPC_ERROR_CODES.INTERNAL_ERROR) opts.onInternalError?.(method, err);
  return errorResponse(id ?? null, error);
}

/** Records the finished call; a notification's response is dropped. */
function answer(method: string, id: JSONRPCID | undefined, response: JSONRPCResponse, started: number, opts: FrameOptions): Answer {
  const observe = opts.observe;
  if (observe !== undefined) {
    const seconds = (performance.now() - started) / 1000;
    if (response.error !== undefined) observe({ method, outcome: response.error.code, seconds });
    else {
      const name = statusNameOf(response.result);
      if (name === undefined) observe({ method, outcome: 'ok', seconds });
      else observe({ method, outcome: name === 'SUCCESS' ? 'ok' : 'status', statusName: name, seconds });
    }
  }
  return id === undefined ? null : response;
}

/** statusName (firmware, TMPM) or rcName (instructions) of a result object, if it has one. */
function statusNameOf(value: unknown): string | undefined {
  const result = value instanceof PreparedJson ? value.source : value;
  if (typeof result !== 'object' || result === null) return undefined;
  const r = result as { statusName?: unknown; rcName?: unknown };
  if (typeof r.statusName === 'string') return r.statusName;
  return typeof r.rcName === 'string' ? r.rcName : undefined;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value instanceof Promise;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function isValidId(id: unknown): boolean {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
}

function invalidRequest(opts: FrameOptions, id: JSONRPCID, reason: string): JSONRPCResponse {
  observeInvalid(opts, RPC_ERROR_CODES.INVALID_REQUEST);
  return errorResponse(id, rpcErrorObject(RPC_ERROR_CODES.INVALID_REQUEST, undefined, { reason }));
}

function observeInvalid(opts: FrameOptions, code: number): void {
  opts.observe?.({ method: METHOD_LABEL_INVALID, outcome: code, seconds: 0 });
}

function errorResponse(id: JSONRPCID, error: JSONRPCError): JSONRPCResponse {
  return { jsonrpc: '2.0', id, error };
}

/** A response too large or odd to stringify becomes an internal error with the same id. */
function serialize(response: JSONRPCResponse): string {
  if ('result' in response && response.result instanceof PreparedJson) return `{"jsonrpc":"2.0","id":${JSON.stringify(response.id)},"result":${response.result.text}}`;
  try {
    return JSON.stringify(response);
  } catch (err) {
    return JSON.stringify(errorResponse(response.id, rpcErrorObject(RPC_ERROR_CODES.INTERNAL_ERROR, undefined, { message: String(err) })));
  }
}
