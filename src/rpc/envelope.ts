/**
 * One WebSocket text frame in, at most one frame out: the strict JSON-RPC 2.0
 * envelope (spec §4-§7, DESIGN.md "Wire contract") in front of json-rpc-2.0.
 *
 * The library sees only single requests that have already passed the checks below:
 * it dispatches those whose handler answers with a promise and builds the success
 * responses (see `invoke` for the split). Its own batch and validation paths are
 * never used, because 1.8.1 deviates from the spec there: a batch of one comes back
 * as an object, an invalid request without an id gets no answer, primitive params
 * and object ids are accepted, [null] throws, a plain thrown error gets code 0, and
 * batch members run concurrently.
 *
 * Decisions:
 * - A request object whose id is valid gets that id back on -32600; otherwise null.
 * - Params are by name only: an array or any non-object params is -32602 (a
 *   notification with such params is still a notification, so it gets nothing).
 * - A request object carrying `result` or `error` is -32600 (it is a response).
 * - A non-finite number id (1e400 parses to Infinity) is an invalid id.
 * - Batch members run one after another, in order; a batch longer than `maxBatch`
 *   is refused whole with one -32600 object, like an empty one.
 */
import { JSONRPCServer, createJSONRPCSuccessResponse } from 'json-rpc-2.0';
import type { JSONRPCError, JSONRPCID, JSONRPCRequest, JSONRPCResponse } from 'json-rpc-2.0';
import { RPC_ERROR_CODES, errorToRpc, rpcErrorObject } from './errors.js';
import type { RpcCallContext, RpcHandler } from './method-table.js';
import { toWire } from './to-wire.js';
import { nearestNames } from '../util/nearest.js';

/** One finished call, for metrics. */
export interface CallRecord {
  /** The method name when it is in the table, else METHOD_LABEL_UNKNOWN or METHOD_LABEL_INVALID. */
  method: string;
  /** 'ok', or the error code answered (also for notifications, which get no answer). */
  outcome: 'ok' | number;
  /** Wall time spent in the handler, in seconds (0 when no handler ran). */
  seconds: number;
}

export interface FrameOptions {
  /** Longest batch accepted; a longer one gets one -32600 object. Default 1000. */
  maxBatch?: number;
  /** Called once per request (batch member or single), notifications included. */
  observe?: (call: CallRecord) => void;
  /** Called when a handler throws something that maps to -32603 (a bug worth logging). Default: ignore. */
  onInternalError?: (method: string, err: unknown) => void;
}

export const DEFAULT_MAX_BATCH = 1000;
/** Method label for a name that is not in the table: keeps metric labels bounded. */
export const METHOD_LABEL_UNKNOWN = '(unknown)';
/** Method label for a frame or member that is not a valid request at all. */
export const METHOD_LABEL_INVALID = '(invalid)';

type Handlers = ReadonlyMap<string, RpcHandler>;
/** A response, or null when nothing is sent (a notification). */
type Answer = JSONRPCResponse | null;

/**
 * Processes one text frame and returns the text to send back, or undefined when
 * the spec says nothing is sent (notifications only). Never throws.
 */
export async function processFrame(text: string, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions = {}): Promise<string | undefined> {
  return handleFrame(text, handlers, ctx, opts);
}

/**
 * processFrame without the promise when it is not needed: when every handler the
 * frame calls returns a plain value, so does this, and the connection sends the
 * answer at once instead of a microtask later (issue 4). Never throws.
 */
export function handleFrame(text: string, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions = {}): string | undefined | Promise<string | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    observeInvalid(opts, RPC_ERROR_CODES.PARSE_ERROR);
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.PARSE_ERROR)));
  }
  if (!Array.isArray(parsed)) {
    const response = processRequest(parsed, handlers, ctx, opts);
    return isPromise(response) ? response.then(serializeAnswer) : serializeAnswer(response);
  }
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  if (parsed.length === 0 || parsed.length > maxBatch) {
    observeInvalid(opts, RPC_ERROR_CODES.INVALID_REQUEST);
    const reason = parsed.length === 0 ? 'empty batch' : `batch of ${parsed.length} requests exceeds maxBatch ${maxBatch}`;
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.INVALID_REQUEST, undefined, { reason })));
  }
  // Sequential on purpose: the platform is one machine and a batch is a script.
  // Synchronous members run in this loop; from the first member whose handler
  // returns a promise on, the rest run one after another in processBatchRest.
  const parts: string[] = [];
  for (let i = 0; i < parsed.length; i++) {
    const response = processRequest(parsed[i], handlers, ctx, opts);
    if (isPromise(response)) return processBatchRest(response, parsed, i + 1, parts, handlers, ctx, opts);
    if (response !== null) parts.push(serialize(response));
  }
  return joinBatch(parts);
}

async function processBatchRest(pending: Promise<Answer>, batch: unknown[], next: number, parts: string[], handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions): Promise<string | undefined> {
  const first = await pending;
  if (first !== null) parts.push(serialize(first));
  for (let i = next; i < batch.length; i++) {
    const response = await processRequest(batch[i], handlers, ctx, opts);
    if (response !== null) parts.push(serialize(response));
  }
  return joinBatch(parts);
}

function joinBatch(parts: string[]): string | undefined {
  return parts.length === 0 ? undefined : '[' + parts.join(',') + ']';
}

function serializeAnswer(response: Answer): string | undefined {
  return response === null ? undefined : serialize(response);
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
 * Calls the handler of a request that passed every check above. Where the work is
 * split with json-rpc-2.0 (issue 4, measured): its `receive` costs ~1.5 us a call
 * in promise and generator machinery (it always answers through a promise, re-checks
 * the envelope, and wraps the method's promise once more), which at 32 requests in
 * flight was a tenth of the whole server's time for a trivial method. So:
 * - a handler that returns a plain value is answered here, at once, with the
 *   library's response constructor;
 * - a handler that returns a promise (a slow firmware command, clock.advance, an
 *   injected delay) is already asynchronous: the library's JSONRPCServer takes the
 *   request (validated and rebuilt above) and dispatches it by method name to the
 *   method registered for that name, which settles the handler's promise into the
 *   response.
 */
function invoke(method: string, handler: RpcHandler, params: Record<string, unknown> | undefined, id: JSONRPCID | undefined, ctx: RpcCallContext, opts: FrameOptions): Answer | Promise<Answer> {
  const started = performance.now();
  let value: unknown;
  try {
    value = handler(params, ctx);
  } catch (err) {
    return answer(method, id, failure(method, err, opts, id), started, opts);
  }
  if (isThenable(value)) {
    const request: JSONRPCRequest = { jsonrpc: '2.0', method };
    if (params !== undefined) request.params = params;
    if (id !== undefined) request.id = id;
    // Typed PromiseLike, but `receive` is an async function: a native Promise.
    return libraryServer(method).receive(request, { pending: value, started, opts }) as Promise<Answer>;
  }
  return answer(method, id, success(method, value, opts, id), started, opts);
}

/** What the library passes to the registered method: the handler's promise and when it started. */
interface Settle {
  pending: PromiseLike<unknown>;
  started: number;
  opts: FrameOptions;
}

const library = new JSONRPCServer<Settle>({
  // Every error is answered by the registered method, so the library has nothing to report.
  errorListener: () => {},
});

/** The library server, with `method` registered (once per name) to settle a handler's promise. */
function libraryServer(method: string): JSONRPCServer<Settle> {
  if (!library.hasMethod(method)) {
    library.addMethodAdvanced(method, async (request, { pending, started, opts }) => {
      const id = request.id;
      let response: JSONRPCResponse;
      try {
        response = success(method, await pending, opts, id);
      } catch (err) {
        response = failure(method, err, opts, id);
      }
      return answer(method, id, response, started, opts);
    });
  }
  return library;
}

function success(method: string, result: unknown, opts: FrameOptions, id: JSONRPCID | undefined): JSONRPCResponse {
  let wire: unknown;
  try {
    wire = toWire(result);
  } catch (err) {
    // A circular result: the handler's bug, answered like a throw.
    return failure(method, err, opts, id);
  }
  return createJSONRPCSuccessResponse(id ?? null, wire);
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
    observe({ method, outcome: response.error === undefined ? 'ok' : response.error.code, seconds: (performance.now() - started) / 1000 });
  }
  return id === undefined ? null : response;
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
  try {
    return JSON.stringify(response);
  } catch (err) {
    return JSON.stringify(errorResponse(response.id, rpcErrorObject(RPC_ERROR_CODES.INTERNAL_ERROR, undefined, { message: String(err) })));
  }
}
