/**
 * What a Connection needs from its transport: text frames in and out, flow
 * control, and closing. The WebSocket (`WsLink`, here) and the Unix-socket line
 * transport (`LineLink`, line-link.ts) are the two; everything else (ordering,
 * the envelope, backpressure, notifications, limits) is the Connection's, shared.
 */
import { WebSocket } from 'ws';
import type { RawData } from 'ws';

export interface FrameLinkEvents {
  /** One frame of text (`binary`: a WebSocket binary frame, refused by the connection). */
  frame(text: string, binary: boolean): void;
  /** The peer answered a liveness probe. */
  pong(): void;
  /** The link is closed for good (emitted once). */
  closed(): void;
  /** The peer sent something the link cannot carry (a line too long, not UTF-8): close with `code`. */
  refuse(code: number, reason: string): void;
  /** The peer will send nothing more (a half-closed stream): close once every frame it sent is answered. */
  ended(): void;
}

export interface FrameLink {
  /** Whether frames can still be sent. */
  readonly open: boolean;
  /** Bytes handed to the link and not yet written to the peer. */
  readonly bufferedAmount: number;
  readonly isPaused: boolean;
  pause(): void;
  resume(): void;
  send(text: string): void;
  /**
   * Sends one piece of a message sent in pieces: a WebSocket fragment (RFC 6455
   * §5.4; the first is a text frame, the rest continuations, `fin` on the last), or
   * on the line transport part of one line (`fin` ends it). Between the first piece
   * and the one with `fin`, nothing else may be sent (the Connection holds it).
   */
  sendFragment(text: string, fin: boolean): void;
  /** Closes gracefully, telling the peer `code` (WebSocket close codes, protocol/README.md §1.4) and `reason`. */
  close(code: number, reason: string): void;
  /** Drops the link at once. */
  terminate(): void;
  /** Sends a liveness probe (answered by `pong`); a link whose peer cannot vanish unseen does nothing. */
  ping(): void;
  /** Starts delivering events; called once by the Connection. */
  listen(events: FrameLinkEvents): void;
}

/** A WebSocket as a FrameLink. */
export class WsLink implements FrameLink {
  constructor(private readonly ws: WebSocket) {}

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
  get isPaused(): boolean {
    return this.ws.isPaused;
  }
  pause(): void {
    this.ws.pause();
  }
  resume(): void {
    this.ws.resume();
  }
  send(text: string): void {
    this.ws.send(text);
  }
  sendFragment(text: string, fin: boolean): void {
    this.ws.send(text, { fin });
  }
  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
  }
  terminate(): void {
    this.ws.terminate();
  }
  ping(): void {
    this.ws.ping();
  }
  listen(events: FrameLinkEvents): void {
    this.ws.once('close', () => events.closed());
    // A socket error is followed by 'close'; without a listener it would crash the process.
    this.ws.on('error', () => {});
    this.ws.on('pong', () => events.pong());
    this.ws.on('message', (data, isBinary) => events.frame(rawToText(data), isBinary));
  }
}

function rawToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
