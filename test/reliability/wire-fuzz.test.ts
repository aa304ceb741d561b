/**
 * Wire fuzzing against a live server (issue 6 item 2): seeded random and mutated
 * frames (broken JSON, wrong types, huge numbers, long hex, prototype-pollution
 * keys, hostile scenario and state documents, batches mixing all of it) pipelined
 * on several connections. Every frame gets exactly the answer protocol/README.md
 * (§1.2, §3) requires (or none, for notifications), no error has code 0, the server
 * stays up, and the platform's state dump is the same afterwards (every valid call
 * sent is read-only).
 *
 * SMASH_EMU_SEED picks the seed; SMASH_EMU_LONG=1 sends 1,000,000 frames.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { FrameGenerator, Rng, mismatch, openSocket, runFuzz, INVALID_PARAMS, type Frame } from '../helpers/fuzz.js';

const LONG = process.env['SMASH_EMU_LONG'] === '1';
const SEED = Number(process.env['SMASH_EMU_SEED'] ?? 20260106);
const CONNECTIONS = 4;
const FRAMES = LONG ? 1_000_000 : 100_000;
const WINDOW = 256;

let app: RunningApp;
const sockets: WebSocket[] = [];
const internalErrors: string[] = [];

beforeAll(async () => {
  app = await startApp({
    scenario: DEFAULT_SCENARIO,
    server: { host: '127.0.0.1', port: 0, pingMs: 0, onInternalError: (method, err) => internalErrors.push(`${method}: ${String(err)}`) },
  });
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await app.close();
});

async function socket(path = '/'): Promise<WebSocket> {
  const ws = await openSocket(app.url + path);
  sockets.push(ws);
  return ws;
}

const dump = (name = ''): string => JSON.stringify(app.platforms().get(name)!.dumpState().state);

/** Sends one frame and returns its parsed answer. */
async function ask(ws: WebSocket, text: string, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms to ${text.slice(0, 100)}`)), timeoutMs);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(JSON.parse(String(data)));
    });
    ws.send(text);
  });
}

describe('wire fuzzing', () => {
  it(`answers ${FRAMES.toLocaleString('en')} seeded random frames on ${CONNECTIONS} connections exactly as the contract says, and changes nothing`, async () => {
    const before = dump();
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, c) => {
        const ws = await socket();
        return runFuzz(ws, new FrameGenerator(new Rng(SEED + c)), FRAMES / CONNECTIONS, WINDOW);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const frames = runs.reduce((n, r) => n + r.frames, 0);
    const failures = runs.flatMap((r, c) => r.failures.map((f) => `connection ${c} (seed ${SEED + c}): ${f}`));
    console.log(`wire fuzz: ${frames} frames, ${runs.reduce((n, r) => n + r.answered, 0)} answers in ${seconds.toFixed(1)} s (${Math.round(frames / seconds)} frames/s), seed ${SEED}`);
    expect(failures, `seed ${SEED}`).toEqual([]);
    expect(frames).toBe(FRAMES);
    expect(internalErrors).toEqual([]);
    expect(dump(), `seed ${SEED}: the fuzz changed the platform`).toBe(before);
    // Still serving, and nothing polluted a prototype.
    const ws = await socket();
    expect(await ask(ws, '{"jsonrpc":"2.0","method":"clock.now","id":1}')).toMatchObject({ result: { nowNs: 0 } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('answers large frames: 1 MiB strings, 10k-deep nesting, a batch over maxBatch', async () => {
    const before = dump();
    const ws = await socket();
    const gen = new FrameGenerator(new Rng(SEED));
    for (let k = 0; k < 10; k++) {
      const f: Frame = gen.big(k);
      const got = await ask(ws, f.text);
      expect(mismatch(f.expect, got), f.label).toBeNull();
    }
    expect(dump()).toBe(before);
    expect(internalErrors).toEqual([]);
  });
});

describe('hostile state and scenario documents over the wire', () => {
  /** Every variant is refused with -32602 naming a key (before `ask`'s timeout), and the platform is unchanged. */
  async function refusedAll(method: 'emu.loadState' | 'emu.reset', docs: Array<[string, unknown]>): Promise<void> {
    const ws = await socket();
    const before = dump();
    const problems: string[] = [];
    let id = 1;
    for (const [label, doc] of docs) {
      const params = method === 'emu.loadState' ? { state: doc } : { scenario: doc };
      const got = await ask(ws, JSON.stringify({ jsonrpc: '2.0', method, params, id }));
      const why = mismatch({ kind: 'error', code: INVALID_PARAMS, id }, got);
      if (why !== null) problems.push(`${method} ${label}: ${why}`);
      if (dump() !== before) {
        problems.push(`${method} ${label}: changed the platform`);
        app.platforms().get('')!.loadState(JSON.parse(before));
      }
      id++;
    }
    expect(problems).toEqual([]);
    expect(await ask(ws, '{"jsonrpc":"2.0","method":"emu.audit","id":"a"}')).toMatchObject({ result: { violations: [] } });
  }

  it('emu.loadState: wrong version, truncated, counts in the billions, negative sizes, prototype keys', async () => {
    const good = JSON.parse(dump()) as Record<string, any>;
    const variant = (label: string, edit: (d: Record<string, any>) => unknown): [string, unknown] => {
      const d = structuredClone(good);
      const r = edit(d);
      return [label, r === undefined ? d : r];
    };
    const docs: Array<[string, unknown]> = [
      variant('version 1 (before the TMPM)', (d) => void (d['version'] = 1)),
      variant('version 3', (d) => void (d['version'] = 3)),
      variant('version "1"', (d) => void (d['version'] = '1')),
      variant('format', (d) => void (d['format'] = 'other')),
      // scenarioName is informational: a document without it loads (the name in use is kept).
      ...Object.keys(good)
        .filter((k) => k !== 'scenarioName')
        .map((k) => variant(`without ${k}`, (d) => void delete d[k])),
      variant('truncated text', () => JSON.stringify(good).slice(0, 5000)),
      variant('memoryBytes 2^60', (d) => void (d['settings'].memoryBytes = 2 ** 60)),
      variant('memoryBytes -4096', (d) => void (d['settings'].memoryBytes = -4096)),
      variant('memoryBytes 1e9 pages', (d) => void (d['settings'].memoryBytes = 4096e9 * 4096)),
      variant('eventLogEntries 4e9', (d) => void (d['settings'].eventLogEntries = 4e9)),
      variant('nowNs -1', (d) => void (d['clock'].nowNs = -1)),
      variant('a page beyond memory', (d) => void d['memory'].pages.push([1e9, [[0, '0x1']]])),
      variant('a page with 1e9 words', (d) => void d['memory'].pages.push([5, { length: 1e9 }])),
      variant('a word of 100 hex digits', (d) => void d['memory'].pages.push([5, [[0, '0x' + 'f'.repeat(100)]]])),
      variant('rmp records: count 1e9', (d) => void (d['rmp'] = { ...d['rmp'], records: [{ spa: 0, pageSize: '4K', count: 1e9, assigned: true, immutable: false, validated: false, vmsa: false, asid: 1, gpa: 0 }] })),
      variant('rmp: a string', (d) => void (d['rmp'] = 'nope')),
      variant('pool: negative', (d) => void (d['pool'] = { ...d['pool'], allocated: [[-4096, -1]] })),
      variant('guests: asid -1', (d) => void d['guests'].push({ asid: -1, ranges: [] })),
      variant('guests: a 2^48-page range', (d) => void d['guests'].push({ asid: 9, ranges: [{ gpa: 0, spa: 0, length: 2 ** 60 }] })),
      variant('guests: asid twice', (d) => void d['guests'].push({ ...d['guests'][0] })),
      variant('guests: a range with a negative length', (d) => void d['guests'].push({ asid: 9, ranges: [{ gpa: 0, spa: 0, length: -4096 }] })),
      variant('pool: nextSpa outside', (d) => void (d['pool'].nextSpa = 0)),
      variant('pool: free run past the window', (d) => void d['pool'].free.push([d['pool'].endSpa - 4096, 1e9])),
      variant('rng: 3 words', (d) => void (d['rng'] = [1, 2, 3])),
      variant('dma: a string', (d) => void (d['dma'] = 'x')),
      variant('iommu: empty', (d) => void (d['iommu'] = {})),
      variant('faults: count 1e9 rules', (d) => void (d['faults'] = { rules: { length: 1e9 } })),
      variant('tmpm stall model negative', (d) => void (d['tmpm'].stallModel.baseNs = -1)),
      variant('tmpm ring tail past the ring', (d) => void (d['tmpm'].ring.tail = 1e6)),
      ['array', [good]],
    ];
    await refusedAll('emu.loadState', docs);
    // Unknown top-level keys are ignored (the document is read key by key, never merged):
    // prototype keys load the same state and pollute nothing.
    const before = dump();
    const ws = await socket();
    for (const text of [JSON.stringify({ state: good }).replace('{"state":{', '{"state":{"__proto__":{"polluted":true},'), JSON.stringify({ state: { ...good, constructor: { prototype: { polluted: true } } } })]) {
      const got = (await ask(ws, `{"jsonrpc":"2.0","method":"emu.loadState","id":1,"params":${text}}`)) as Record<string, any>;
      if (got['error'] !== undefined) expect(mismatch({ kind: 'error', code: INVALID_PARAMS, id: 1 }, got)).toBeNull();
      expect(dump()).toBe(before);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('emu.reset: hostile scenarios are refused with the key that is wrong', async () => {
    const docs: Array<[string, unknown]> = [
      ['memoryBytes negative', { memoryBytes: '-0x1000' }],
      ['memoryBytes 2^64', { memoryBytes: '0x10000000000000000' }],
      ['memoryBytes 100 hex digits', { memoryBytes: '0x' + 'f'.repeat(100) }],
      ['memoryBytes as a number', { memoryBytes: 1e308 }],
      ['rmpUpdates count 1e9', { rmpUpdates: [{ spa: '0x0', count: 1e9, assigned: true, pageSize: '4K', asid: 1, gpa: '0x0' }] }],
      ['eventLogEntries 4e9', { eventLogEntries: 4e9 }],
      ['guest range past memory', { guests: [{ asid: 1, ranges: [{ gpa: '0x0', spa: '0x0', length: '0x10000000000000', rmp: '2M', validated: true }] }] }],
      ['guest asid -1', { guests: [{ asid: -1, ranges: [] }] }],
      ['mapping sizeLg2 99', { devices: [{ deviceId: 1, domainId: 1, mappings: [{ iova: '0x0', spa: '0x0', length: '0x1000', sizeLg2: 99, read: true, write: true }] }] }],
      ['stream rate 1e308', { streams: [{ deviceId: 1, iovaBase: '0x0', length: '0x1000', ratePerSec: 1e308, accessBytes: 64, writeRatio: 0 }] }],
      ['__proto__ key', JSON.parse('{"__proto__":{"polluted":true},"name":"x"}')],
      ['constructor key', { constructor: { prototype: { polluted: true } } }],
      ['prototype key', { prototype: 1 }],
      ['unknown key', { nmae: 'typo' }],
      ['a string other than "default" or "empty"', 'full'],
      ['an array', [{}]],
    ];
    await refusedAll('emu.reset', docs);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
