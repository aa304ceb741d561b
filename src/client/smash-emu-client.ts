/**
 * A typed client for the smash-emu server, over a WebSocket (ws). Method names,
 * params and results are typed from the method table (src/protocol/methods.ts):
 * params are what the wire takes (hex strings), results what it returns.
 *
 * Hand-rolled rather than json-rpc-2.0's JSONRPCClient: that client reports its own
 * timeouts and rejectAllPendingRequests as fake error responses with code 0, so a
 * caller could not tell a timeout or a closed socket from a server error without
 * sentinel strings; and server notifications (events.notify) arrive on the same
 * socket and need their own dispatch anyway. The pending-call map below is all it
 * would have provided.
 */
import { WebSocket } from 'ws';
import type { EventTopic } from '../observe/event-bus.js';
import type { MethodName, MethodParamsIn, MethodResult, NotificationParams } from '../protocol/methods.js';

export interface ConnectOptions {
  /** Sent as `Authorization: Bearer <token>` (the server's --token). */
  token?: string;
  /** Default per-call timeout, and the connect timeout; ms. Default 10000. */
  timeoutMs?: number;
  /** Called with whatever a notification handler throws (default: ignored). */
  onHandlerError?: (err: unknown) => void;
}

export interface CallOptions {
  /** Overrides the client's timeoutMs for this call. */
  timeoutMs?: number;
}

/** The server answered with a JSON-RPC error object. */
export class RpcCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
    this.name = 'RpcCallError';
  }
}

/** No answer within the call's timeout (the call may still run on the server). */
export class RpcTimeoutError extends Error {
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`${method}: no response within ${timeoutMs} ms`);
    this.name = 'RpcTimeoutError';
  }
}

/** The socket closed before the call was answered (or before it was sent). */
export class ConnectionClosedError extends Error {
  constructor(
    readonly closeCode: number,
    readonly reason: string,
  ) {
    super(`connection closed (${closeCode}${reason === '' ? '' : ` ${reason}`})`);
    this.name = 'ConnectionClosedError';
  }
}

export type EventNotification = NotificationParams<'events.notify'>;
export type EventHandler = (event: EventNotification) => void;

export interface Subscription {
  subscriptionId: string;
  unsubscribe(): Promise<void>;
}

/** Params may be left out when the method has no required one. */
type CallArgs<M extends MethodName> = Record<string, never> extends MethodParamsIn<M> ? [params?: MethodParamsIn<M>, options?: CallOptions] : [params: MethodParamsIn<M>, options?: CallOptions];

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  /** performance.now() past which the call times out (Infinity for a batch member: its batch has a timer). */
  deadline: number;
  timeoutMs: number;
}

/** One call of a batch: a method and its params (as `call` takes them). */
export type BatchCall = { [M in MethodName]: { method: M; params?: MethodParamsIn<M> } }[MethodName];

/** What one call of a batch came back with: its result, or the JSON-RPC error the server answered. */
export type BatchOutcome = { ok: true; result: unknown } | { ok: false; error: RpcCallError };

/** Notifications for a subscription id not yet known (they may beat the subscribe response). */
const MAX_EARLY_NOTIFICATIONS = 1000;

export class SmashEmuClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /**
   * One timer for every pending call's timeout, armed for the earliest deadline
   * (a timer per call cost a Timeout object, a list insertion and a clearTimeout on
   * every call). Cleared when no call is pending, so an idle client keeps no timer.
   */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly subscriptions = new Map<string, EventHandler>();
  private early: EventNotification[] = [];
  private closeInfo: { code: number; reason: string } | undefined;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: Required<Pick<ConnectOptions, 'timeoutMs'>> & ConnectOptions,
  ) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.receive(String(data));
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: String(reason) };
        this.disarm();
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(new ConnectionClosedError(code, this.closeInfo.reason));
        }
        resolve(this.closeInfo);
      });
    });
    // Errors after open also surface as 'close'; this only keeps ws from throwing.
    ws.on('error', () => {});
  }

  /** Opens a connection; rejects on HTTP refusal (401, 404, 503...), error or timeout. */
  static connect(url: string, options: ConnectOptions = {}): Promise<SmashEmuClient> {
    const opts = { ...options, timeoutMs: options.timeoutMs ?? 10_000 };
    const headers: Record<string, string> = opts.token !== undefined ? { Authorization: `Bearer ${opts.token}` } : {};
    const ws = new WebSocket(url, { headers, handshakeTimeout: opts.timeoutMs });
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(err);
      };
      ws.once('unexpected-response', (_req, res) => fail(new Error(`${url}: server refused the WebSocket upgrade with HTTP ${res.statusCode ?? '?'}`)));
      ws.once('error', (err) => fail(err));
      ws.once('open', () => {
        ws.removeAllListeners();
        resolve(new SmashEmuClient(ws, opts));
      });
    });
  }

  /** Calls a method; rejects with RpcCallError, RpcTimeoutError or ConnectionClosedError. */
  call<M extends MethodName>(method: M, ...args: CallArgs<M>): Promise<MethodResult<M>> {
    const [params, callOptions] = args;
    const timeoutMs = callOptions?.timeoutMs ?? this.options.timeoutMs;
    return new Promise<MethodResult<M>>((resolve, reject) => {
      if (this.closeInfo !== undefined || this.ws.readyState !== WebSocket.OPEN) {
        reject(new ConnectionClosedError(this.closeInfo?.code ?? 1006, this.closeInfo?.reason ?? 'not open'));
        return;
      }
      const id = this.nextId++;
      const deadline = performance.now() + timeoutMs;
      this.pending.set(id, { method, resolve: resolve as (r: unknown) => void, reject, deadline, timeoutMs });
      if (deadline < this.timerAt) this.arm(deadline);
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params: params ?? {} }));
    });
  }

  /**
   * Sends `calls` as one JSON-RPC batch frame (the server runs them in order, one
   * after another) and resolves with one outcome per call, in the same order: a
   * member's JSON-RPC error is its outcome, not a rejection. Rejects only as a whole:
   * RpcTimeoutError (no complete answer within the timeout) or ConnectionClosedError.
   * An empty batch resolves with [] without sending anything.
   */
  batch(calls: readonly BatchCall[], options?: CallOptions): Promise<BatchOutcome[]> {
    const timeoutMs = options?.timeoutMs ?? this.options.timeoutMs;
    return new Promise<BatchOutcome[]>((resolve, reject) => {
      if (this.closeInfo !== undefined || this.ws.readyState !== WebSocket.OPEN) {
        reject(new ConnectionClosedError(this.closeInfo?.code ?? 1006, this.closeInfo?.reason ?? 'not open'));
        return;
      }
      if (calls.length === 0) {
        resolve([]);
        return;
      }
      const outcomes: BatchOutcome[] = new Array<BatchOutcome>(calls.length);
      const ids: number[] = [];
      let left = calls.length;
      let failed = false;
      const drop = () => {
        for (const id of ids) this.pending.delete(id);
        if (this.pending.size === 0) this.disarm();
      };
      const timer = setTimeout(() => {
        drop();
        reject(new RpcTimeoutError(`batch of ${calls.length}`, timeoutMs));
      }, timeoutMs);
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        clearTimeout(timer);
        drop();
        reject(err);
      };
      const settle = (i: number, o: BatchOutcome) => {
        outcomes[i] = o;
        if (--left === 0) {
          clearTimeout(timer);
          resolve(outcomes);
        }
      };
      const frame: Array<{ jsonrpc: '2.0'; id: number; method: string; params: unknown }> = [];
      for (let i = 0; i < calls.length; i++) {
        const { method, params } = calls[i] as BatchCall;
        const id = this.nextId++;
        ids.push(id);
        this.pending.set(id, {
          method,
          resolve: (result) => settle(i, { ok: true, result }),
          reject: (err) => (err instanceof RpcCallError ? settle(i, { ok: false, error: err }) : fail(err)),
          deadline: Infinity,
          timeoutMs,
        });
        frame.push({ jsonrpc: '2.0', id, method, params: params ?? {} });
      }
      this.ws.send(JSON.stringify(frame));
    });
  }

  /**
   * Subscribes to platform events; `handler` gets each `events.notify` of this
   * subscription, including any that arrived before the subscribe response.
   */
  async subscribe(topics: readonly EventTopic[], handler: EventHandler): Promise<Subscription> {
    const { subscriptionId } = await this.call('events.subscribe', { topics: [...topics] });
    this.subscriptions.set(subscriptionId, handler);
    const early = this.early.filter((n) => n.subscriptionId === subscriptionId);
    this.early = this.early.filter((n) => n.subscriptionId !== subscriptionId);
    for (const n of early) this.dispatch(handler, n);
    return {
      subscriptionId,
      unsubscribe: async () => {
        this.subscriptions.delete(subscriptionId);
        await this.call('events.unsubscribe', { subscriptionId });
      },
    };
  }

  /**
   * Stops reading the socket: no message is handled until resume() (a few already
   * read may still arrive). A consumer slower than the server (a `watch` whose stdout
   * nobody reads) pauses so that unread events wait in the kernel's and the server's
   * buffers, which are bounded (the server cuts off a reader that stays behind),
   * rather than in this process's memory.
   */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  get paused(): boolean {
    return this.ws.isPaused;
  }

  /** Closes the socket (code 1000); pending calls reject with ConnectionClosedError. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    await this.closed;
  }

  private receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    for (const item of Array.isArray(message) ? message : [message]) {
      if (item === null || typeof item !== 'object') continue;
      const m = item as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } };
      if (typeof m.method === 'string') {
        if (m.method === 'events.notify' && m.id === undefined) this.onEvent(m.params as EventNotification);
        continue;
      }
      if (typeof m.id !== 'number') continue;
      const p = this.pending.get(m.id);
      if (p === undefined) continue;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.disarm();
      if (m.error !== undefined) {
        const code = typeof m.error.code === 'number' ? m.error.code : 0;
        p.reject(new RpcCallError(p.method, code, typeof m.error.message === 'string' ? m.error.message : 'error', m.error.data));
      } else {
        p.resolve(m.result);
      }
    }
  }

  /** The shared timer, set for `deadline`. */
  private arm(deadline: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(this.expire, Math.max(0, deadline - performance.now()));
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** The shared timer fired: every call past its deadline rejects; the timer is re-armed for the next. */
  private readonly expire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    // A timer may fire a fraction of a millisecond before performance.now() passes the deadline.
    const now = performance.now() + 1;
    let next = Infinity;
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        p.reject(new RpcTimeoutError(p.method, p.timeoutMs));
      } else if (p.deadline < next) next = p.deadline;
    }
    if (next !== Infinity) this.arm(next);
  };

  private onEvent(n: EventNotification): void {
    if (n === null || typeof n !== 'object') return;
    const handler = this.subscriptions.get(n.subscriptionId);
    if (handler !== undefined) {
      this.dispatch(handler, n);
    } else if (this.early.length < MAX_EARLY_NOTIFICATIONS) {
      this.early.push(n);
    }
  }

  private dispatch(handler: EventHandler, n: EventNotification): void {
    try {
      handler(n);
    } catch (err) {
      this.options.onHandlerError?.(err);
    }
  }
}
