/**
 * One WebSocket text frame in, at most one frame out: the strict JSON-RPC 2.0
 * envelope (spec §4-§7, DESIGN.md "Wire contract") in front of json-rpc-2.0.
 *
 * The library dispatches single requests that have already passed the checks
 * below; its own batch and validation paths are never used, because 1.8.1 deviates
 * from the spec there: a batch of one comes back as an object, an invalid request
 * without an id gets no answer, primitive params and object ids are accepted, [null]
 * throws, a plain thrown error gets code 0, and batch members run concurrently.
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
import { JSONRPCServer } from 'json-rpc-2.0';
import type { JSONRPCError, JSONRPCID, JSONRPCRequest, JSONRPCResponse } from 'json-rpc-2.0';
import { RPC_ERROR_CODES, errorToRpc, rpcErrorObject } from './errors.js';
import type { RpcCallContext, RpcHandler } from './method-table.js';
import { toWire } from './to-wire.js';

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

/**
 * Processes one text frame and returns the text to send back, or undefined when
 * the spec says nothing is sent (notifications only). Never throws.
 */
export async function processFrame(text: string, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions = {}): Promise<string | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    observeInvalid(opts, RPC_ERROR_CODES.PARSE_ERROR);
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.PARSE_ERROR)));
  }
  if (!Array.isArray(parsed)) {
    const response = await processRequest(parsed, handlers, ctx, opts);
    return response === null ? undefined : serialize(response);
  }
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  if (parsed.length === 0 || parsed.length > maxBatch) {
    observeInvalid(opts, RPC_ERROR_CODES.INVALID_REQUEST);
    const reason = parsed.length === 0 ? 'empty batch' : `batch of ${parsed.length} requests exceeds maxBatch ${maxBatch}`;
    return serialize(errorResponse(null, rpcErrorObject(RPC_ERROR_CODES.INVALID_REQUEST, undefined, { reason })));
  }
  const parts: string[] = [];
  for (const member of parsed) {
    // Sequential on purpose: the platform is one machine and a batch is a script.
    const response = await processRequest(member, handlers, ctx, opts);
    if (response !== null) parts.push(serialize(response));
  }
  return parts.length === 0 ? undefined : '[' + parts.join(',') + ']';
}

async function processRequest(raw: unknown, handlers: Handlers, ctx: RpcCallContext, opts: FrameOptions): Promise<JSONRPCResponse | null> {
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
    return hasId ? errorResponse(replyId, rpcErrorObject(RPC_ERROR_CODES.METHOD_NOT_FOUND, undefined, { method })) : null;
  }
  const hasParams = Object.hasOwn(request, 'params');
  const params = request.params;
  if (hasParams && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    opts.observe?.({ method, outcome: RPC_ERROR_CODES.INVALID_PARAMS, seconds: 0 });
    const message = Array.isArray(params) ? 'params must be an object of named params; positional params are not supported' : 'params must be an object of named params';
    return hasId ? errorResponse(replyId, rpcErrorObject(RPC_ERROR_CODES.INVALID_PARAMS, undefined, { issues: [{ path: [], message }] })) : null;
  }
  const clean: JSONRPCRequest = { jsonrpc: '2.0', method };
  if (hasParams) clean.params = params;
  if (hasId) clean.id = replyId;
  return dispatcherFor(handlers, method, handler).receive(clean, { ctx, opts });
}

interface DispatchParams {
  ctx: RpcCallContext;
  opts: FrameOptions;
}

interface Dispatcher {
  server: JSONRPCServer<DispatchParams>;
  /** What is registered with `server`, to notice a table entry replaced later. */
  registered: Map<string, RpcHandler>;
}

const dispatchers = new WeakMap<Handlers, Dispatcher>();

/** One library server per method table, registering handlers as they are first called. */
function dispatcherFor(handlers: Handlers, method: string, handler: RpcHandler): JSONRPCServer<DispatchParams> {
  let dispatcher = dispatchers.get(handlers);
  if (dispatcher === undefined) {
    // Every error is answered by the wrapper below, so the library has nothing to report.
    dispatcher = { server: new JSONRPCServer<DispatchParams>({ errorListener: () => {} }), registered: new Map() };
    dispatchers.set(handlers, dispatcher);
  }
  if (dispatcher.registered.get(method) !== handler) {
    dispatcher.registered.set(method, handler);
    dispatcher.server.addMethodAdvanced(method, (request, { ctx, opts }) => invoke(method, handler, request, ctx, opts));
  }
  return dispatcher.server;
}

async function invoke(method: string, handler: RpcHandler, request: JSONRPCRequest, ctx: RpcCallContext, opts: FrameOptions): Promise<JSONRPCResponse | null> {
  const started = performance.now();
  let response: JSONRPCResponse;
  try {
    const result = toWire(await handler(request.params as Record<string, unknown> | undefined, ctx));
    response = { jsonrpc: '2.0', id: request.id ?? null, result: result === undefined ? null : result };
  } catch (err) {
    const error = errorToRpc(err);
    if (error.code === RPC_ERROR_CODES.INTERNAL_ERROR) opts.onInternalError?.(method, err);
    response = errorResponse(request.id ?? null, error);
  }
  const seconds = (performance.now() - started) / 1000;
  opts.observe?.({ method, outcome: response.error === undefined ? 'ok' : response.error.code, seconds });
  return request.id === undefined ? null : response;
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
