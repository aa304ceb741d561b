/**
 * One client of the line transport (`serve --unix PATH`, protocol/README.md §1.9):
 * newline-delimited JSON over a stream socket, as a FrameLink. A line is a frame:
 * one request object or one batch array, UTF-8, ended by "\n" ("\r\n" accepted;
 * blank lines ignored). The server's answers and notifications are one line each
 * (a large answer is written in pieces, then its newline: sendFragment).
 *
 * The WebSocket's close frames have no equivalent on a byte stream, so when the
 * server closes a connection for a reason (shutdown, a line too long, a fault rule,
 * a deleted platform, a backlog), its last line is the notification
 * `session.closed {code, reason}` with the WebSocket close code (§1.4); then the
 * socket ends.
 */
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import { CLOSE_CODES } from './connection.js';
import type { FrameLink, FrameLinkEvents } from './frame-link.js';

const NEWLINE = 0x0a;
const CR = 0x0d;

export class LineLink implements FrameLink {
  private ending = false;
  private paused = false;
  /** A line was begun by sendFragment and not ended yet. */
  private midLine = false;
  /** Bytes of the line not yet ended by a newline. */
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(
    private readonly socket: Socket,
    /** The longest line (without its newline), in bytes: --max-frame-bytes. */
    private readonly maxLineBytes: number,
  ) {}

  get open(): boolean {
    return !this.ending && this.socket.writable;
  }
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }
  get isPaused(): boolean {
    return this.paused;
  }
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }
  resume(): void {
    this.paused = false;
    this.socket.resume();
  }
  send(text: string): void {
    this.socket.write(text + '\n');
  }
  sendFragment(text: string, fin: boolean): void {
    this.midLine = !fin;
    this.socket.write(fin ? text + '\n' : text);
  }
  close(code: number, reason: string): void {
    if (this.ending) return;
    this.ending = true;
    this.partial = [];
    if (!this.socket.writable) return;
    // An answer cut off by the close ends its line (unparsable), so session.closed is a line of its own.
    if (this.midLine) this.socket.write('\n');
    if (code !== CLOSE_CODES.NORMAL) this.socket.write(JSON.stringify({ jsonrpc: '2.0', method: 'session.closed', params: { code, reason } }) + '\n');
    this.socket.end();
  }
  terminate(): void {
    this.socket.destroy();
  }
  /** The kernel reports a vanished peer on a local socket: no probe needed. */
  ping(): void {}

  listen(events: FrameLinkEvents): void {
    this.socket.on('error', () => {});
    this.socket.once('close', () => {
      this.ending = true;
      events.closed();
    });
    this.socket.on('data', (chunk: Buffer) => this.take(chunk, events));
    // The peer ended its side (a script's `printf ... | socat`): what it sent before
    // is still answered (the last line may lack its newline), then the link closes.
    this.socket.once('end', () => {
      if (this.ending) return;
      if (this.partialBytes > 0) this.line(Buffer.concat(this.partial), events);
      this.partial = [];
      this.partialBytes = 0;
      if (!this.ending) events.ended();
    });
  }

  private take(chunk: Buffer, events: FrameLinkEvents): void {
    let start = 0;
    while (!this.ending) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) {
        const rest = chunk.length - start;
        if (rest === 0) return;
        this.partialBytes += rest;
        if (this.partialBytes > this.maxLineBytes) return this.tooLong(events);
        this.partial.push(start === 0 ? chunk : chunk.subarray(start));
        return;
      }
      let bytes = nl - start;
      if (this.partialBytes + bytes > this.maxLineBytes) return this.tooLong(events);
      let line: Buffer;
      if (this.partialBytes === 0) line = chunk.subarray(start, nl);
      else {
        this.partial.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
      }
      bytes = line.length;
      start = nl + 1;
      this.line(bytes > 0 && line[bytes - 1] === CR ? line.subarray(0, bytes - 1) : line, events);
    }
  }

  private line(line: Buffer, events: FrameLinkEvents): void {
    if (isBlank(line)) return;
    if (!isUtf8(line)) {
      events.refuse(CLOSE_CODES.INVALID_DATA, 'a line must be UTF-8 text');
      return;
    }
    events.frame(line.toString('utf8'), false);
  }

  private tooLong(events: FrameLinkEvents): void {
    this.partial = [];
    this.partialBytes = 0;
    events.refuse(CLOSE_CODES.MESSAGE_TOO_BIG, `a line is at most ${this.maxLineBytes} bytes (--max-frame-bytes)`);
  }
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== CR) return false;
  return true;
}
