/**
 * examples/scenarios/default.json is the default scenario: the server builds from
 * it, it equals the library's DEFAULT_SCENARIO, and a partial scenario is merged
 * onto it (or onto the empty base) key by key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { DEFAULT_SCENARIO_DOCUMENT, baseScenario, mergeDocuments, parseScenario } from '../../src/protocol/scenario-schema.js';
import { defaultScenarioDocument } from '../../src/protocol/default-scenario.js';
import { parseServeArgs, resolveServeOptions } from '../../src/cli/serve-options.js';
import { RpcCallError } from '../../src/client/smash-emu-client.js';
import { ROOT } from '../helpers/processes.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

const FILE = join(ROOT, 'examples', 'scenarios', 'default.json');
const fileDoc = () => JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, unknown>;

describe('examples/scenarios/default.json', () => {
  it('parses to exactly the library default DEFAULT_SCENARIO', () => {
    expect(parseScenario(fileDoc())).toStrictEqual(DEFAULT_SCENARIO);
  });

  it('is what the code loads: the default base, and what serve builds without --scenario', () => {
    expect(defaultScenarioDocument()).toStrictEqual(fileDoc());
    expect(baseScenario('default')).toStrictEqual(DEFAULT_SCENARIO);
    expect(resolveServeOptions(parseServeArgs([]), {}).scenario).toStrictEqual(DEFAULT_SCENARIO);
  });

  it('holds every key DEFAULT_SCENARIO_DOCUMENT writes, with the same values', () => {
    const { $comment: _c, ...doc } = fileDoc();
    expect(doc).toStrictEqual(JSON.parse(JSON.stringify(DEFAULT_SCENARIO_DOCUMENT)));
  });
});

describe('a partial scenario and its base', () => {
  it('merges onto the default scenario by default, key by key at any depth', () => {
    const s = parseScenario({ stallModel: { baseNs: 1000, jitter: { spreadNs: 7 } } });
    expect(s).toStrictEqual({
      ...DEFAULT_SCENARIO,
      name: 'custom',
      stallModel: { ...DEFAULT_SCENARIO.stallModel, baseNs: 1000, jitter: { ...DEFAULT_SCENARIO.stallModel.jitter, spreadNs: 7 } },
    });
  });

  it('replaces lists and scalars whole; {} and {base: "default"} are the default scenario, named "default"', () => {
    const s = parseScenario({ devices: [{ deviceId: 0x300, domainId: 3 }], seed: 9 });
    expect(s.devices.map((d) => d.deviceId)).toEqual([0x300]);
    expect(s.guests).toStrictEqual(DEFAULT_SCENARIO.guests);
    expect(s.seed).toBe(9);
    expect(parseScenario({})).toStrictEqual(DEFAULT_SCENARIO);
    expect(parseScenario({ base: 'default' })).toStrictEqual(DEFAULT_SCENARIO);
  });

  it('builds on nothing with base "empty": default settings, no guests, devices, RMP updates or streams', () => {
    const s = parseScenario({ base: 'empty', stallModel: { baseNs: 5 } });
    expect(s).toMatchObject({ guests: [], devices: [], rmpUpdates: [], streams: [], seed: DEFAULT_SCENARIO.seed, stallModel: { baseNs: 5 } });
  });

  it('merges sections it has never heard of the same way (a generic deep merge)', () => {
    const base = { name: 'b', future: { initialised: true, ring: { pages: 1, at: '0x1' } }, list: [1, 2] };
    expect(mergeDocuments(base, { future: { ring: { pages: 4 } }, list: [3] })).toStrictEqual({ name: 'b', future: { initialised: true, ring: { pages: 4, at: '0x1' } }, list: [3] });
    expect(mergeDocuments(base, { future: null })).toStrictEqual({ name: 'b', future: null, list: [1, 2] });
  });

  it('refuses an unknown base, naming the choices', () => {
    expect(() => parseScenario({ base: 'full' })).toThrow(/scenario\.base: .*"default", "empty"/);
  });
});

describe('emu.reset and the default scenario (through the server)', () => {
  let t: AppUnderTest;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.stop();
  });

  it('keeps the default platform under a partial scenario, and {scenario: "default"} restores it for later plain resets too', async () => {
    const c = t.client;
    expect(await c.call('emu.reset', { scenario: { stallModel: { baseNs: 1000 } } })).toEqual({ ok: true, scenario: 'custom' });
    expect(await c.call('tmpm.getStallModel')).toMatchObject({ baseNs: 1000 });
    expect(await c.call('iommu.walk', { deviceId: 256, iova: '0x200000' })).toMatchObject({ ok: true });
    expect(await c.call('emu.reset', { scenario: { base: 'empty' } })).toEqual({ ok: true, scenario: 'custom' });
    expect(await c.call('iommu.walk', { deviceId: 256, iova: '0x200000' })).toMatchObject({ ok: false });
    expect(await c.call('emu.reset', { scenario: 'default' })).toEqual({ ok: true, scenario: 'default' });
    await c.call('clock.advance', { ns: 10 });
    expect(await c.call('emu.reset')).toEqual({ ok: true, scenario: 'default' });
    expect(await c.call('tmpm.getStallModel')).toMatchObject({ baseNs: 2_000_000 });
    expect(await c.call('iommu.walk', { deviceId: 256, iova: '0x200000' })).toMatchObject({ ok: true, spa: '0x100200000' });
  });

  it('names the nearest key for a misspelt one and changes nothing', async () => {
    await t.client.call('clock.advance', { ns: 3 });
    const before = await t.client.call('clock.now');
    let err: unknown;
    try {
      await t.client.call('emu.reset', { scenario: { stallModle: { baseNs: 1 } } } as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RpcCallError);
    expect((err as RpcCallError).data).toEqual({ issues: [{ path: ['scenario', 'stallModle'], message: expect.stringContaining('did you mean "stallModel"?') }] });
    expect(await t.client.call('clock.now')).toEqual(before);
  });
});
