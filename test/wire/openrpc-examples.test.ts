/**
 * The example pairings in protocol/openrpc.json, run against the live server: each
 * on a fresh isolated platform of the default scenario. Fields listed in x-vary
 * (x-compare "shape") are compared by type; everything else exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';
import type { SmashEmuClient } from '../../src/client/smash-emu-client.js';

interface Pairing {
  name: string;
  params: Array<{ name: string; value: unknown }>;
  result: { value: unknown; 'x-vary'?: string[] };
}
const doc = JSON.parse(readFileSync(new URL('../../protocol/openrpc.json', import.meta.url), 'utf8')) as {
  methods: Array<{ name: string; examples?: Pairing[] }>;
};
const cases = doc.methods.flatMap((m) => (m.examples ?? []).map((ex) => ({ method: m.name, ex })));

let t: AppUnderTest;
beforeAll(async () => {
  t = await startTestApp({ server: { maxPlatforms: 256 } });
});
afterAll(async () => {
  await t.stop();
});

type Call = (m: string, p: unknown) => Promise<any>;

/** The set-up tmpm.psmashIo's example describes: tmpm.preparePsmash, whose result is the example's params. */
async function smashSetup(c: SmashEmuClient, params: Record<string, unknown>): Promise<void> {
  const call = c.call.bind(c) as unknown as Call;
  const prepared = await call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  for (const k of Object.keys(params)) expect(prepared[k], k).toBe(params[k]);
}

function blank(value: unknown, path: string[], vary: string[][]): unknown {
  if (vary.some((v) => v.length === path.length && v.every((k, i) => k === '*' || k === path[i]))) return typeof value;
  if (Array.isArray(value)) return value.map((x, i) => blank(x, [...path, String(i)], vary));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, blank(x, [...path, k], vary)]));
  return value;
}

describe('protocol/openrpc.json example pairings against the live server', () => {
  it('has examples to run', () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  cases.forEach(({ method, ex }, i) => {
    it(`${method}: ${ex.name}`, async () => {
      const c = await t.connect(`/platforms/example-${i}`);
      const params = Object.fromEntries(ex.params.map((p) => [p.name, p.value]));
      if (method === 'tmpm.psmashIo') await smashSetup(c, params);
      const result = await (c.call as unknown as Call)(method, params);
      const vary = (ex.result['x-vary'] ?? []).map((v) => v.split('.'));
      const expected = ex.result.value as Record<string, unknown>;
      // More fields are welcome: compare the keys the example names.
      const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, (result as Record<string, unknown>)[k]]));
      expect(blank(picked, [], vary)).toEqual(blank(expected, [], vary));
    });
  });
});
