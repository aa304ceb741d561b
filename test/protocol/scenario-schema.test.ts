import { describe, expect, it } from 'vitest';
import { DEFAULT_SCENARIO, DEFAULT_STALL_MODEL } from '../../src/platform/scenario.js';
import { DEFAULT_SCENARIO_DOCUMENT, parseScenario, scenarioToDocument } from '../../src/protocol/scenario-schema.js';
import { EmuError, ERROR_CODES } from '../../src/util/emu-error.js';

/** The problems parseScenario reports, as "path: message" lines. */
function problems(doc: unknown): string[] {
  try {
    parseScenario(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(EmuError);
    expect((err as EmuError).code).toBe(ERROR_CODES.BAD_DOCUMENT);
    const issues = (err as EmuError).detail?.issues as Array<{ path: string; message: string }>;
    for (const i of issues) expect((err as EmuError).message).toContain(`${i.path}: ${i.message}`);
    return issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('the scenario was accepted');
}

const device = (extra: Record<string, unknown> = {}) => ({ deviceId: 0x100, domainId: 1, ...extra });
const mapping = (extra: Record<string, unknown> = {}) => ({ iova: '0x0', spa: '0x100000000', length: '0x200000', sizeLg2: 21, ...extra });

describe('parseScenario', () => {
  it('parses DEFAULT_SCENARIO_DOCUMENT to exactly DEFAULT_SCENARIO', () => {
    expect(parseScenario(DEFAULT_SCENARIO_DOCUMENT)).toStrictEqual(DEFAULT_SCENARIO);
  });

  it('reads {base: "empty"} as an empty platform with the default settings', () => {
    const s = parseScenario({ base: 'empty' });
    expect(s).toStrictEqual({
      ...DEFAULT_SCENARIO,
      name: 'custom',
      guests: [],
      rmpUpdates: [],
      devices: [],
      streams: [],
      stallModel: DEFAULT_STALL_MODEL,
    });
  });

  it('round-trips through scenarioToDocument', () => {
    expect(scenarioToDocument(DEFAULT_SCENARIO)).toStrictEqual(DEFAULT_SCENARIO_DOCUMENT);
    const s = parseScenario({
      guests: [{ asid: 2, ranges: [{ gpa: '0x0', spa: '0x200000000', length: '0x1000', rmp: '4K', validated: false }] }],
      rmpUpdates: [{ spa: '0x300000000', count: 2, assigned: true, pageSize: '2M', asid: 2, gpa: '0x200000' }],
      devices: [device({ boundAsid: 2, mappings: [mapping({ iova: '0xFFFF000000000000', spa: '0x200000000', length: '0x1000', sizeLg2: 12, fc: true })] })],
      streams: [{ deviceId: 0x100, iovaBase: '0x0', length: '0x1000', ratePerSec: 1000, accessBytes: 64, writeRatio: 0 }],
    });
    expect(s.devices[0]!.mappings[0]!.iova).toBe(0xffff000000000000n);
    expect(parseScenario(scenarioToDocument(s))).toStrictEqual(s);
  });

  it('fills nested defaults: mapping permissions, device mode, range RMP state, stream pattern', () => {
    const s = parseScenario({
      guests: [{ asid: 1, ranges: [{ gpa: '0x0', spa: '0x100000000', length: '0x200000' }] }],
      devices: [device({ mappings: [mapping()] })],
      streams: [{ deviceId: 0x100, iovaBase: '0x0', length: '0x1000', ratePerSec: 1000, accessBytes: 64, writeRatio: 0 }],
      stallModel: { jitter: { dist: 'none' } },
    });
    expect(s.guests[0]!.ranges[0]).toEqual({ gpa: 0, spa: 0x100000000, length: 0x200000, rmp: '2M', validated: true });
    expect(s.devices[0]).toStrictEqual({ deviceId: 0x100, domainId: 1, mode: 3, teeIo: true, mappings: [{ iova: 0n, spa: 0x100000000, length: 0x200000, sizeLg2: 21, read: true, write: true, fc: false }] });
    expect(s.streams[0]).toMatchObject({ pattern: 'random', arrival: 'fixed' });
    expect(s.stallModel).toEqual({ ...DEFAULT_STALL_MODEL, jitter: { dist: 'none', spreadNs: 500_000 } });
  });

  it('names the key path and the fix for a bad leaf size', () => {
    expect(problems({ devices: [device({ mappings: [mapping(), mapping({ sizeLg2: 40 })] })] })).toEqual([
      'scenario.devices[0].mappings[1].sizeLg2: must be an integer 12..38; fix: use 12 for 4 KB, 21 for 2 MB, 30 for 1 GB (13..20, 22..29, 31..38 are NextLevel-7 sizes)',
    ]);
  });

  it('reports a misspelt key', () => {
    expect(problems({ devcies: [] })).toEqual(['scenario.devcies: unknown key; fix: remove it or correct its spelling (keys are case-sensitive); did you mean "devices"?']);
    expect(problems({ stallModel: { jiter: {} } })).toEqual(['scenario.stallModel.jiter: unknown key; fix: remove it or correct its spelling (keys are case-sensitive); did you mean "jitter"?']);
  });

  it('reports every structural problem at once', () => {
    const found = problems({ memoryBytes: 'lots', seed: -1, clock: { mode: 'fast' }, devices: [{ deviceId: 70000 }] });
    expect(found.map((l) => l.split(':')[0])).toEqual(['scenario.memoryBytes', 'scenario.seed', 'scenario.clock.mode', 'scenario.devices[0].deviceId', 'scenario.devices[0].domainId']);
    expect(found[0]).toMatch(/must be a hex string "0x\.\.\."; fix: write it like "0x1000000000"/);
    expect(found[4]).toBe('scenario.devices[0].domainId: is required');
  });

  it('checks mapping alignment against the leaf size', () => {
    expect(problems({ devices: [device({ mappings: [mapping({ iova: '0x1000', length: '0x201000' })] })] })).toEqual([
      'scenario.devices[0].mappings[0].iova: must be aligned to 2^sizeLg2 = 0x200000; fix: use a multiple of 0x200000 or a smaller sizeLg2',
      'scenario.devices[0].mappings[0].length: must be a multiple of 2^sizeLg2 = 0x200000; fix: use a multiple of 0x200000 or a smaller sizeLg2',
    ]);
  });

  it('checks guest ranges: inside memory, 4 KB lengths, 2 MB alignment for 2 MB RMP pages', () => {
    expect(problems({ memoryBytes: '0x200000000', guests: [{ asid: 1, ranges: [{ gpa: '0x0', spa: '0x1FFE00000', length: '0x400000' }] }] })).toEqual([
      'scenario.guests[0].ranges[0].length: range 0x1ffe00000+0x400000 ends past memoryBytes 0x200000000; fix: shrink it or raise memoryBytes',
    ]);
    expect(problems({ guests: [{ asid: 1, ranges: [{ gpa: '0x0', spa: '0x0', length: '0x1800' }] }] })[0]).toMatch(/^scenario.guests\[0\].ranges\[0\].length: must be 4 KB-aligned; fix:/);
    expect(problems({ guests: [{ asid: 1, ranges: [{ gpa: '0x1000', spa: '0x0', length: '0x200000' }] }] })).toEqual([
      'scenario.guests[0].ranges[0].gpa: must be 2 MB aligned (0x200000) when rmp is "2M"; fix: align it or use rmp "4K"',
    ]);
  });

  it('refuses a bound ASID that no guest has, duplicate devices and duplicate ASIDs', () => {
    expect(problems({ devices: [device({ boundAsid: 7 })] })).toEqual(['scenario.devices[0].boundAsid: no guest has ASID 7; fix: add it to guests or remove boundAsid (untrusted device)']);
    expect(problems({ devices: [device(), device({ domainId: 2 })] })[0]).toMatch(/^scenario.devices\[1\].deviceId: device 0x100 is already listed as devices\[0\]/);
    expect(problems({ guests: [{ asid: 1 }, { asid: 1 }] })[0]).toMatch(/^scenario.guests\[1\].asid: ASID 1 is already used by guests\[0\]/);
  });

  it('refuses guests that share host memory', () => {
    const range = { gpa: '0x0', spa: '0x100000000', length: '0x200000' };
    expect(
      problems({
        guests: [
          { asid: 1, ranges: [range] },
          { asid: 2, ranges: [range] },
        ],
      })[0],
    ).toMatch(/^scenario.guests\[1\].ranges\[0\].spa: overlaps the SPAs of scenario.guests\[0\].ranges\[0\]/);
  });

  it('checks streams: a listed device, sane rate, power-of-two aligned accesses', () => {
    const stream = { deviceId: 0x100, iovaBase: '0x0', length: '0x1000', ratePerSec: 1000, accessBytes: 64, writeRatio: 0 };
    expect(problems({ base: 'empty', streams: [stream] })).toEqual(['scenario.streams[0].deviceId: device 0x100 is not in devices; fix: list it there']);
    const found = problems({ devices: [device()], streams: [{ ...stream, ratePerSec: -1, accessBytes: 100, writeRatio: 2 }] });
    expect(found.map((l) => l.split(':')[0])).toEqual(['scenario.streams[0].ratePerSec', 'scenario.streams[0].accessBytes', 'scenario.streams[0].writeRatio']);
    expect(problems({ devices: [device()], streams: [{ ...stream, iovaBase: '0x20' }] })).toEqual(['scenario.streams[0].iovaBase: must be aligned to accessBytes (64)']);
  });

  it('checks RMP updates against their page size and memory', () => {
    expect(problems({ base: 'empty', rmpUpdates: [{ spa: '0x1000', assigned: true, pageSize: '2M' }] })).toEqual(['scenario.rmpUpdates[0].spa: must be aligned to its pageSize 2M']);
    expect(problems({ base: 'empty', memoryBytes: '0x400000', rmpUpdates: [{ spa: '0x200000', count: 2, assigned: false, pageSize: '2M' }] })[0]).toMatch(
      /^scenario.rmpUpdates\[0\].count: the pages end past memoryBytes/,
    );
  });

  it('refuses a document that is not an object', () => {
    expect(problems([])).toEqual([expect.stringMatching(/^scenario: /)]);
  });
});
