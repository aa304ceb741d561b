import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { METHODS, METHOD_NAMES, NOTIFICATIONS, parseParams } from '../../src/protocol/methods.js';
import type { MethodName, MethodParams } from '../../src/protocol/methods.js';
import type { MethodSpec } from '../../src/protocol/method-spec.js';
import { SAMPLES } from './samples.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

/** Every method of the method index, protocol/README.md §14 (iommu.iotlb, issue 11's, journal.*, emu.record and the platform lifecycle included). */
const INDEX_METHODS = [
  'rpc.discover',
  'emu.info',
  'emu.reset',
  'emu.snapshot',
  'emu.revert',
  'emu.dumpState',
  'emu.loadState',
  'emu.audit',
  'emu.platforms',
  'emu.deletePlatform',
  'clock.now',
  'clock.advance',
  'clock.setMode',
  'mem.alloc',
  'mem.free',
  'mem.read64',
  'mem.write64',
  'rmp.read',
  'rmp.update',
  'rmp.psmash',
  'guest.pvalidate',
  'fw.platformStatus',
  'fw.init',
  'fw.shutdown',
  'fw.tdiBind',
  'fw.tdiUnbind',
  'fw.pageUnsmash',
  'fw.pageReclaim',
  // The SEV firmware through its mailbox, the devices' DOE mailboxes, the TIO conveniences.
  'psp.readReg',
  'psp.writeReg',
  'psp.regs',
  'pci.doe',
  'tio.connect',
  'tio.disconnect',
  'tio.fenceStatus',
  'tio.fenceClear',
  'tmpm.readReg',
  'tmpm.writeReg',
  'tmpm.regs',
  'tmpm.submit',
  'tmpm.psmashIo',
  'tmpm.punsmashIo',
  'tmpm.preparePsmash',
  'tmpm.getCapabilities',
  'tmpm.getStallModel',
  'tmpm.setStallModel',
  'iommu.setDte',
  'iommu.readDte',
  'iommu.walk',
  'iommu.command',
  'iommu.events',
  'iommu.map',
  'iommu.unmap',
  'iommu.iotlb',
  'dma.issue',
  'dma.startStream',
  'dma.stopStream',
  'dma.stats',
  'dma.resetStats',
  // Issue 11: full histograms, timelines and traces.
  'dma.histogram',
  'dma.timeline',
  'trace.start',
  'trace.stop',
  'trace.export',
  'fault.add',
  'fault.list',
  'fault.remove',
  'fault.clear',
  'events.subscribe',
  'events.unsubscribe',
  'journal.find',
  'journal.count',
  'emu.record',
  'session.attach',
];

const specs = METHODS as Record<string, MethodSpec>;

function ok<M extends MethodName>(method: M, params: unknown): MethodParams<M> {
  const r = parseParams(method, params);
  if (!r.ok) throw new Error(`${method} refused ${JSON.stringify(params)}: ${JSON.stringify(r.issues)}`);
  return r.params;
}

function issues(method: MethodName, params: unknown) {
  const r = parseParams(method, params);
  if (r.ok) throw new Error(`${method} accepted ${JSON.stringify(params)}`);
  return r.issues;
}

describe('METHODS', () => {
  it('lists every method of protocol/README.md §14, and nothing unexpected', () => {
    expect([...METHOD_NAMES].sort()).toEqual([...INDEX_METHODS].sort());
  });

  it('gives every method a summary, a description, a params schema and a result schema', () => {
    for (const [name, spec] of Object.entries(specs)) {
      expect(spec.summary, name).not.toBe('');
      expect(spec.description, name).not.toBe('');
      expect(spec.params, name).toBeInstanceOf(z.ZodType);
      expect(spec.result, name).toBeInstanceOf(z.ZodType);
    }
  });

  it.each(INDEX_METHODS)('%s accepts a valid params sample and its documented result shape', (name) => {
    const method = name as MethodName;
    const sample = SAMPLES[method];
    ok(method, sample.params);
    const result = specs[method]!.result.safeParse(sample.result);
    expect(result.success ? [] : result.error.issues, method).toEqual([]);
  });

  it.each(INDEX_METHODS)('%s rejects an unknown key, naming it in the issue path', (name) => {
    const method = name as MethodName;
    expect(issues(method, { ...SAMPLES[method].params, ioav: '0x0' })).toContainEqual(expect.objectContaining({ path: ['ioav'] }));
  });

  it('accepts each example as documented: params parse, results match the result schema', () => {
    for (const [name, spec] of Object.entries(specs)) {
      for (const ex of spec.examples ?? []) {
        ok(name as MethodName, ex.params);
        const r = spec.result.safeParse(ex.result);
        expect(r.success ? [] : r.error.issues, `${name} example ${ex.name}`).toEqual([]);
      }
    }
  });

  it('has examples for the methods an integrator replays on the default platform', () => {
    for (const name of ['tmpm.psmashIo', 'rmp.read', 'iommu.walk', 'mem.alloc', 'clock.advance', 'dma.issue'] as const) {
      expect(specs[name]!.examples?.length ?? 0, name).toBeGreaterThan(0);
    }
  });

  it('describes events.notify, the one notification', () => {
    const n = NOTIFICATIONS['events.notify'].params.safeParse({ subscriptionId: 'sub1', topic: 'stall', atNs: 5, data: { phase: 'begin', domainId: 1 } });
    expect(n.success).toBe(true);
    expect(NOTIFICATIONS['events.notify'].params.safeParse({ subscriptionId: 'sub1', topic: 'cpu', atNs: 5, data: {} }).success).toBe(false);
  });
});

describe('parseParams', () => {
  it('treats absent params as {}', () => {
    expect(ok('clock.now', undefined)).toEqual({});
    expect(ok('iommu.events', undefined)).toEqual({ consume: false });
  });

  it('refuses params by position or a primitive (by name only)', () => {
    expect(issues('clock.advance', [1000])[0]!.message).toMatch(/params must be an object/);
    expect(issues('clock.now', 5)[0]!.path).toEqual([]);
  });

  it('names a missing key and says it is required', () => {
    expect(issues('tmpm.psmashIo', { srcPgSpa: '0x200000', smashHpteSpa: '0x1000', srcHpmdSpa: '0x1000' })).toEqual([{ path: ['gctxSpa'], message: 'is required' }]);
  });
});

describe('hex conventions', () => {
  it('parses addresses in any case to numbers, and IOVAs and 64-bit values to bigints', () => {
    const p = ok('iommu.map', { domainId: 1, iova: '0x20F000', spa: '0x7FFFE000', length: '0x1000', sizeLg2: 12, read: true, write: true });
    expect(p).toMatchObject({ domainId: 1, iova: 0x20f000n, spa: 0x7fffe000, length: 0x1000 });
    expect(ok('tmpm.psmashIo', { srcPgSpa: '0x8000000100200000', smashHpteSpa: '0x1', srcHpmdSpa: '0X3', gctxSpa: '0xFFFFFFFFFFFFFFFF' })).toEqual({
      srcPgSpa: 0x8000000100200000n,
      smashHpteSpa: 1n,
      srcHpmdSpa: 3n,
      gctxSpa: 2n ** 64n - 1n,
    });
    expect(ok('mem.write64', { spa: '0X1000', values: ['0xFFFFFFFFFFFFFFFF', '0x0000000000000000001'] }).values).toEqual([2n ** 64n - 1n, 1n]);
    expect(ok('dma.issue', { deviceId: 1, iova: '0xFFFFFFFFFFFFF000', bytes: 8, write: false }).iova).toBe(0xfffffffffffff000n);
  });

  it.each([['zz'], ['123'], ['0x'], ['0xg1'], [' 0x1'], ['-0x1']])('rejects %j with a message naming the key and the form', (bad) => {
    const found = issues('rmp.read', { spa: bad });
    expect(found).toHaveLength(1);
    expect(found[0]!.path).toEqual(['spa']);
    expect(found[0]!.message).toMatch(/must be a hex string "0x\.\.\."; fix:/);
  });

  it('rejects a number where a hex string is expected', () => {
    expect(issues('rmp.read', { spa: 4096 })[0]!.message).toMatch(/hex string/);
  });

  it('rejects an SPA at or above 2^53 and accepts the largest below', () => {
    const found = issues('rmp.read', { spa: '0x20000000000000' });
    expect(found).toEqual([{ path: ['spa'], message: expect.stringMatching(/below 2\^53/) }]);
    expect(ok('rmp.read', { spa: '0x1fffffffffffff' }).spa).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('rejects a 64-bit value that does not fit in 64 bits', () => {
    expect(issues('iommu.command', { qwords: ['0x10000000000000000', '0x0'] })[0]).toEqual({ path: ['qwords', 0], message: expect.stringMatching(/64 bits/) });
  });

  it("checks alignment where misuse is a request error (mem.*), not where it is the instruction's own FAIL_INPUT", () => {
    expect(issues('mem.read64', { spa: '0x1004', count: 1 })[0]).toEqual({ path: ['spa'], message: expect.stringMatching(/8-byte-aligned; fix:/) });
    expect(ok('rmp.psmash', { spa: '0x1004' }).spa).toBe(0x1004);
    expect(ok('tmpm.submit', { command: 5, listSpa: '0x5' }).listSpa).toBe(5n);
  });
});

describe('IDs, counts and times', () => {
  it('bounds device IDs, domain IDs and ASIDs', () => {
    expect(issues('fw.tdiBind', { deviceId: 65536, asid: 1 })[0]!.path).toEqual(['deviceId']);
    expect(issues('fw.tdiBind', { deviceId: 1, asid: 1024 })[0]!.message).toMatch(/0\.\.1023/);
    expect(issues('iommu.iotlb', { domainId: -1 })[0]!.path).toEqual(['domainId']);
    expect(issues('fw.tdiBind', { deviceId: 1.5, asid: 1 })[0]!.path).toEqual(['deviceId']);
  });

  it('caps pages and counts', () => {
    expect(ok('mem.alloc', { pages: 262144 }).pages).toBe(262144);
    expect(issues('mem.alloc', { pages: 262145 })[0]!.path).toEqual(['pages']);
    expect(issues('mem.alloc', { pages: 0 })[0]!.path).toEqual(['pages']);
    expect(issues('mem.read64', { spa: '0x0', count: 65537 })[0]!.path).toEqual(['count']);
    expect(issues('mem.write64', { spa: '0x0', values: [] })[0]!.path).toEqual(['values']);
  });

  it('takes times as non-negative integer ns', () => {
    expect(ok('clock.advance', { ns: 0 }).ns).toBe(0);
    expect(issues('clock.advance', { ns: -1 })[0]!.message).toMatch(/non-negative integer of nanoseconds/);
    expect(issues('clock.advance', { ns: 1.5 })[0]!.path).toEqual(['ns']);
    expect(issues('clock.advance', { ns: '1000' })[0]!.path).toEqual(['ns']);
  });
});

describe('per-method rules', () => {
  it('fills defaults so handlers get plain values', () => {
    expect(ok('iommu.walk', { deviceId: 1, iova: '0x0' })).toEqual({ deviceId: 1, iova: 0n, write: false });
    expect(ok('rmp.update', { spa: '0x1000', assigned: false, pageSize: '4K' })).toEqual({ spa: 0x1000, assigned: false, pageSize: '4K', asid: 0, gpa: 0, immutable: false });
    expect(ok('dma.startStream', SAMPLES['dma.startStream'].params).iovaBase).toBe(0n);
    expect(ok('iommu.map', { domainId: 1, iova: '0x0', spa: '0x0', length: '0x1000', sizeLg2: 12, read: true, write: true }).fc).toBe(false);
  });

  it('iommu.setDte takes exactly one of qwords and the decoded fields', () => {
    expect(ok('iommu.setDte', { deviceId: 3, qwords: ['0x3'] })).toEqual({ deviceId: 3, qwords: [3n, 0n, 0n, 0n] });
    expect(ok('iommu.setDte', { deviceId: 3, root: '0x10000000', domainId: 32 })).toEqual({
      deviceId: 3,
      fields: { valid: true, translationValid: true, mode: 3, root: 0x10000000, read: true, write: true, domainId: 32 },
    });
    expect(ok('iommu.setDte', { deviceId: 3, valid: false })).toMatchObject({ fields: { valid: false } });
    expect(issues('iommu.setDte', { deviceId: 3, qwords: ['0x3'], mode: 3 })).toEqual([{ path: ['mode'], message: expect.stringMatching(/not both/) }]);
    expect(issues('iommu.setDte', { deviceId: 3 })[0]!.message).toMatch(/give qwords or the decoded fields/);
    expect(issues('iommu.setDte', { deviceId: 3, mode: 4 }).map((i) => i.path)).toEqual([['root'], ['domainId']]);
    expect(issues('iommu.setDte', { deviceId: 3, qwords: ['0x1', '0x2', '0x3', '0x4', '0x5'] })[0]!.path).toEqual(['qwords']);
  });

  it('iommu.map wants iova, spa and length aligned to the leaf size', () => {
    const found = issues('iommu.map', { domainId: 1, iova: '0x1000', spa: '0x200000', length: '0x1000', sizeLg2: 21, read: true, write: true });
    expect(found.map((i) => i.path)).toEqual([['iova'], ['length']]);
    expect(issues('iommu.map', { domainId: 1, iova: '0x0', spa: '0x0', length: '0x1000', sizeLg2: 39, read: true, write: true })[0]!.message).toMatch(/fix: use 12 for 4 KB, 21 for 2 MB/);
  });

  it('dma.issue refuses a request that crosses a 4 KB page', () => {
    expect(issues('dma.issue', { deviceId: 1, iova: '0xfc0', bytes: 128, write: false })).toEqual([{ path: ['bytes'], message: expect.stringMatching(/crosses a 4 KB boundary/) }]);
    expect(ok('dma.issue', { deviceId: 1, iova: '0xf80', bytes: 128, write: false }).bytes).toBe(128);
  });

  it('dma.startStream wants power-of-two accesses and an aligned range', () => {
    const base = SAMPLES['dma.startStream'].params;
    expect(issues('dma.startStream', { ...base, accessBytes: 48 })[0]!.message).toMatch(/power of two/);
    expect(issues('dma.startStream', { ...base, iovaBase: '0x20' }).map((i) => i.path)).toEqual([['iovaBase']]);
    expect(issues('dma.startStream', { ...base, writeRatio: 1.5 })[0]!.path).toEqual(['writeRatio']);
    expect(issues('dma.startStream', { ...base, ratePerSec: 0 })[0]!.path).toEqual(['ratePerSec']);
  });

  it('tmpm.setStallModel takes a partial model, jitter partial too', () => {
    expect(ok('tmpm.setStallModel', { jitter: { dist: 'none' } })).toEqual({ jitter: { dist: 'none' } });
    expect(ok('tmpm.setStallModel', {})).toEqual({});
    expect(issues('tmpm.setStallModel', { jitter: { dist: 'gaussian' } })[0]!.path).toEqual(['jitter', 'dist']);
    expect(issues('tmpm.setStallModel', { jitter: { spread: 1 } })[0]!.path).toEqual(['jitter', 'spread']);
  });

  it('fault.add names a known method other than fault.*, with at least one effect', () => {
    expect(ok('fault.add', { method: 'dma.issue', rpcError: { code: -32000, message: 'boom' }, probability: 0.5 })).toMatchObject({ method: 'dma.issue' });
    expect(ok('fault.add', { method: 'rmp.psmash', status: 3 })).toMatchObject({ status: 3 });
    expect(issues('fault.add', { method: 'fault.clear', close: true })[0]).toEqual({ path: ['method'], message: 'fault.* methods cannot be targeted' });
    expect(issues('fault.add', { method: 'fw.smash', close: true })[0]!.message).toMatch(/not a method of this server/);
    expect(issues('fault.add', { method: 'dma.issue', rpcError: { code: 0, message: 'x' } })[0]!.path).toEqual(['rpcError', 'code']);
    expect(issues('fault.add', { method: 'fw.init' })[0]!.message).toMatch(/needs an effect/);
    expect(issues('fault.add', { method: 'fw.init', close: false })[0]!.message).toMatch(/needs an effect/);
    expect(issues('fault.add', { method: 'dma.issue', status: 1 })[0]!.path).toEqual(['status']);
    expect(issues('fault.add', { method: 'fw.init', status: 1, rpcError: { code: 1, message: 'x' } })[0]!.path).toEqual(['rpcError']);
    expect(issues('fault.add', { method: 'fw.init', delayMs: 1, probability: 2 })[0]!.path).toEqual(['probability']);
  });

  it('events.subscribe wants a non-empty list of known topics', () => {
    expect(ok('events.subscribe', { topics: ['fw', 'stall', 'iommu', 'rmp', 'dma'] }).topics).toHaveLength(5);
    expect(issues('events.subscribe', { topics: [] })[0]!.path).toEqual(['topics']);
    expect(issues('events.subscribe', { topics: ['cpu'] })[0]).toEqual({ path: ['topics', 0], message: expect.stringMatching(/fix: use one of "fw"/) });
    expect(issues('events.subscribe', { topics: ['fw', 'fw'] })[0]!.message).toMatch(/repeat/);
  });

  it('emu.reset validates the embedded scenario with paths under scenario', () => {
    expect(ok('emu.reset', {})).toEqual({});
    expect(ok('emu.reset', { scenario: { base: 'empty' } }).scenario?.devices).toEqual([]);
    expect(ok('emu.reset', { scenario: {} }).scenario).toStrictEqual(DEFAULT_SCENARIO);
    expect(ok('emu.reset', { scenario: 'default' }).scenario).toStrictEqual(DEFAULT_SCENARIO);
    expect(issues('emu.reset', { scenario: { devices: [{ deviceId: 1, domainId: 1, mappings: [{ iova: '0x0', spa: '0x0', length: '0x1000', sizeLg2: 50 }] }] } })[0]!.path).toEqual([
      'scenario',
      'devices',
      0,
      'mappings',
      0,
      'sizeLg2',
    ]);
  });
});
