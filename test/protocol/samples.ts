/**
 * One valid params object (wire form) and one hand-written result per method, as
 * protocol/README.md describes them (its method index, §14, names each one's
 * section). The method tests check every method has both and that the schemas accept
 * them.
 */
import type { MethodName } from '../../src/protocol/methods.js';

const fwOk = { status: 0, statusName: 'SUCCESS' };
const stallModel = { baseNs: 2_000_000, perEntryNs: 0, jitter: { dist: 'uniform', spreadNs: 500_000 }, scope: 'domain', policy: 'hold', completionTimeoutNs: 50_000_000 };

export const SAMPLES: Record<MethodName, { params: Record<string, unknown>; result: unknown }> = {
  'rpc.discover': { params: {}, result: { openrpc: '1.2.6', info: { title: 'smash-emu', version: '0.1.0' }, methods: [{ name: 'emu.info' }] } },
  'emu.info': {
    params: {},
    result: {
      version: '0.1.0',
      platform: '',
      scenario: 'default',
      deviceTableSpa: '0x7ff00000',
      clockMode: 'virtual',
      speed: 1,
      nowNs: 0,
      config: { memoryBytes: '0x1000000000', seed: 1, rmpSizeRule: 'equal', eventLogEntries: 512, serviceNs: 500, maxAdvanceNs: 10_000_000_000 },
      guests: [{ asid: 1, gctxSpa: '0xfc0200000' }],
      tmpm: { deviceId: 160, domainId: 160, pdeAccess: 'direct', initialised: true, ringSpa: '0xfc0400000', ringEntries: 256, punsmashCommand: 6 },
    },
  },
  'emu.reset': { params: { scenario: { base: 'empty' } }, result: { ok: true, scenario: 'custom' } },
  'emu.snapshot': { params: {}, result: { snapshotId: 's1' } },
  'emu.revert': { params: { snapshotId: 's1' }, result: { ok: true, snapshotId: 's1' } },
  'emu.dumpState': { params: {}, result: { state: { format: 'smash-emu-state', version: 1 } } },
  'emu.loadState': { params: { state: { format: 'smash-emu-state', version: 1 } }, result: { ok: true } },
  'emu.audit': { params: {}, result: { violations: [{ kind: 'stale-iotlb', domainId: 1, iova: '0x200000' }] } },
  'emu.platforms': { params: {}, result: { platforms: [{ name: '', createdAt: '2026-11-30T04:00:00.000Z', lastUsedAt: '2026-11-30T04:01:00.000Z', connections: 1, nowNs: 0 }] } },
  'emu.deletePlatform': { params: { name: 'lab' }, result: { ok: true, name: 'lab', closedConnections: 0 } },
  'clock.now': { params: {}, result: { nowNs: 12 } },
  'clock.advance': { params: { ns: 1000 }, result: { nowNs: 1000 } },
  'clock.setMode': { params: { mode: 'realtime', speed: 2 }, result: { mode: 'realtime', speed: 2, nowNs: 0 } },
  'mem.alloc': { params: { pages: 4 }, result: { spa: '0x7fffc000' } },
  'mem.free': { params: { spa: '0x7fffc000', pages: 4 }, result: { ok: true } },
  'mem.read64': { params: { spa: '0x100000000', count: 2 }, result: { values: ['0x0', '0x6000000100200001'] } },
  'mem.write64': { params: { spa: '0x7fffc000', values: ['0x6000000100200001', '0X6000000100201001'] }, result: { ok: true, count: 2 } },
  'rmp.read': {
    params: { spa: '0x100001000' },
    result: { entrySpa: '0x100000000', assigned: true, pageSize: '2M', immutable: false, validated: true, vmsa: false, asid: 1, gpa: '0x0', raw: '0x4008000000000003' },
  },
  'rmp.update': { params: { spa: '0x200000000', assigned: true, pageSize: '4K', asid: 1, gpa: '0x40000000' }, result: { rc: 0, rcName: 'SUCCESS' } },
  'rmp.psmash': { params: { spa: '0x100000000' }, result: { rc: 7, rcName: 'FAIL_BADADDR' } },
  'guest.pvalidate': { params: { asid: 1, gpa: '0x1000', pageSize: '4K', validate: true }, result: { npf: { errorCode: '0x880000000' } } },
  'fw.platformStatus': { params: {}, result: { ...fwOk, snpInit: true, tioInit: true, tdis: [{ deviceId: 256, asid: 1 }] } },
  'fw.init': { params: {}, result: { status: 1, statusName: 'INVALID_PLATFORM_STATE' } },
  'fw.shutdown': { params: {}, result: fwOk },
  'fw.tdiBind': { params: { deviceId: 0x200, asid: 1 }, result: { status: 0x3c, statusName: 'INVALID_TDI_STATE', detail: { deviceId: 0x200 } } },
  'fw.tdiUnbind': { params: { deviceId: 0x100 }, result: fwOk },
  'fw.pageUnsmash': { params: { spa: '0x100000000' }, result: { status: 0x1a, statusName: 'INVALID_PAGE_STATE', detail: { index: 3 } } },
  'tmpm.readReg': { params: { offset: 0x1c }, result: { offset: 28, value: 3 } },
  'tmpm.writeReg': { params: { offset: 0x18, value: 7 }, result: { ok: true } },
  'tmpm.regs': {
    params: {},
    result: {
      RBCTL: { offset: 0, value: 2, pause: false, init: true },
      RBTAIL: { offset: 4, value: 0, tail: 0 },
      STATUS: { offset: 28, value: 3, engineReady: true, driverInit: true, rbErr: false, wptrErr: false, toggle: false },
      engine: { initialised: true, paused: false, stopped: false, ringSpa: '0xfc0400000', ringEntries: 256, pending: 0, interrupts: 0, commands: 0 },
    },
  },
  'tmpm.submit': { params: { command: 1, listSpa: '0x0' }, result: { status: 0xf0, statusName: 'SUCCESS', index: 0, startNs: 0, endNs: 1000 } },
  'tmpm.psmashIo': {
    params: { srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0224000', srcHpmdSpa: '0xfc0201008', gctxSpa: '0xfc0200000' },
    result: { status: 0xf0, statusName: 'SUCCESS', subStatus: 0, pteError: 0, pteSubError: 0, index: 0, startNs: 0, endNs: 2_068_606, stallNs: 2_068_606, dmaHeld: 0, gctxWord: '0xfc02000f0', rmpSmashed: true },
  },
  'tmpm.punsmashIo': {
    params: { srcPgSpa: '0x100200000', srcHpmdSpa: '0xfc0201008', gctxSpa: '0xfc0200000' },
    result: { status: 0x0a, statusName: 'INVALID_HPTE_PADDR', subStatus: 0, pteError: 3, pteSubError: 0, detail: { index: 5 }, index: 1, startNs: 0, endNs: 1000, stallNs: 0, dmaHeld: 0, gctxWord: '0x30000000fc020000a', rmpMerged: false },
  },
  'tmpm.preparePsmash': { params: { domainId: 1, iova: '0x200000' }, result: { srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0224000', srcHpmdSpa: '0xfc0201008', gctxSpa: '0xfc0200000', entry: '0x6000000100200001', asid: 1 } },
  'tmpm.getCapabilities': { params: {}, result: { status: 0xf0, statusName: 'SUCCESS', capReg: 0, fwReg: 0x1000000, specReg: 0x330000, supportReg: 0xc0, fwVersion: '1.0', specVersion: '0.51', reload: false, psmash: true, punsmash: true } },
  'tmpm.getStallModel': { params: {}, result: stallModel },
  'tmpm.setStallModel': { params: { baseNs: 1000, jitter: { spreadNs: 0 } }, result: { ...stallModel, baseNs: 1000, jitter: { dist: 'uniform', spreadNs: 0 } } },
  'iommu.setDte': {
    params: { deviceId: 0x300, qwords: ['0x6000000010000603', '0x20'] },
    result: { qwords: ['0x6000000010000603', '0x20', '0x0', '0x0'], valid: true, translationValid: true, mode: 3, root: '0x10000000', read: true, write: true, domainId: 32 },
  },
  'iommu.readDte': {
    params: { deviceId: 0x300 },
    result: { qwords: ['0x6000000010000603', '0x20', '0x0', '0x0'], valid: true, translationValid: true, mode: 3, root: '0x10000000', read: true, write: true, domainId: 32 },
  },
  'iommu.walk': {
    params: { deviceId: 0x200, iova: '0x5000', write: true },
    result: {
      ok: false,
      spa: null,
      sizeLg2: null,
      read: true,
      write: false,
      steps: [{ level: 3, entrySpa: '0x7fffd000', value: '0x0' }],
      fault: { type: 2, typeName: 'IO_PAGE_FAULT', reason: 'not-present' },
    },
  },
  'iommu.command': { params: { qwords: ['0x3000000500000000', '0x400ff003'] }, result: { opcode: 3, name: 'INVALIDATE_IOMMU_PAGES', effect: 'dropped 0 IOTLB entries' } },
  'iommu.events': {
    params: { since: 0, max: 10, consume: true },
    result: {
      events: [
        {
          seq: 1,
          type: 2,
          typeName: 'IO_PAGE_FAULT',
          deviceId: 256,
          domainId: 32,
          address: '0x40001000',
          write: true,
          atNs: 700,
          words: ['0x00000100', '0x20200020', '0x40001000', '0x00000000'],
        },
      ],
      overflow: false,
    },
  },
  'iommu.map': { params: { domainId: 2, iova: '0x40000000', spa: '0x200000000', length: '0x400000', sizeLg2: 21, read: true, write: false }, result: { ok: true, mode: 3 } },
  'iommu.unmap': { params: { domainId: 2, iova: '0x40000000', length: '0x1000' }, result: { ok: true, unmapped: '0x200000' } },
  'iommu.iotlb': { params: { domainId: 1 }, result: { entries: [{ domainId: 1, iova: '0x0', spa: '0x100000000', sizeLg2: 21, read: true, write: true }] } },
  'dma.issue': { params: { deviceId: 0x200, iova: '0x1000', bytes: 64, write: true }, result: { outcome: 'rmp_fault', latencyNs: 750, spa: '0x80001000', reason: 'assigned' } },
  'dma.startStream': {
    params: { deviceId: 0x100, iovaBase: '0x0', length: '0x200000', ratePerSec: 1e6, accessBytes: 64, writeRatio: 0.25, pattern: 'sequential', arrival: 'poisson' },
    result: { streamId: 'st1' },
  },
  'dma.stopStream': { params: { streamId: 'st1' }, result: { ok: true } },
  'dma.stats': {
    params: { streamId: 'st1' },
    result: {
      issued: 10,
      completed: 6,
      held: 2,
      ioPageFaults: 1,
      rmpFaults: 1,
      timeouts: 1,
      aborted: 0,
      inFlight: 1,
      iotlbMisses: 2,
      latencyNs: { p50: 700, p90: 750, p99: 2_000_700, p999: 2_000_700, max: 2_000_700 },
      stalls: [{ startNs: 100, endNs: 2_000_100 }],
    },
  },
  'dma.resetStats': { params: {}, result: { ok: true } },
  'dma.histogram': { params: { deviceId: 256 }, result: { count: 3, maxNs: 2_400_000, significantDigits: 3, buckets: [{ fromNs: 700, valueNs: 700, count: 2 }, { fromNs: 2_398_208, valueNs: 2_400_000, count: 1 }] } },
  'dma.timeline': {
    params: { binNs: 1_000_000, startNs: 0, endNs: 2_000_000, deviceId: 256 },
    result: { binNs: 1_000_000, startNs: 0, endNs: 2_000_000, count: 2, retainedFromNs: 0, nowNs: 2_000_000, issued: [1000, 1000], held: [0, 600], completed: [1000, 400], ioPageFaults: [0, 0], rmpFaults: [0, 0], timeouts: [0, 0], aborted: [0, 0] },
  },
  'trace.start': { params: { topics: ['tmpm', 'fw', 'stall'], maxEvents: 1000, binNs: 100_000 }, result: { ok: true, topics: ['tmpm', 'fw', 'stall'], maxEvents: 1000, startNs: 0 } },
  'trace.stop': { params: {}, result: { ok: true, events: 3, dropped: 0, startNs: 0, stopNs: 5_000_000 } },
  'trace.export': {
    params: { format: 'perfetto-json' },
    result: { format: 'perfetto-json', recording: false, events: 1, dropped: 0, trace: { traceEvents: [{ name: 'process_name', ph: 'M', pid: 1, args: { name: 'TMPM engine' } }], displayTimeUnit: 'ns', otherData: {} } },
  },
  'fault.add': { params: { method: 'tmpm.PSMASH_IO', status: 0x17, nth: 2, times: 3 }, result: { faultId: 'f1' } },
  'fault.list': { params: {}, result: { faults: [{ faultId: 'f1', method: 'tmpm.PSMASH_IO', hits: 0, calls: 1, status: 0x17 }] } },
  'fault.remove': { params: { faultId: 'f1' }, result: { ok: true } },
  'fault.clear': { params: {}, result: { ok: true, removed: 2 } },
  'events.subscribe': { params: { topics: ['fw', 'dma'] }, result: { subscriptionId: 'sub1' } },
  'events.unsubscribe': { params: { subscriptionId: 'sub1' }, result: { ok: true } },
  'journal.find': {
    params: { method: 'tmpm.psmashIo', since: 0, max: 10 },
    result: {
      entries: [{ seq: 3, method: 'tmpm.psmashIo', params: { srcPgSpa: '0x100200000', smashHpteSpa: '0xfc0226000', srcHpmdSpa: '0xfc0202008', gctxSpa: '0xfc0200000' }, connectionId: 1, atNs: 0, endNs: 2_000_000, ok: true }],
      lastSeq: 3,
      dropped: 0,
    },
  },
  'journal.count': { params: { method: 'tmpm.psmashIo', params: { srcPgSpa: '0x100200000' } }, result: { count: 1, lastSeq: 3 } },
  'emu.record': { params: { file: 'session.jsonl' }, result: { recording: true, file: 'session.jsonl', calls: 0 } },
  'session.attach': { params: { platform: 'lab-1' }, result: { ok: true, platform: 'lab-1' } },
};
