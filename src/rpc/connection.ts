/**
 * One client, over any FrameLink (a WebSocket, or a line of the Unix socket): its
 * frames are processed one at a time in arrival order, so responses leave in
 * request order, and notifications a call sends through ctx.notify leave before
 * that call's response. Also its liveness (ping/pong), its notification backlog
 * cap, and session.attach (the line transport's way to pick a platform).
 *
 * A large answer (split-text.ts) leaves in chunks (answer-stream.ts): until its
 * last chunk nothing else is sent on the connection (RFC 6455 §5.4): notifications
 * wait there, in order, and no further frame is processed, so later answers still
 * leave in request order, after it.
 */
import type { Duplex } from 'node:stream';
import { handleFrame } from './envelope.js';
import type { FrameAnswer, FrameOptions } from './envelope.js';
import { SplitText } from './split-text.js';
import { AnswerStream } from './answer-stream.js';
import type { FrameLink } from './frame-link.js';
import type { PlatformHost, RpcCallContext } from './method-table.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { RpcMetrics } from '../observe/expose/metrics.js';
import type { ServerOptions } from './options.js';
import { toWire } from './to-wire.js';

/** Close codes the server sends (RFC 6455 §7.4; 4000-4999 are application codes). */
export const CLOSE_CODES = {
  /** Normal: the peer ended its side of a line-transport stream and every frame it sent was answered. */
  NORMAL: 1000,
  /** Server shutting down (RunningServer.close's default). */
  GOING_AWAY: 1001,
  /** A binary frame: the protocol is JSON text only. */
  UNSUPPORTED_DATA: 1003,
  /** Unread notifications passed maxBufferedBytes, or unread responses stayed above it for stalledReaderMs. */
  POLICY_VIOLATION: 1008,
  /** A frame that is not valid UTF-8 (sent by ws itself on the WebSocket; by the line transport for a line). */
  INVALID_DATA: 1007,
  /** A frame over maxFrameBytes (sent by ws itself on the WebSocket; by the line transport for a line). */
  MESSAGE_TOO_BIG: 1009,
  /** The connection could not be set up (a bug; the server logged it). */
  INTERNAL_ERROR: 1011,
  /** ctx.closeAfterResponse(): a fault rule with `close: true` fired. */
  FAULT_INJECTION: 4000,
} as const;

export class Connection {
  readonly ctx: RpcCallContext;
  /** Resolves once the socket is closed and onClose callbacks ran. */
  readonly closed: Promise<void>;
  private readonly queue: string[] = [];
  /** UTF-16 code units waiting in `queue`; about bytes for JSON text. */
  private queuedChars = 0;
  private draining = false;
  private closing = false;
  private isClosed = false;
  private closeRequested = false;
  private alive = true;
  private readonly cleanups: (() => void)[] = [];
  private frameOpts: FrameOptions;
  /** The platform this connection drives: the path's, or the one session.attach moved it to. */
  private platform: string;
  private platformHost: PlatformHost;
  /** No frame has started yet: session.attach is still possible (first frame only). */
  private beforeFirstFrame = true;
  /** The frame being processed is the connection's first, and a single request. */
  private attachOpen = false;
  /** The peer will send no more frames: close once the queue is answered. */
  private peerEnded = false;
  private killTimer: NodeJS.Timeout | undefined;
  /** Aborted when the connection closes; handed to every call as ctx.signal. */
  private readonly abort = new AbortController();
  /**
   * Set while processing waits for the client to read its answers: the socket's
   * unsent bytes reached maxBufferedBytes (protocol/README.md §1.3). Reading stays paused
   * until they drain; if they do not within stalledReaderMs the client is closed.
   */
  private waitingForReader = false;
  private stalledTimer: NodeJS.Timeout | undefined;
  /**
   * Whether `socket` is corked until the next tick. Answers sent in one turn of the
   * event loop (the frames of one TCP read, 32 in flight) then leave in one write
   * instead of one syscall each: bench rpc/echo at 32 in flight 0.83 -> 1.06,
   * unchanged at 1 in flight (the flush is a nextTick away, no timer).
   */
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket?.uncork();
  };
  /** The large answer in flight, and the notifications held until it has left. */
  private readonly answers: AnswerStream;
  /** The drain loop stopped until the large answer in flight has left. */
  private waitingForStream = false;

  constructor(
    private readonly ws: FrameLink,
    readonly id: number,
    platformName: string,
    host: PlatformHost,
    private readonly opts: ServerOptions,
    private readonly metrics: RpcMetrics,
    /** The socket under the link, corked while answers are sent (see `corked`); optional, so a bare WebSocket works too. */
    private readonly socket?: Duplex,
    /**
     * session.attach: the platform called NAME (created if new), or a throw (limit,
     * server closing). Absent where the path picks the platform (the WebSocket).
     */
    private readonly attachHost?: (name: string) => PlatformHost,
  ) {
    this.platform = platformName;
    this.platformHost = host;
    this.answers = new AnswerStream(
      ws,
      {
        canSend: () => !this.closing && this.ws.open,
        ended: () => this.streamEnded(),
        stalled: () => {
          this.metrics.cutOff(this.platformName);
          this.close(CLOSE_CODES.POLICY_VIOLATION, 'response backlog: answers left unread');
        },
        failed: (err) => {
          this.opts.onInternalError('connection send', err);
          this.close(CLOSE_CODES.INTERNAL_ERROR, 'internal error while sending an answer');
        },
      },
      opts.stalledReaderMs,
      socket,
    );
    this.frameOpts = this.frameOptions();
    this.ctx = {
      platformName,
      connectionId: id,
      notify: (method, params) => this.notify(method, params),
      onClose: (fn) => this.onClose(fn),
      closeAfterResponse: () => {
        this.closeRequested = true;
      },
      signal: this.abort.signal,
      attach: (name) => this.attach(name),
    };
    metrics.connectionOpened(platformName);
    this.closed = new Promise((resolve) => {
      ws.listen({
        closed: () => {
          this.finish();
          resolve();
        },
        pong: () => {
          this.alive = true;
        },
        frame: (text, binary) => this.receive(text, binary),
        refuse: (code, reason) => this.close(code, reason),
        ended: () => {
          this.peerEnded = true;
          if (!this.draining) this.closeIfDone();
        },
      });
    });
  }

  /** The platform this connection drives ('' = the default one). */
  get platformName(): string {
    return this.platform;
  }

  /** That platform's host. */
  get host(): PlatformHost {
    return this.platformHost;
  }

  private frameOptions(): FrameOptions {
    const opts = this.opts;
    return { maxBatch: opts.maxBatch, observe: this.metrics.observer(this.platform), onInternalError: opts.onInternalError, maxResponseBytes: opts.maxResponseBytes, sliceMs: opts.sliceMs };
  }

  /**
   * session.attach {platform}: moves the connection to the named platform, as the
   * WebSocket path /platforms/NAME would. Only as the connection's first frame, a
   * single request (not a batch member): after that, calls have been answered by
   * the platform the connection started on.
   */
  private attach(name: string): void {
    if (this.attachHost === undefined) {
      throw new EmuError(ERROR_CODES.WRONG_MODE, 'session.attach is for the line transport (serve --unix); on the WebSocket the path picks the platform: connect to /platforms/NAME');
    }
    if (!this.attachOpen) {
      throw new EmuError(ERROR_CODES.WRONG_MODE, 'session.attach must be the first call of a connection, sent alone (not in a batch); open a new connection to drive another platform');
    }
    const host = this.attachHost(name);
    this.attachOpen = false;
    const previous = this.platformHost;
    this.metrics.connectionClosed(this.platform);
    previous.touch?.();
    this.platform = name;
    this.platformHost = host;
    this.ctx.platformName = name;
    this.frameOpts = this.frameOptions();
    this.metrics.connectionOpened(name);
  }

  /** Called every pingMs: a peer that has not answered the previous ping is dead. */
  heartbeat(): void {
    if (this.isClosed) return;
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Starts the close handshake; the socket is destroyed if it has not closed after closeTimeoutMs. */
  close(code: number, reason: string): void {
    this.closing = true;
    this.queue.length = 0;
    this.queuedChars = 0;
    // A large answer in flight stops here, and what it held is dropped.
    this.answers.stop();
    this.abort.abort();
    if (this.isClosed) return;
    // Read again, so the peer's close frame is seen (frames are dropped while closing).
    if (this.ws.isPaused) this.ws.resume();
    this.ws.close(code, reason);
    this.killTimer ??= setTimeout(() => this.ws.terminate(), this.opts.closeTimeoutMs);
    this.killTimer.unref();
  }

  private receive(text: string, isBinary: boolean): void {
    if (this.closing) return;
    if (isBinary) {
      this.close(CLOSE_CODES.UNSUPPORTED_DATA, 'JSON-RPC frames must be text');
      return;
    }
    this.queue.push(text);
    this.queuedChars += text.length;
    if (this.backlogged(1) && !this.ws.isPaused) this.ws.pause();
    if (!this.draining) this.drain();
  }

  /**
   * Processes queued frames in order. A frame whose answer is ready at once (every
   * handler it called returned a plain value) is answered within this loop, with no
   * await: at 32 in flight that saves a microtask hop and a promise per frame. A
   * frame answered by a promise stops the loop until it settles; `draining` stays
   * set meanwhile, so later frames wait in `queue` and leave after it.
   *
   * protocol/README.md §1.3: the loop yields to the event loop once it has run for sliceMs
   * (so 1,024 queued slow frames cannot keep /healthz and other clients waiting),
   * and stops while the client leaves maxBufferedBytes of answers unread.
   */
  private drain(): void {
    this.draining = true;
    const started = this.turnStart();
    try {
      for (let text = this.queue[0]; text !== undefined && !this.closing; text = this.queue[0]) {
        if (this.answers.active) {
          this.waitingForStream = true;
          return;
        }
        if (this.ws.bufferedAmount >= this.opts.maxBufferedBytes) {
          this.waitForReader();
          return;
        }
        if (performance.now() - started >= this.opts.sliceMs) {
          // `draining` stays set: frames the socket delivers meanwhile only queue.
          setImmediate(() => this.drain());
          return;
        }
        this.queue.shift();
        this.queuedChars -= text.length;
        this.attachOpen = this.beforeFirstFrame && this.attachHost !== undefined && startsAnObject(text);
        this.beforeFirstFrame = false;
        const out = handleFrame(text, this.platformHost.handlers, this.ctx, this.frameOpts);
        if (out instanceof Promise) {
          // handleFrame's promises never reject; the second handler is a last guard, never an unhandled rejection.
          out.then(
            (settled) => this.resumeDrain(settled),
            (err: unknown) => {
              this.opts.onInternalError('connection drain', err);
              this.resumeDrain(undefined);
            },
          );
          return;
        }
        this.deliver(out);
      }
    } catch (err) {
      // Not expected (handleFrame never throws); reported rather than crashing the server.
      this.opts.onInternalError('connection drain', err);
    }
    if (this.answers.active && !this.closing) {
      // A peer that ended its side is closed only after the last chunk (closeIfDone then).
      this.waitingForStream = true;
      return;
    }
    this.draining = false;
    this.closeIfDone();
  }

  /** A peer that ended its side gets its last answer, then a normal close. */
  private closeIfDone(): void {
    if (this.peerEnded && this.queue.length === 0 && !this.closing) this.close(CLOSE_CODES.NORMAL, 'the client ended the stream');
  }

  /**
   * When this connection's work in the current turn of the event loop began. The
   * ws parser hands over every frame of one TCP read in one synchronous loop, each
   * calling drain(), so the slice is measured per turn, not per drain() call.
   */
  private turnStart(): number {
    if (this.turnStartedAt < 0) {
      this.turnStartedAt = performance.now();
      setImmediate(this.endTurn);
    }
    return this.turnStartedAt;
  }

  private turnStartedAt = -1;
  private readonly endTurn = (): void => {
    this.turnStartedAt = -1;
  };

  private resumeDrain(out: FrameAnswer): void {
    try {
      this.deliver(out);
    } catch (err) {
      this.opts.onInternalError('connection drain', err);
    }
    this.drain();
  }

  /**
   * The client has maxBufferedBytes of answers unread: stop reading its frames and
   * processing them until the socket drains; close it with 1008 when it has not
   * within stalledReaderMs. `draining` stays set, so nothing else starts the loop.
   */
  private waitForReader(): void {
    this.waitingForReader = true;
    if (!this.ws.isPaused) this.ws.pause();
    this.stalledTimer ??= setTimeout(() => {
      this.stalledTimer = undefined;
      if (!this.waitingForReader) return;
      this.metrics.cutOff(this.platformName);
      this.close(CLOSE_CODES.POLICY_VIOLATION, 'response backlog: answers left unread');
    }, this.opts.stalledReaderMs);
    this.stalledTimer.unref();
    const resume = (): void => {
      if (this.closing) return;
      if (this.ws.bufferedAmount >= this.opts.maxBufferedBytes) {
        setTimeout(resume, 5).unref();
        return;
      }
      this.waitingForReader = false;
      if (this.stalledTimer !== undefined) clearTimeout(this.stalledTimer);
      this.stalledTimer = undefined;
      if (this.ws.isPaused && !this.backlogged(2)) this.ws.resume();
      this.drain();
    };
    // The TCP socket says when its buffer empties; without one (a bare WebSocket), poll.
    if (this.socket !== undefined) this.socket.once('drain', resume);
    else setTimeout(resume, 5).unref();
  }

  /**
   * Sends one frame's answer (a large one: its first chunk, the rest follow), then
   * applies a requested close (after a large answer's last chunk) and resumes
   * reading once the backlog is below half.
   */
  private deliver(out: FrameAnswer): void {
    if (this.closing) return;
    this.attachOpen = false;
    if (out !== undefined && this.ws.open) {
      if (!this.corked && this.socket !== undefined) {
        this.corked = true;
        this.socket.cork();
        process.nextTick(this.uncork);
      }
      if (out instanceof SplitText) this.answers.start(out);
      else this.ws.send(out);
    }
    if (this.closeRequested && !this.answers.active) this.close(CLOSE_CODES.FAULT_INJECTION, 'closed by fault injection');
    if (this.ws.isPaused && !this.waitingForReader && !this.backlogged(2)) this.ws.resume();
  }

  /** The large answer in flight has left (and what it held): a requested close now, else the frames that waited. */
  private streamEnded(): void {
    if (this.closeRequested) {
      this.close(CLOSE_CODES.FAULT_INJECTION, 'closed by fault injection');
      return;
    }
    if (this.waitingForStream) {
      this.waitingForStream = false;
      this.drain();
    }
  }

  /**
   * Whether waiting frames fill 1/`fraction` of maxQueuedFrames or of maxFrameBytes;
   * reading pauses at the full limit and resumes below half, so a pipelining client
   * gets TCP backpressure instead of growing the server's memory.
   */
  private backlogged(fraction: number): boolean {
    return this.queue.length >= this.opts.maxQueuedFrames / fraction || this.queuedChars >= this.opts.maxFrameBytes / fraction;
  }

  private notify(method: string, params: Record<string, unknown>): boolean {
    if (this.closing || !this.ws.open) return false;
    if (this.ws.bufferedAmount + this.answers.heldChars >= this.opts.maxBufferedBytes) {
      // The client is not reading: cut it off rather than let the backlog grow.
      this.metrics.cutOff(this.platformName);
      this.close(CLOSE_CODES.POLICY_VIOLATION, 'notification backlog');
      return false;
    }
    let text: string;
    try {
      text = JSON.stringify({ jsonrpc: '2.0', method, params: toWire(params) });
    } catch (err) {
      // A payload that cannot be JSON is the sender's bug, not the connection's.
      this.opts.onInternalError(`notify ${method}`, err);
      return true;
    }
    this.answers.send(text);
    return true;
  }

  private onClose(fn: () => void): void {
    if (this.isClosed) runCleanup(fn, this.opts);
    else this.cleanups.push(fn);
  }

  private finish(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closing = true;
    this.queue.length = 0;
    this.queuedChars = 0;
    if (this.killTimer !== undefined) clearTimeout(this.killTimer);
    if (this.stalledTimer !== undefined) clearTimeout(this.stalledTimer);
    this.answers.stop();
    this.abort.abort();
    this.metrics.connectionClosed(this.platformName);
    for (const fn of this.cleanups.splice(0)) runCleanup(fn, this.opts);
  }
}

function runCleanup(fn: () => void, opts: ServerOptions): void {
  try {
    fn();
  } catch (err) {
    opts.onInternalError('onClose callback', err);
  }
}

/** Whether a frame is a single request object (not a batch), judged by its first non-blank character. */
function startsAnObject(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x7b;
  }
  return false;
}
