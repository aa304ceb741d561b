/**
 * One connection's large answer in flight (split-text.ts): its chunks leave one per
 * turn of the event loop and only while the socket keeps up, as WebSocket fragments
 * of one text message or one line written in pieces. Until the last chunk nothing
 * else may be sent on the connection (RFC 6455 §5.4 forbids interleaving data frames
 * with a fragmented message), so notifications sent meanwhile are held here, in
 * order, and leave right after it. The connection (connection.ts) processes no
 * further frame while `active`, so later answers keep their request order.
 */
import type { Duplex } from 'node:stream';
import { CHUNK_CHARS, type SplitText } from './split-text.js';
import type { FrameLink } from './frame-link.js';

/** What the stream needs of its connection. */
export interface AnswerStreamHost {
  /** Whether the connection may still send (not closing, link open). */
  canSend(): boolean;
  /** The last chunk and the held notifications have left. */
  ended(): void;
  /** A reader left a chunk unread for stalledReaderMs: close with 1008. */
  stalled(): void;
  /** A send threw (not expected): the connection cannot go on mid-message. */
  failed(err: unknown): void;
}

export class AnswerStream {
  /** The chunks of the answer being sent, its next chunk read ahead; undefined when none is. */
  private stream: { chunks: Iterator<string, void>; next: IteratorResult<string, void> } | undefined;
  /** Notifications sent while a large answer is in flight, to send after its last chunk. */
  private readonly held: string[] = [];
  /** UTF-16 code units in `held` (they count toward the notification backlog). */
  heldChars = 0;
  /** Closes the connection when a chunk has not drained within stalledReaderMs. */
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly link: FrameLink,
    private readonly host: AnswerStreamHost,
    private readonly stalledReaderMs: number,
    /** The socket under the link: its drain event says when to send on; without one, poll. */
    private readonly socket?: Duplex,
  ) {}

  /** A large answer is in flight. */
  get active(): boolean {
    return this.stream !== undefined;
  }

  /** Starts sending `out`: its first chunk now, the next ones in later turns. */
  start(out: SplitText): void {
    const chunks = out.chunks();
    this.stream = { chunks, next: chunks.next() };
    this.sendChunk();
  }

  /** Sends `text` now, or after the answer in flight. */
  send(text: string): void {
    if (this.stream === undefined) {
      this.link.send(text);
      return;
    }
    this.held.push(text);
    this.heldChars += text.length;
  }

  /** The connection closes: the answer in flight stops (its pending chunk finds nothing) and what was held is dropped. */
  stop(): void {
    this.socket?.off('drain', this.sendChunk);
    this.end();
    this.held.length = 0;
    this.heldChars = 0;
  }

  /**
   * Sends the next chunk, then schedules the one after: on the next turn of the
   * event loop while the socket's unsent bytes stay under one chunk, else once the
   * socket drains. After the last chunk, what was held leaves.
   */
  private readonly sendChunk = (): void => {
    const stream = this.stream;
    if (stream === undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.host.canSend()) {
      this.end();
      return;
    }
    try {
      const chunk = stream.next;
      if (chunk.done !== true) {
        stream.next = stream.chunks.next();
        this.link.sendFragment(chunk.value, stream.next.done === true);
        if (stream.next.done !== true) {
          this.schedule();
          return;
        }
      }
    } catch (err) {
      this.end();
      this.host.failed(err);
      return;
    }
    this.end();
    while (this.held.length > 0 && this.host.canSend()) {
      const text = this.held.shift() as string;
      this.heldChars -= text.length;
      this.link.send(text);
    }
    this.held.length = 0;
    this.heldChars = 0;
    this.host.ended();
  };

  private schedule(): void {
    if (this.link.bufferedAmount < CHUNK_CHARS) {
      setImmediate(this.sendChunk);
      return;
    }
    if (this.socket === undefined || !this.socket.writableNeedDrain) {
      // Without a socket to say when it drains (a bare WebSocket), poll.
      setTimeout(this.sendChunk, 5).unref();
      return;
    }
    this.socket.once('drain', this.sendChunk);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.socket?.off('drain', this.sendChunk);
      this.end();
      this.host.stalled();
    }, this.stalledReaderMs);
    this.timer.unref();
  }

  private end(): void {
    this.stream = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
