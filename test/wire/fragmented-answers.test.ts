/**
 * A large answer leaves in chunks, never as one join + send: on the WebSocket as
 * fragments of one text message (read here by a raw TCP client that parses frame
 * headers, since a ws client would reassemble them), on the line transport as one
 * line written in pieces. Between two chunks the event loop turns (/healthz and
 * other connections are answered), and nothing else is sent on the connection: a
 * notification or a pipelined call's answer follows the last chunk, intact.
 * Observed as events (the server's sends are counted where they happen), never time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import type { Platform } from '../../src/platform/platform.js';
import { toWire } from '../../src/rpc/to-wire.js';
import { LineLink } from '../../src/rpc/line-link.js';
import { CHUNK_CHARS, SPLIT_MIN_CHARS, SplitText } from '../../src/rpc/split-text.js';

const dir = mkdtempSync(join(tmpdir(), 'smash-emu-frag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let t: AppUnderTest | undefined;
const raws: Socket[] = [];
const originalSend = WebSocket.prototype.send;
const originalFragment = LineLink.prototype.sendFragment;
const internalErrors: string[] = [];
afterEach(async () => {
  WebSocket.prototype.send = originalSend;
  LineLink.prototype.sendFragment = originalFragment;
  for (const s of raws.splice(0)) s.destroy();
  await t?.stop();
  t = undefined;
  internalErrors.length = 0;
});

async function start(unix = false): Promise<AppUnderTest> {
  t = await startTestApp({
    validateResults: false,
    server: { onInternalError: (what: string, err: unknown) => internalErrors.push(`${what}: ${String(err)}`), ...(unix ? { unixPath: join(dir, `s${Date.now()}.sock`) } : {}) },
  });
  return t;
}

/** ~10 MB of non-zero memory words in the dump: about ten chunks. */
async function fillMemory(app: AppUnderTest): Promise<void> {
  const values = Array.from({ length: 65_536 }, (_, i) => '0x' + (0x1000_0000_0000 + i).toString(16));
  for (let k = 0; k < 8; k++) {
    const { spa } = await app.call('mem.alloc', { pages: 128 });
    await app.call('mem.write64', { spa, values });
  }
}

/** The answer the synchronous path gives: the dump as one JSON.stringify of the whole response. */
function syncAnswer(p: Platform, id: number): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result: toWire(p.dumpState()) });
}

interface WsFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** A WebSocket client on a raw TCP socket: it sees every frame as sent (fragments are not reassembled). */
class RawWs {
  readonly frames: WsFrame[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: Socket) {}

  static async connect(url: string): Promise<RawWs> {
    const u = new URL(url);
    const socket = createConnection({ host: u.hostname, port: Number(u.port) });
    raws.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const key = randomBytes(16).toString('base64');
    socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const raw = new RawWs(socket);
    let head = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const status = head.subarray(0, end).toString('latin1');
        const accept = createHash('sha1')
          .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
          .digest('base64');
        if (!status.startsWith('HTTP/1.1 101') || !status.includes(accept)) reject(new Error(status));
        socket.on('data', (c: Buffer) => raw.take(c));
        raw.take(head.subarray(end + 4));
        resolve();
      };
      socket.on('data', onData);
    });
    return raw;
  }

  send(message: unknown): void {
    const payload = Buffer.from(JSON.stringify(message));
    const mask = randomBytes(4);
    const len = payload.length;
    const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i & 3] as number)));
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  private take(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) break;
      const b0 = this.buf[0] as number;
      const b1 = this.buf[1] as number;
      expect(b1 & 0x80, 'server frames are not masked').toBe(0);
      let len = b1 & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) break;
      this.frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: this.buf.subarray(at, at + len) });
      this.buf = this.buf.subarray(at + len);
    }
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `n` complete messages (a text frame with fin, or a run of fragments ending with fin) have arrived. */
  async messages(n: number): Promise<{ text: string; frames: number }[]> {
    for (;;) {
      const out = reassemble(this.frames);
      if (out.length >= n) return out;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/** Data frames to messages, checking RFC 6455 §5.4: a fragmented message's frames are contiguous, continuations (opcode 0) after the first. */
function reassemble(frames: WsFrame[]): { text: string; frames: number }[] {
  const out: { text: string; frames: number }[] = [];
  let open: Buffer[] | undefined;
  for (const f of frames) {
    if (f.opcode >= 8) continue; // control frames may come between fragments
    if (open === undefined) {
      expect(f.opcode, 'a message starts with a text frame').toBe(1);
      open = [f.payload];
    } else {
      expect(f.opcode, 'nothing else between the fragments of a message').toBe(0);
      open.push(f.payload);
    }
    if (f.fin) {
      out.push({ text: Buffer.concat(open).toString('utf8'), frames: open.length });
      open = undefined;
    }
  }
  return out;
}

/** Counts what happens on the server between the first and the last chunk of the first large answer. */
function watchWsFragments(onFirst: () => void = () => {}): { first: number; last: number; sends: number; at: (n: () => number) => void } {
  const seen = { first: -1, last: -1, sends: 0, at: (n: () => number) => (count = n) };
  let count: () => number = () => 0;
  WebSocket.prototype.send = function (this: WebSocket, data: unknown, ...rest: unknown[]) {
    const opts = rest[0] as { fin?: boolean } | undefined;
    if (typeof opts === 'object' && opts !== null && 'fin' in opts) {
      seen.sends++;
      if (seen.first < 0) {
        seen.first = count();
        onFirst();
      }
      if (opts.fin === true && seen.last < 0) seen.last = count();
    }
    return (originalSend as (...x: unknown[]) => void).call(this, data, ...rest);
  } as typeof WebSocket.prototype.send;
  return seen;
}

/** /healthz asked continuously (four in flight) until `stop`; `answered()` counts the answers. */
function healthzLoop(app: AppUnderTest): { answered: () => number; stop: () => Promise<void> } {
  let answered = 0;
  let done = false;
  const url = app.app.url.replace(/^ws/, 'http') + '/healthz';
  const loop = async (): Promise<void> => {
    while (!done) {
      const r = await fetch(url);
      await r.arrayBuffer();
      answered++;
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  return {
    answered: () => answered,
    stop: async () => {
      done = true;
      await Promise.all(loops);
    },
  };
}

describe('SplitText', () => {
  it('cuts its text into chunks that join back to it, never inside a surrogate pair', () => {
    const big = 'x'.repeat(CHUNK_CHARS - 1) + '\u{1F600}' + 'y'.repeat(10);
    const split = new SplitText(['{"a":', 'b'.repeat(5), big, ',"c":', 'z'.repeat(3 * CHUNK_CHARS + 7), '}']);
    const chunks = [...split.chunks()];
    expect(chunks.join('')).toBe(split.join());
    expect(split.length).toBe(split.join().length);
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(CHUNK_CHARS);
      expect(c.length).toBeGreaterThan(0);
      // Each chunk alone encodes to UTF-8 and back unchanged.
      expect(Buffer.from(c, 'utf8').toString('utf8')).toBe(c);
    }
    expect(chunks.length).toBeGreaterThanOrEqual(5);
  });
});

describe('a large answer on the WebSocket is sent as fragments of one text message', () => {
  it('emu.dumpState arrives in several fragments, byte-identical to the synchronous JSON, with /healthz and another connection answered between them', async () => {
    const app = await start();
    await fillMemory(app);
    const p = app.app.platforms().get('') as Platform;
    const expected = syncAnswer(p, 1);
    expect(expected.length).toBeGreaterThan(4 * SPLIT_MIN_CHARS);

    const other = await app.connect('/platforms/other');
    let otherAnswers = 0;
    let otherDone = false;
    const otherLoop = (async () => {
      while (!otherDone) {
        await other.call('emu.info');
        otherAnswers++;
      }
    })();
    const healthz = healthzLoop(app);
    const raw = await RawWs.connect(app.app.url + '/');
    const seen = watchWsFragments();
    seen.at(() => healthz.answered() * 1_000_000 + otherAnswers);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'emu.dumpState' });
    const [answer] = await raw.messages(1);
    otherDone = true;
    await healthz.stop();
    await otherLoop;

    expect(answer!.frames).toBeGreaterThanOrEqual(4);
    expect(answer!.frames).toBe(seen.sends);
    expect(answer!.text).toBe(expected);
    const healthzBetween = Math.floor(seen.last / 1_000_000) - Math.floor(seen.first / 1_000_000);
    const otherBetween = (seen.last % 1_000_000) - (seen.first % 1_000_000);
    expect(healthzBetween, '/healthz answered between the first and the last fragment').toBeGreaterThan(0);
    expect(otherBetween, "another connection's calls answered between the first and the last fragment").toBeGreaterThan(0);
    expect(internalErrors).toEqual([]);
  });

  it('a notification and a pipelined call sent during the answer arrive after its last fragment, whole and in order', async () => {
    const app = await start();
    await fillMemory(app);
    const p = app.app.platforms().get('') as Platform;
    const raw = await RawWs.connect(app.app.url + '/');
    raw.send({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { topics: ['tmpm'] } });
    await raw.messages(1);
    const expected = syncAnswer(p, 2);
    // When the first fragment leaves, the platform publishes an event: the subscriber's notification must wait.
    watchWsFragments(() => p.bus.emit('tmpm', 0, { kind: 'test', note: 'during the answer' }));
    raw.send({ jsonrpc: '2.0', id: 2, method: 'emu.dumpState' });
    raw.send({ jsonrpc: '2.0', id: 3, method: 'emu.info' });
    raw.send([{ jsonrpc: '2.0', id: 4, method: 'emu.info' }]);
    const messages = await raw.messages(5);
    expect(messages[1]!.frames).toBeGreaterThan(1);
    expect(messages[1]!.text).toBe(expected);
    const rest = messages.slice(2).map((m) => ({ frames: m.frames, msg: JSON.parse(m.text) }));
    expect(rest.map((m) => m.frames)).toEqual([1, 1, 1]);
    expect(rest[0]!.msg).toMatchObject({ method: 'events.notify', params: { topic: 'tmpm', data: { kind: 'test', note: 'during the answer' } } });
    expect(rest[1]!.msg).toMatchObject({ id: 3, result: {} });
    expect(rest[2]!.msg).toMatchObject([{ id: 4 }]);
    expect(internalErrors).toEqual([]);
  });

  it('a client that goes away mid-answer: no error, the connection is released, the server answers the next client', async () => {
    const app = await start();
    await fillMemory(app);
    const p = app.app.platforms().get('') as Platform;
    const raw = await RawWs.connect(app.app.url + '/');
    let sends = 0;
    const seen = watchWsFragments(() => raw.socket.destroy());
    seen.at(() => sends++);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'emu.dumpState' });
    await new Promise<void>((resolve) => raw.socket.once('close', () => resolve()));
    // Only the test client's connection stays open.
    for (;;) {
      const list = (await app.call('emu.platforms')) as { platforms: { name: string; connections: number }[] };
      if (list.platforms.find((x) => x.name === '')?.connections === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen.sends).toBeLessThan(5);
    const again = await RawWs.connect(app.app.url + '/');
    const expected = syncAnswer(p, 7);
    again.send({ jsonrpc: '2.0', id: 7, method: 'emu.dumpState' });
    const [answer] = await again.messages(1);
    expect(answer!.text).toBe(expected);
    expect(internalErrors).toEqual([]);
  });

  it('a client that stops reading mid-answer is closed after stalledReaderMs, as for unread answers', async () => {
    t = await startTestApp({ validateResults: false, server: { stalledReaderMs: 50, closeTimeoutMs: 50, onInternalError: (what: string, err: unknown) => internalErrors.push(`${what}: ${String(err)}`) } });
    await fillMemory(t);
    const raw = await RawWs.connect(t.app.url + '/');
    raw.socket.pause();
    let sends = 0;
    const seen = watchWsFragments();
    seen.at(() => sends++);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'emu.dumpState' });
    // A paused socket does not see its end: the server's count of connections says it closed.
    for (;;) {
      const list = (await t.call('emu.platforms')) as { platforms: { name: string; connections: number }[] };
      if (list.platforms.find((x) => x.name === '')?.connections === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen.first, 'the answer began').toBeGreaterThanOrEqual(0);
    expect(seen.last, 'its last fragment never went').toBe(-1);
    expect(internalErrors).toEqual([]);
  });

  it('small answers stay one frame; maxResponseBytes still refuses an answer over it with -32003', async () => {
    t = await startTestApp({ validateResults: false, server: { maxResponseBytes: 3 * 1024 * 1024 } });
    await fillMemory(t);
    const raw = await RawWs.connect(t.app.url + '/');
    raw.send({ jsonrpc: '2.0', id: 1, method: 'emu.info' });
    raw.send({ jsonrpc: '2.0', id: 2, method: 'emu.dumpState' });
    const messages = await raw.messages(2);
    expect(messages.map((m) => m.frames)).toEqual([1, 1]);
    expect(JSON.parse(messages[1]!.text)).toMatchObject({ id: 2, error: { code: -32003, data: { limit: 'maxResponseBytes', maxResponseBytes: 3 * 1024 * 1024 } } });
  });
});

/** A raw line-transport client: the server's lines as strings, counted as they end. */
async function rawLine(path: string): Promise<{ socket: Socket; lines: string[]; next: (n: number) => Promise<string[]>; send: (m: unknown) => void }> {
  const socket = createConnection(path);
  raws.push(socket);
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const lines: string[] = [];
  let partial: Buffer[] = [];
  let waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      partial.push(chunk.subarray(start, nl));
      lines.push(Buffer.concat(partial).toString('utf8'));
      partial = [];
      start = nl + 1;
    }
    if (start < chunk.length) partial.push(chunk.subarray(start));
    for (const w of waiters.splice(0)) w();
  });
  const next = async (n: number): Promise<string[]> => {
    while (lines.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    return lines.slice(0, n);
  };
  waiters = [];
  return { socket, lines, next, send: (m: unknown) => socket.write(JSON.stringify(m) + '\n') };
}

describe('a large answer on the line transport is one line written in pieces', () => {
  it('byte-identical to the synchronous JSON; /healthz answered between pieces; a notification and a pipelined call follow it intact', async () => {
    const app = await start(true);
    await fillMemory(app);
    const p = app.app.platforms().get('') as Platform;
    const c = await rawLine(app.app.unixPath as string);
    c.send({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { topics: ['tmpm'] } });
    await c.next(1);
    const expected = syncAnswer(p, 2);
    const healthz = healthzLoop(app);
    let pieces = 0;
    let first = -1;
    let last = -1;
    LineLink.prototype.sendFragment = function (this: LineLink, text: string, fin: boolean) {
      pieces++;
      if (first < 0) {
        first = healthz.answered();
        p.bus.emit('tmpm', 0, { kind: 'test', note: 'during the answer' });
      }
      if (fin) last = healthz.answered();
      return originalFragment.call(this, text, fin);
    };
    c.send({ jsonrpc: '2.0', id: 2, method: 'emu.dumpState' });
    c.send({ jsonrpc: '2.0', id: 3, method: 'emu.info' });
    const lines = await c.next(4);
    await healthz.stop();
    expect(pieces).toBeGreaterThanOrEqual(4);
    expect(lines[1]).toBe(expected);
    expect(last - first, '/healthz answered between the first and the last piece').toBeGreaterThan(0);
    expect(JSON.parse(lines[2]!)).toMatchObject({ method: 'events.notify', params: { topic: 'tmpm', data: { note: 'during the answer' } } });
    expect(JSON.parse(lines[3]!)).toMatchObject({ id: 3, result: {} });
    expect(internalErrors).toEqual([]);
  });

  it('a client that goes away mid-answer: no error, and the server answers the next client', async () => {
    const app = await start(true);
    await fillMemory(app);
    const p = app.app.platforms().get('') as Platform;
    const c = await rawLine(app.app.unixPath as string);
    let pieces = 0;
    LineLink.prototype.sendFragment = function (this: LineLink, text: string, fin: boolean) {
      if (pieces++ === 0) c.socket.destroy();
      return originalFragment.call(this, text, fin);
    };
    c.send({ jsonrpc: '2.0', id: 1, method: 'emu.dumpState' });
    await new Promise<void>((resolve) => c.socket.once('close', () => resolve()));
    for (;;) {
      const list = (await app.call('emu.platforms')) as { platforms: { name: string; connections: number }[] };
      if (list.platforms.find((x) => x.name === '')?.connections === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(pieces).toBeLessThan(5);
    LineLink.prototype.sendFragment = originalFragment;
    const d = await rawLine(app.app.unixPath as string);
    d.send({ jsonrpc: '2.0', id: 9, method: 'emu.dumpState' });
    const [line] = await d.next(1);
    expect(line).toBe(syncAnswer(p, 9));
    expect(internalErrors).toEqual([]);
  });
});
