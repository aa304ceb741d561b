/**
 * A raw client of the line transport for tests: writes lines as given and reads
 * the server's lines one at a time, in order, so a test sees exactly what went
 * over the socket (notifications, session.closed, the end of the stream).
 */
import { createConnection, type Socket } from 'node:net';

export class LineClient {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  private nextId = 1;
  /** Resolves when the server has ended the stream (or the socket closed). */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        this.lines.push(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(path: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes raw text (add the "\n" yourself) or one object as a line. */
  send(message: unknown): void {
    this.socket.write(typeof message === 'string' ? message : JSON.stringify(message) + '\n');
  }

  /** The next line the server sent, parsed; undefined once the stream ended with no more lines. */
  async next(): Promise<any> {
    while (this.lines.length === 0) {
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return JSON.parse(this.lines.shift() as string);
  }

  /** Sends a request and returns its response object (lines before it, notifications, are kept in `skipped`). */
  async request(method: string, params?: Record<string, unknown>, skipped: unknown[] = []): Promise<any> {
    const id = this.nextId++;
    this.send({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });
    for (;;) {
      const line = await this.next();
      if (line === undefined) throw new Error(`stream ended before the answer to ${method}`);
      if (line.id === id) return line;
      skipped.push(line);
    }
  }

  /** The result of `method`, or a throw with the error object. */
  async call(method: string, params?: Record<string, unknown>): Promise<any> {
    const r = await this.request(method, params);
    if (r.error !== undefined) throw Object.assign(new Error(r.error.message), { rpc: r.error });
    return r.result;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
