/**
 * Wire fuzzing helpers (issue 6 item 2): a seeded PRNG, a generator of hostile and
 * valid JSON-RPC frames that each carry the answer protocol/README.md (§1.2,
 * §3) requires, a checker for those answers, and a pipelined driver that keeps a
 * bounded number of answered frames in flight on one WebSocket.
 *
 * Every valid call the generator emits is read-only, so the platform's state dump
 * must be the same before and after a fuzz run.
 */
import { WebSocket } from 'ws';

/** xorshift128: small, fast and seedable; the same seed gives the same frames. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = seed >>> 0 || 1;
    this.b = 0x9e3779b9;
    this.c = 0x243f6a88;
    this.d = 0xb7e15162;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
}

export type Expect = { kind: 'error'; code: number; id: unknown } | { kind: 'result'; id: unknown } | { kind: 'batch'; members: Expect[] } | { kind: 'silent' };

export interface Frame {
  text: string;
  expect: Expect;
  /** What the frame is, for failure messages. */
  label: string;
}

export const PARSE = -32700;
export const INVALID_REQUEST = -32600;
export const NOT_FOUND_METHOD = -32601;
export const INVALID_PARAMS = -32602;
export const EMU_NOT_FOUND = -32001;

/** One request object (not yet serialised) and its answer; `notification` drops the id. */
interface Member {
  /** The object, or raw JSON text for members that cannot be built as objects (1e400, __proto__ keys). */
  obj?: unknown;
  raw?: string;
  expect: Expect;
  label: string;
}

const READ_ONLY: Array<[string, Record<string, unknown> | undefined]> = [
  ['clock.now', undefined],
  ['clock.now', {}],
  ['psp.regs', {}],
  ['tmpm.getStallModel', undefined],
  ['tmpm.readReg', { offset: 0x1c }],
  ['tmpm.regs', {}],
  ['mem.read64', { spa: '0x80000000', count: 4 }],
  ['mem.read64', { spa: '0x100000000', count: 1 }],
  ['rmp.read', { spa: '0x100201000' }],
  ['rmp.read', { spa: '0X80000000' }],
  ['iommu.walk', { deviceId: 0x100, iova: '0x201000' }],
  ['iommu.walk', { deviceId: 0x200, iova: '0x3000', write: true }],
  ['iommu.readDte', { deviceId: 0x100 }],
  ['dma.stats', {}],
  ['dma.stats', { deviceId: 0x200 }],
  ['fault.list', {}],
  ['iommu.events', { max: 4 }],
  ['iommu.iotlb', {}],
];

const HEX100 = '0x' + 'f'.repeat(100);

/** Params a schema must refuse with -32602 (method, params). */
const BAD_PARAMS: Array<[string, unknown]> = [
  ['mem.read64', { spa: 1e308, count: 1 }],
  ['mem.read64', { spa: 2 ** 64, count: 1 }],
  ['mem.read64', { spa: HEX100, count: 1 }],
  ['mem.read64', { spa: '0x1000', count: -1 }],
  ['mem.read64', { spa: '0x1000', count: 1e9 }],
  ['mem.read64', { spa: '0x1000', count: 2 ** 64 }],
  ['mem.read64', { spa: '0xZZ', count: 1 }],
  ['mem.read64', { spa: '0x1000' }],
  ['mem.read64', { spa: '0x1000', count: 1, extra: 1 }],
  ['mem.read64', { spa: '0x1000', count: 1.5 }],
  ['mem.read64', { spa: '-0x1000', count: 1 }],
  ['mem.read64', { spa: '0x' + 'f'.repeat(16), count: 1 }],
  ['rmp.read', { spa: null }],
  ['rmp.read', { spa: { toString: 'x' } }],
  ['rmp.read', { spa: ['0x0'] }],
  ['rmp.read', { spa: '0x' + 'f'.repeat(13) }],
  ['rmp.read', {}],
  ['iommu.walk', { deviceId: -1, iova: '0x0' }],
  ['iommu.walk', { deviceId: 0x10000, iova: '0x0' }],
  ['iommu.walk', { deviceId: 1, iova: HEX100 }],
  ['iommu.walk', { deviceId: '1', iova: '0x0' }],
  ['dma.issue', { deviceId: 0x100, iova: '0x0', bytes: 'x', write: false }],
  ['dma.issue', { deviceId: 0x100, iova: '0x0', bytes: 1e308, write: false }],
  ['dma.issue', { deviceId: 0x100, iova: '0xff0', bytes: 64, write: false }],
  ['dma.issue', { deviceId: 0x100, iova: '0x0', bytes: 0, write: 'yes' }],
  ['clock.advance', { ns: 1e308 }],
  ['clock.advance', { ns: -5 }],
  ['clock.advance', { ns: 2 ** 64 }],
  ['clock.advance', { ns: '100' }],
  ['clock.setMode', { mode: 'warp' }],
  ['clock.setMode', { mode: 'realtime', speed: -1 }],
  ['mem.alloc', { pages: 1e9 }],
  ['mem.alloc', { pages: -1 }],
  ['mem.alloc', { pages: 0 }],
  ['mem.write64', { spa: '0x80000000', values: 'nope' }],
  ['mem.write64', { spa: '0x80000000', values: [1] }],
  ['mem.write64', { spa: '0x80000000', values: [HEX100] }],
  ['rmp.update', { spa: '0x1000', assigned: 'yes', pageSize: '4K' }],
  ['rmp.update', { spa: '0x1000', assigned: true, pageSize: '1G' }],
  ['rmp.psmash', { spa: 12 }],
  ['guest.pvalidate', { asid: 1.5, gpa: '0x0', pageSize: '4K', validate: true }],
  ['tmpm.psmashIo', { srcPgSpa: '0x0', smashHpteSpa: HEX100, srcHpmdSpa: '0x0', gctxSpa: '0x0' }],
  ['tmpm.psmashIo', { srcPgSpa: '0x0' }],
  ['tmpm.readReg', { offset: 0x20 }],
  ['tmpm.writeReg', { offset: 0x1c, value: 0 }],
  ['tmpm.writeReg', { offset: 0x18, value: 2 ** 32 }],
  ['tmpm.submit', { command: 256, listSpa: '0x0' }],
  ['fw.tdiBind', { deviceId: 1e308, asid: 1 }],
  ['tmpm.setStallModel', { baseNs: -1 }],
  ['tmpm.setStallModel', { jitter: { dist: 'cauchy' } }],
  ['iommu.map', { domainId: 1, iova: '0x0', spa: '0x0', length: HEX100, sizeLg2: 12, read: true, write: true }],
  ['iommu.unmap', { domainId: 1, iova: '0x0' }],
  ['iommu.command', { qwords: ['0x1'] }],
  ['iommu.command', { qwords: [HEX100, '0x0'] }],
  ['iommu.setDte', { deviceId: 1, mode: 9 }],
  ['dma.startStream', { deviceId: 1, iovaBase: '0x0', length: '0x1000', ratePerSec: 1e308, accessBytes: 64, writeRatio: 0.5 }],
  ['dma.startStream', { deviceId: 1, iovaBase: '0x0', length: '0x1000', ratePerSec: 1000, accessBytes: 64, writeRatio: 2 }],
  ['fault.add', { method: 'fault.add', status: 1 }],
  ['fault.add', { method: 'clock.now', probability: 5 }],
  ['events.subscribe', { topics: ['nope'] }],
  ['events.subscribe', { topics: 'fw' }],
  ['emu.revert', { snapshotId: 5 }],
  ['emu.reset', { scenario: 'full' }],
  ['emu.reset', { scenario: { memoryBytes: '-0x1000' } }],
  ['emu.reset', { scenario: { memoryBytes: 1e9 } }],
  ['emu.reset', { scenario: { guests: [{ asid: 1, ranges: [{ gpa: '0x0', spa: '0x0', length: '0x-1000', rmp: '2M', validated: true }] }] } }],
  ['emu.reset', { scenario: { rmpUpdates: [{ spa: '0x0', count: 1e9, assigned: true, pageSize: '4K', asid: 1, gpa: '0x0' }] } }],
  ['emu.reset', { scenario: { eventLogEntries: 4e9 } }],
  ['emu.reset', { scenario: { devices: [{ deviceId: 1, domainId: 1, mappings: [{ iova: '0x0', spa: '0x0', length: '0x1000', sizeLg2: 99, read: true, write: true }] }] } }],
  ['emu.loadState', {}],
  ['emu.loadState', { state: null }],
  ['emu.loadState', { state: 'smash-emu-state' }],
  ['emu.loadState', { state: { format: 'smash-emu-state', version: 2 } }],
  ['emu.loadState', { state: { format: 'smash-emu-state', version: 1 } }],
  ['emu.loadState', { state: { format: 'smash-emu-state', version: 1, settings: { memoryBytes: -4096 } } }],
  ['emu.loadState', { state: [] }],
];

/** Params a handler refuses because a named thing does not exist: -32001. */
const NOT_FOUND_PARAMS: Array<[string, Record<string, unknown>]> = [
  ['emu.revert', { snapshotId: 'snap-999999' }],
  ['dma.stopStream', { streamId: 'no-such-stream' }],
  ['fault.remove', { faultId: 'no-such-fault' }],
  ['events.unsubscribe', { subscriptionId: 'sub-nope' }],
];

/** Raw request texts with keys JSON.parse keeps as own properties. */
const HOSTILE_KEY_PARAMS = ['"__proto__":{"polluted":true}', '"constructor":{"prototype":{"polluted":true}}', '"prototype":1', '"__proto__":null', '"toString":"x"'];

const UNKNOWN_METHODS = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'rpc.foo',
  'rpc.',
  'emu.',
  'EMU.INFO',
  'clock.now ',
  ' clock.now',
  '',
  'a'.repeat(300),
  'tmpm.psmashIo\u0000',
  'mem.read64.x',
  '__defineGetter__',
];

const GARBAGE = [
  '{',
  '}',
  '[',
  '[1,2',
  '{"a":}',
  'nul',
  'tru',
  '{"jsonrpc":"2.0",',
  "{'jsonrpc':'2.0'}",
  '\u0000',
  '{"jsonrpc":"2.0","method":"clock.now","id":1}}',
  '01',
  '-',
  '{"a" "b"}',
  '{"id":1,}',
  '[{"jsonrpc":"2.0","method":"clock.now","id":1},',
  'NaN',
  'undefined',
  '"\\x"',
  '{"a":1e}',
];

export class FrameGenerator {
  private nextId = 1;
  constructor(readonly rng: Rng) {}

  private id(): number | string {
    const n = this.nextId++;
    return this.rng.chance(0.2) ? `s${n}` : n;
  }

  /** A request object member; `notify` leaves the id out. */
  private member(): Member {
    const r = this.rng;
    const notify = r.chance(0.1);
    const id = notify ? undefined : this.id();
    const withId = (o: Record<string, unknown>) => (notify ? o : { ...o, id });
    const answered = (e: Expect): Expect => (notify ? { kind: 'silent' } : e);
    switch (r.int(12)) {
      case 0:
      case 1:
      case 2: {
        const [method, params] = r.pick(READ_ONLY);
        return { obj: withId({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) }), expect: answered({ kind: 'result', id }), label: `valid ${method}` };
      }
      case 3:
      case 4: {
        const [method, params] = r.pick(BAD_PARAMS);
        return { obj: withId({ jsonrpc: '2.0', method, params }), expect: answered({ kind: 'error', code: INVALID_PARAMS, id }), label: `bad params ${method} ${JSON.stringify(params).slice(0, 80)}` };
      }
      case 5: {
        const method = r.pick(READ_ONLY)[0];
        const params = r.pick<unknown>([[], [1, 2], 5, 'str', true, null, [{ spa: '0x0' }]]);
        return { obj: withId({ jsonrpc: '2.0', method, params }), expect: answered({ kind: 'error', code: INVALID_PARAMS, id }), label: `non-object params ${JSON.stringify(params)}` };
      }
      case 6: {
        const method = r.pick(UNKNOWN_METHODS);
        return { obj: withId({ jsonrpc: '2.0', method, params: {} }), expect: answered({ kind: 'error', code: NOT_FOUND_METHOD, id }), label: `unknown method ${JSON.stringify(method).slice(0, 40)}` };
      }
      case 7: {
        const [method, params] = r.pick(NOT_FOUND_PARAMS);
        return { obj: withId({ jsonrpc: '2.0', method, params }), expect: answered({ kind: 'error', code: EMU_NOT_FOUND, id }), label: `not found ${method}` };
      }
      case 8: {
        // Keys that would pollute a prototype if copied carelessly; strict params refuse them.
        const [method, params] = r.pick(READ_ONLY.filter(([, p]) => p !== undefined && Object.keys(p).length > 0));
        const inner = JSON.stringify(params).slice(1, -1);
        const raw = `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":{${inner},${r.pick(HOSTILE_KEY_PARAMS)}}${notify ? '' : `,"id":${JSON.stringify(id)}`}}`;
        return { raw, expect: answered({ kind: 'error', code: INVALID_PARAMS, id }), label: `prototype keys ${method}` };
      }
      case 9: {
        // Invalid requests are answered even without an id (they are not notifications).
        const vid = this.id();
        const variants: Array<[unknown, unknown]> = [
          [{ jsonrpc: '1.0', method: 'clock.now', id: vid }, vid],
          [{ method: 'clock.now', id: vid }, vid],
          [{ jsonrpc: 2, method: 'clock.now', id: vid }, vid],
          [{ jsonrpc: '2.0', method: 42, id: vid }, vid],
          [{ jsonrpc: '2.0', id: vid }, vid],
          [{ jsonrpc: '2.0', method: 'clock.now', id: vid, result: 1 }, vid],
          [{ jsonrpc: '2.0', method: 'clock.now', id: vid, error: {} }, vid],
          [{ jsonrpc: '2.0', method: 'clock.now', id: { a: 1 } }, null],
          [{ jsonrpc: '2.0', method: 'clock.now', id: [1] }, null],
          [{ jsonrpc: '2.0', method: 'clock.now', id: true }, null],
          [{ jsonrpc: '1.0', method: 'clock.now' }, null],
          [{ jsonrpc: '2.0', method: null }, null],
          [1, null],
          ['x', null],
          [null, null],
          [true, null],
          [[], null],
        ];
        const [obj, replyId] = r.pick(variants);
        return { obj, expect: { kind: 'error', code: INVALID_REQUEST, id: replyId }, label: `invalid request ${JSON.stringify(obj)}` };
      }
      case 10: {
        const raw = r.pick(['{"jsonrpc":"2.0","method":"clock.now","id":1e400}', '{"jsonrpc":"2.0","method":"clock.now","id":-1e400}']);
        return { raw, expect: { kind: 'error', code: INVALID_REQUEST, id: null }, label: 'non-finite id' };
      }
      default: {
        // Huge numbers and long hex where the schema wants small ones.
        const method = 'mem.read64';
        const raw = `{"jsonrpc":"2.0","method":"${method}","params":{"spa":"0x80000000","count":${r.pick(['1e308', '18446744073709551616', '-0', '4.0000000001', '1e-308', '9007199254740993'])}}${notify ? '' : `,"id":${JSON.stringify(id)}`}}`;
        // -0 is 0: a count below 1 is refused like the rest.
        return { raw, expect: answered({ kind: 'error', code: INVALID_PARAMS, id }), label: 'huge number' };
      }
    }
  }

  private text(m: Member): string {
    return m.raw ?? JSON.stringify(m.obj);
  }

  /** The next frame: mostly single requests, some batches, some broken JSON. */
  next(): Frame {
    const r = this.rng;
    const roll = r.int(100);
    if (roll < 8) {
      const g = r.pick(GARBAGE);
      return { text: g, expect: { kind: 'error', code: PARSE, id: null }, label: `garbage ${JSON.stringify(g)}` };
    }
    if (roll < 12) {
      const whole = this.text(this.member());
      // A one-character text ("1") has no broken prefix: send garbage instead.
      if (whole.length < 2) return { text: '{', expect: { kind: 'error', code: PARSE, id: null }, label: 'garbage "{"' };
      const cut = whole.slice(0, 1 + r.int(Math.max(1, whole.length - 1)));
      return { text: cut, expect: { kind: 'error', code: PARSE, id: null }, label: `truncated ${JSON.stringify(cut)}` };
    }
    if (roll < 22) {
      const n = r.chance(0.05) ? 0 : 1 + r.int(8);
      if (n === 0) return { text: '[]', expect: { kind: 'error', code: INVALID_REQUEST, id: null }, label: 'empty batch' };
      const members = Array.from({ length: n }, () => this.member());
      const answered = members.map((m) => m.expect).filter((e) => e.kind !== 'silent');
      return {
        text: '[' + members.map((m) => this.text(m)).join(',') + ']',
        expect: answered.length === 0 ? { kind: 'silent' } : { kind: 'batch', members: answered },
        label: `batch of ${n}: ${members.map((m) => m.label).join('; ')}`,
      };
    }
    const m = this.member();
    return { text: this.text(m), expect: m.expect, label: m.label };
  }

  /** Rare, large frames: 1 MiB strings, 10k-deep nesting, an oversized batch. */
  big(kind: number): Frame {
    const id = this.id();
    switch (kind % 5) {
      case 0:
        return { text: JSON.stringify({ jsonrpc: '2.0', method: 'mem.read64', params: { spa: 'x'.repeat(1 << 20), count: 1 }, id }), expect: { kind: 'error', code: INVALID_PARAMS, id }, label: '1 MiB string param' };
      case 1:
        return { text: JSON.stringify({ jsonrpc: '2.0', method: 'x'.repeat(1 << 20), id }), expect: { kind: 'error', code: NOT_FOUND_METHOD, id }, label: '1 MiB method name' };
      case 2:
        return {
          text: `{"jsonrpc":"2.0","method":"rmp.read","params":{"spa":${'['.repeat(10_000)}${']'.repeat(10_000)}},"id":${JSON.stringify(id)}}`,
          expect: { kind: 'error', code: INVALID_PARAMS, id },
          label: '10k-deep params',
        };
      case 3:
        return { text: '['.repeat(10_000) + ']'.repeat(10_000), expect: { kind: 'batch', members: [{ kind: 'error', code: INVALID_REQUEST, id: null }] }, label: '10k-deep batch' };
      default:
        return { text: JSON.stringify(Array.from({ length: 1001 }, (_, i) => ({ jsonrpc: '2.0', method: 'clock.now', id: i }))), expect: { kind: 'error', code: INVALID_REQUEST, id: null }, label: 'batch of 1001' };
    }
  }
}

/** Why a response does not answer `e`, or null when it does. */
export function mismatch(e: Expect, got: unknown): string | null {
  if (e.kind === 'silent') return `expected no answer, got ${JSON.stringify(got).slice(0, 300)}`;
  if (e.kind === 'batch') {
    if (!Array.isArray(got)) return `expected a batch answer of ${e.members.length}, got ${JSON.stringify(got).slice(0, 300)}`;
    if (got.length !== e.members.length) return `expected ${e.members.length} batch answers, got ${got.length}: ${JSON.stringify(got).slice(0, 300)}`;
    for (let i = 0; i < got.length; i++) {
      const why = mismatch(e.members[i] as Expect, got[i]);
      if (why !== null) return `batch member ${i}: ${why}`;
    }
    return null;
  }
  if (typeof got !== 'object' || got === null || Array.isArray(got)) return `expected a response object, got ${JSON.stringify(got).slice(0, 300)}`;
  const o = got as Record<string, unknown>;
  if (o['jsonrpc'] !== '2.0') return `jsonrpc is ${JSON.stringify(o['jsonrpc'])}`;
  if (o['id'] !== e.id) return `id ${JSON.stringify(o['id'])}, expected ${JSON.stringify(e.id)}`;
  if (e.kind === 'result') {
    if (!('result' in o) || 'error' in o) return `expected a result, got ${JSON.stringify(o).slice(0, 300)}`;
    return null;
  }
  const err = o['error'] as Record<string, unknown> | undefined;
  if (err === undefined || 'result' in o) return `expected error ${e.code}, got ${JSON.stringify(o).slice(0, 300)}`;
  if (err['code'] === 0) return 'an error with code 0';
  if (err['code'] !== e.code) return `error code ${String(err['code'])}, expected ${e.code}: ${JSON.stringify(err).slice(0, 300)}`;
  if (typeof err['message'] !== 'string' || err['message'] === '') return 'error without a message';
  if (e.code === INVALID_PARAMS) {
    const issues = (err['data'] as Record<string, unknown> | undefined)?.['issues'];
    if (!Array.isArray(issues) || issues.length === 0) return `-32602 without data.issues: ${JSON.stringify(err).slice(0, 300)}`;
    for (const i of issues as Array<Record<string, unknown>>) {
      if (!Array.isArray(i['path']) || typeof i['message'] !== 'string') return `a malformed issue ${JSON.stringify(i).slice(0, 200)}`;
    }
  }
  return null;
}

export interface FuzzRunResult {
  frames: number;
  answered: number;
  failures: string[];
}

/**
 * Sends `count` frames from `gen` on `ws`, with at most `window` answered frames in
 * flight, checks each answer in order, then sends a sentinel request whose answer
 * must come next (so any answer to a notification would be caught). `big` returns
 * a large frame for a frame index, or undefined.
 */
export function runFuzz(ws: WebSocket, gen: FrameGenerator, count: number, window: number, big?: (i: number) => Frame | undefined): Promise<FuzzRunResult> {
  const pending: Array<{ frame: Frame }> = [];
  const failures: string[] = [];
  let sent = 0;
  let answered = 0;
  let sentinelSent = false;
  return new Promise((resolve, reject) => {
    const finish = () => {
      ws.off('message', onMessage);
      ws.off('close', onClose);
      resolve({ frames: sent, answered, failures });
    };
    const pump = () => {
      while (pending.length < window && sent < count) {
        const frame = big?.(sent) ?? gen.next();
        sent++;
        ws.send(frame.text);
        if (frame.expect.kind !== 'silent') pending.push({ frame });
      }
      if (sent >= count && !sentinelSent) {
        sentinelSent = true;
        ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'clock.now', id: 'sentinel' }));
        pending.push({ frame: { text: '', expect: { kind: 'result', id: 'sentinel' }, label: 'sentinel' } });
      }
    };
    const onMessage = (data: WebSocket.RawData) => {
      answered++;
      const next = pending.shift();
      let got: unknown;
      try {
        got = JSON.parse(String(data));
      } catch {
        failures.push(`unparseable answer ${String(data).slice(0, 200)}`);
        return;
      }
      if (next === undefined) {
        failures.push(`an answer nobody asked for: ${String(data).slice(0, 300)}`);
        return;
      }
      const why = mismatch(next.frame.expect, got);
      if (why !== null && failures.length < 20) failures.push(`${next.frame.label} [${next.frame.text.slice(0, 200)}]: ${why}`);
      if (next.frame.label === 'sentinel') return finish();
      pump();
    };
    const onClose = (code: number) => reject(new Error(`the server closed the connection (${code}) after ${sent} frames`));
    ws.on('message', onMessage);
    ws.on('close', onClose);
    pump();
  });
}

export function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
