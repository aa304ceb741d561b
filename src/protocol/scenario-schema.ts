/**
 * The scenario document (a `--scenario FILE`, or `emu.reset {scenario}`) -> the plain
 * `Scenario` of src/platform/scenario.ts. A document is merged onto a base first:
 * `base: "default"` (the default) is examples/scenarios/default.json, `base:
 * "empty"` a platform with the default settings and no guest, device, RMP update
 * or stream. The merge goes key by key: an object merges into the base's object
 * (at any depth, so a section added to the scenario later merges the same way);
 * anything else (a number, a string, null, a list) replaces the base's value. So
 * `{"stallModel": {"baseNs": 1000}}` is the default platform with a shorter stall,
 * and `{"base": "empty", "devices": [...]}` builds only those devices.
 * Addresses and lengths are hex strings as on the wire. Objects are strict, so a
 * misspelt key is an error (naming the nearest key) rather than a silently
 * ignored setting.
 */
import * as z from 'zod';
import type { Scenario, ScenarioDevice, ScenarioGuest, ScenarioStream } from '../platform/scenario.js';
import { MAX_ADVANCE_LIMIT_NS } from '../platform/machine.js';
import { MAX_IOTLB_ENTRIES, MIN_IOTLB_ENTRIES } from '../iommu/iotlb.js';
import { DEFAULT_SCENARIO, DEFAULT_STALL_MODEL } from '../platform/scenario.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { toHex } from '../util/hex.js';
import type { IssuePath, WireIssue } from './issues.js';
import { formatPath, toWireIssues } from './issues.js';
import { DEFAULT_SCENARIO_NAME, SCENARIO_BASES, defaultScenarioDocument, type ScenarioBase } from './default-scenario.js';
import { PAGE_2M, PAGE_4K, asid, deviceId, domainId, err, hex64, hexAddr, hexLength, intRange, ns, nsAtMost, pageSize, sizeLg2 } from './wire.js';
import { STALL_MODEL_LIMITS } from '../tmpm/stall-model.js';
import { PSP_COMMAND_NAMES } from '../psp/command-ids.js';

const D = DEFAULT_SCENARIO;
const MAX_MEMORY_BYTES = 2 ** 52;

/** Bytes per DMA access: a power of two up to 4 KB, so aligned accesses never cross a 4 KB page (protocol/README.md §8). */
export const accessBytes = intRange(1, 4096)
  .refine((n) => (n & (n - 1)) === 0, 'must be a power of two (1, 2, 4, ... 4096) so aligned accesses never cross a 4 KB page')
  .describe('bytes per request, a power of two 1..4096');
export const ratePerSec = z
  .number(err('must be a number of requests per second > 0 and <= 1e9'))
  .gt(0, 'must be > 0 requests per second')
  .max(1e9, 'must be <= 1e9 requests per second (one per ns)')
  .describe('requests per second (virtual time), > 0');
export const writeRatio = z.number(err('must be a number 0..1')).min(0, 'must be 0..1').max(1, 'must be 0..1').describe('fraction of requests that are writes, 0..1');
export const streamPattern = z.enum(['random', 'sequential']).describe('address pattern over the range; default random');
export const streamArrival = z.enum(['fixed', 'poisson']).describe('inter-arrival times: fixed (1/rate) or poisson; default fixed');

export const jitterDist = z.enum(['none', 'uniform', 'normal', 'lognormal']);
export const stallScope = z.enum(['domain', 'iommu']);
export const stallPolicy = z.enum(['hold', 'abort']);

const guestRangeDoc = z.strictObject({
  gpa: hexAddr('0x0', PAGE_4K).describe('guest physical base, 4 KB aligned (2 MB with rmp "2M")'),
  spa: hexAddr('0x100000000', PAGE_4K).describe('host physical base backing it'),
  length: hexLength('0x40000000', PAGE_4K).describe('bytes, a multiple of 4 KB (2 MB with rmp "2M")'),
  rmp: z.enum(['2M', '4K', 'none']).default('2M').describe('RMP state given: assigned as 2 MB or 4 KB pages, or left hypervisor-owned'),
  validated: z.boolean().default(true).describe('assigned pages are PVALIDATEd'),
});

const guestDoc = z.strictObject({
  asid: intRange(1, 1023, ' (0 is the hypervisor)').describe('guest ASID, 1..1023'),
  ranges: z.array(guestRangeDoc).default([]),
});

const rmpUpdateDoc = z.strictObject({
  spa: hexAddr('0x200000000', PAGE_4K),
  count: intRange(1, 1 << 20)
    .default(1)
    .describe('consecutive pages of pageSize'),
  assigned: z.boolean(),
  pageSize,
  asid: asid.default(0),
  gpa: hexAddr('0x0', PAGE_4K).prefault('0x0'),
  immutable: z.boolean().default(false),
  validated: z.boolean().default(false),
});

const mappingDoc = z.strictObject({
  iova: hex64('0x0').describe('IOVA base, aligned to 2^sizeLg2'),
  spa: hexAddr('0x100000000').describe('SPA base, aligned to 2^sizeLg2'),
  length: hexLength('0x40000000').describe('bytes, a multiple of 2^sizeLg2'),
  sizeLg2,
  read: z.boolean().default(true),
  write: z.boolean().default(true),
  fc: z.boolean().default(false),
});

const deviceDoc = z.strictObject({
  deviceId,
  domainId,
  boundAsid: intRange(1, 1023)
    .exactOptional()
    .describe("bind the device to this guest ASID: fw.tdiBind's firmware commands (connect, measurements, TDI_CREATE, TDI_BIND, RUN_FORCE) run at build, before time 0; absent = untrusted"),
  mode: intRange(1, 6, ' (page-table levels)').default(3).describe('DTE mode (levels); raised when a mapping needs more'),
  teeIo: z.boolean().default(true).describe('TEE-IO capable: a DOE mailbox answering SPDM (pci.doe), and the PSP may create a device context for it'),
  mappings: z.array(mappingDoc).default([]),
});

const streamDoc = z.strictObject({
  deviceId,
  iovaBase: hex64('0x0'),
  length: hexLength('0x200000'),
  ratePerSec,
  accessBytes,
  writeRatio,
  pattern: streamPattern.default('random'),
  arrival: streamArrival.default('fixed'),
});

const stallModelDoc = z.strictObject({
  baseNs: nsAtMost(STALL_MODEL_LIMITS.baseNs, 'fixed part of a stall').default(DEFAULT_STALL_MODEL.baseNs),
  perEntryNs: nsAtMost(STALL_MODEL_LIMITS.perEntryNs, 'per PTE, x512').default(DEFAULT_STALL_MODEL.perEntryNs),
  jitter: z.strictObject({ dist: jitterDist.default(DEFAULT_STALL_MODEL.jitter.dist), spreadNs: nsAtMost(STALL_MODEL_LIMITS.spreadNs, 'jitter spread').default(DEFAULT_STALL_MODEL.jitter.spreadNs) }).prefault({}),
  scope: stallScope.default(DEFAULT_STALL_MODEL.scope),
  policy: stallPolicy.default(DEFAULT_STALL_MODEL.policy),
  completionTimeoutNs: nsAtMost(STALL_MODEL_LIMITS.completionTimeoutNs, 'completion timeout of a held request').default(DEFAULT_STALL_MODEL.completionTimeoutNs),
});

const T = DEFAULT_SCENARIO.tmpm;
const tmpmDoc = z
  .strictObject({
    initialised: z.boolean().default(T.initialised).describe("bring the engine up as the host driver would (ring in a Hypervisor-Fixed 2 MB-aligned pool page, INIT applied); false leaves it to the client's driver"),
    deviceId: intRange(0, 0xffff).default(T.deviceId).describe("the engine's requester ID (its DTE, its IO_PAGE_FAULTs); default 0x00A0"),
    domainId: intRange(0, 0xffff).default(T.domainId).describe("the IOMMU domain of the engine's DTE"),
    pdeAccess: z.enum(['direct', 'iommu']).default(T.pdeAccess).describe('how the engine reads and writes src_hpmd_paddr: directly, or by DMA through its own DTE (a failed translation is MEM_ABORTED)'),
    ctlNs: ns('latency of an RBCTL write before STATUS.TOGGLE flips').max(1_000_000_000, 'must be at most 1 s').default(T.ctlNs),
    commandNs: ns('run time of GET_CAPABILITIES and NOOP (a refused command finishes at once)').max(1_000_000_000, 'must be at most 1 s').default(T.commandNs),
    psmash: z.boolean().default(T.psmash).describe('support_reg bit 6: PSMASH_IO offered'),
    punsmash: z.boolean().default(T.punsmash).describe('support_reg bit 7: PUNSMASH_IO offered'),
    punsmashCommand: intRange(0x02, 0xff)
      .refine((n) => n !== 0x05, 'must differ from PSMASH_IO (0x05)')
      .default(T.punsmashCommand)
      .describe('our number for PUNSMASH_IO (the real one is not public); not 0x00, 0x01 or 0x05'),
    fwMajor: intRange(0, 0xff).default(T.fwMajor).describe('GET_CAPABILITIES fw_reg bits 31:24'),
    fwMinor: intRange(0, 0xff).default(T.fwMinor).describe('GET_CAPABILITIES fw_reg bits 23:16'),
  })
  .prefault({});

const P = DEFAULT_SCENARIO.psp;
const pspDoc = z
  .strictObject({
    cmdNs: ns('how long a PSP mailbox command runs').max(1_000_000_000, 'must be at most 1 s').default(P.cmdNs),
    commandNs: z
      .partialRecord(z.enum(PSP_COMMAND_NAMES), ns('run time of this command').max(1_000_000_000, 'must be at most 1 s'))
      .default({})
      .describe('per-command run times by name, e.g. {"TIO_DEV_CONNECT": 50000}, overriding cmdNs'),
    apiMajor: intRange(0, 0xff).default(P.apiMajor).describe('firmware API version major (SNP_PLATFORM_STATUS); Linux needs >= 1.52 for SNP_INIT_EX'),
    apiMinor: intRange(0, 0xff).default(P.apiMinor),
    buildId: intRange(0, 0xffff_ffff).default(P.buildId),
  })
  .prefault({});

const TIO = DEFAULT_SCENARIO.tio;
const tioSize = (d: number, what: string) =>
  intRange(4096, 2 ** 21)
    .refine((n) => n % 4096 === 0, 'must be a multiple of 4096')
    .default(d)
    .describe(what);
const tioDoc = z
  .strictObject({
    supported: z.boolean().default(TIO.supported).describe('SNP_FEATURE_INFO EBX bit 1: SEV-TIO supported (false: tio_en is UNSUPPORTED, TIO commands INVALID_COMMAND)'),
    spdmReqSizeMin: tioSize(TIO.spdmReqSizeMin, 'TIO_STATUS spdm_req_size_min (bytes)'),
    spdmReqSizeMax: tioSize(TIO.spdmReqSizeMax, 'spdm_req_size_max'),
    spdmScratchSizeMin: tioSize(TIO.spdmScratchSizeMin, 'spdm_scratch_size_min'),
    spdmScratchSizeMax: tioSize(TIO.spdmScratchSizeMax, 'spdm_scratch_size_max'),
    spdmOutSizeMin: tioSize(TIO.spdmOutSizeMin, 'spdm_out_size_min'),
    spdmOutSizeMax: tioSize(TIO.spdmOutSizeMax, 'spdm_out_size_max'),
    spdmRspSizeMin: tioSize(TIO.spdmRspSizeMin, 'spdm_rsp_size_min'),
    spdmRspSizeMax: tioSize(TIO.spdmRspSizeMax, 'spdm_rsp_size_max (at most spdm_req_size_max: Linux sizes resp from the request maximum)'),
    devctxSize: tioSize(TIO.devctxSize, 'devctx_size'),
    tdictxSize: tioSize(TIO.tdictxSize, 'tdictx_size'),
  })
  .prefault({});

const scenarioShape = z.strictObject({
  $comment: z.string().exactOptional().describe('free text, ignored'),
  base: z
    .enum(SCENARIO_BASES)
    .exactOptional()
    .describe(
      'what the document is merged onto, key by key: "default" (the default scenario, examples/scenarios/default.json) or "empty" (default settings, no guests, devices, RMP updates or streams); default "default"',
    ),
  name: z.string().min(1).max(200).default('custom').describe('a label shown by emu.info'),
  memoryBytes: hexAddr('0x1000000000', PAGE_2M)
    .refine((n) => n >= PAGE_2M && n <= MAX_MEMORY_BYTES, 'must be 0x200000 (2 MB) ..0x10000000000000 (2^52)')
    .prefault(toHex(D.memoryBytes))
    .describe('host memory size, a multiple of 2 MB; default 64 GiB'),
  seed: intRange(0, 0xffff_ffff).default(D.seed).describe('PRNG seed'),
  clock: z
    .strictObject({
      mode: z.enum(['virtual', 'realtime']).default(D.clock.mode),
      speed: z.number().gt(0, 'must be > 0').max(1e6, 'must be <= 1e6').default(D.clock.speed).describe('realtime: virtual ns per wall ns'),
    })
    .prefault({}),
  firmware: z.strictObject({ snpInit: z.boolean().default(D.firmware.snpInit), tioInit: z.boolean().default(D.firmware.tioInit) }).prefault({}),
  rmpSizeRule: z.enum(['equal', 'not-larger']).default(D.rmpSizeRule).describe('IOMMU RMP check: leaf size equal to, or not larger than, the RMP page size'),
  eventLogEntries: intRange(1, 65536).default(D.eventLogEntries),
  serviceNs: ns('DMA service time').default(D.serviceNs),
  iotlbEntries: intRange(MIN_IOTLB_ENTRIES, MAX_IOTLB_ENTRIES)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two (the IOTLB has 8-way sets)')
    .default(D.iotlbEntries)
    .describe('IOTLB capacity in entries (8-way set-associative); default 524288 (2^19)'),
  maxAdvanceNs: ns('largest clock.advance').max(MAX_ADVANCE_LIMIT_NS, 'must be at most 600 s (600000000000 ns); fix: advance in several calls').default(D.maxAdvanceNs),
  cBit: z
    .union([intRange(12, 51), z.null()])
    .default(D.cBit)
    .describe('C-bit position stripped from IOMMU table and leaf addresses (CPUID 0x8000001F EBX[5:0]; 51 on current EPYC); null: no stripping'),
  guests: z.array(guestDoc).default([]),
  rmpUpdates: z.array(rmpUpdateDoc).default([]),
  devices: z.array(deviceDoc).default([]),
  stallModel: stallModelDoc.prefault({}),
  tmpm: tmpmDoc.describe('the TMPM engine (the smash engine)'),
  psp: pspDoc.describe("the PSP's SEV mailbox"),
  tio: tioDoc.describe('SEV-TIO: supported or not, and the sizes TIO_STATUS reports'),
  streams: z.array(streamDoc).default([]),
});

type ScenarioShape = z.output<typeof scenarioShape>;

/**
 * The scenario document schema: merged onto its base, then structure, then (only
 * when the structure is sound) the cross-field checks. Output: a plain `Scenario`.
 */
export const scenarioDocument = z
  .preprocess(onBase, scenarioShape)
  .transform((doc, ctx): Scenario => {
    const scenario = toScenario(doc);
    for (const { path, message } of crossCheck(scenario)) ctx.issues.push({ code: 'custom', path, message, input: doc });
    return scenario;
  })
  .describe('a scenario document, merged key by key onto its base ("default" unless `base` says "empty"); {} is the default platform');

export type ScenarioDocumentIn = z.input<typeof scenarioShape>;

/**
 * The raw document merged onto its base (see the file comment). Anything that is
 * not an object with a known base is passed on as it is, for the schema to refuse.
 * A merged document that names nothing of its own keeps the base's name; one that
 * changes something and gives no name is "custom".
 */
function onBase(doc: unknown): unknown {
  if (!isPlainObject(doc)) return doc;
  const base = doc.base ?? 'default';
  if (base === 'empty') return { ...doc, base };
  if (base !== 'default') return doc;
  const { $comment: _note, name: _name, ...defaults } = defaultScenarioDocument();
  const own = Object.keys(doc).filter((k) => k !== 'base' && k !== '$comment');
  const named = doc.name !== undefined ? {} : { name: own.length === 0 ? DEFAULT_SCENARIO_NAME : 'custom' };
  return { ...mergeDocuments(defaults, doc), ...named, base };
}

/** `over` merged onto `base`: objects key by key, at any depth; anything else in `over` replaces. */
export function mergeDocuments(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    // Own properties only, defined rather than assigned: a "__proto__" key stays a
    // key (which the strict schema then refuses), never the object's prototype.
    const under = Object.hasOwn(out, key) ? out[key] : undefined;
    const merged = isPlainObject(value) && isPlainObject(under) ? mergeDocuments(under, value) : value;
    Object.defineProperty(out, key, { value: merged, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toScenario(doc: ScenarioShape): Scenario {
  const { base: _base, $comment: _comment, ...rest } = doc;
  return {
    ...rest,
    clock: { ...doc.clock },
    firmware: { ...doc.firmware },
    guests: doc.guests.map((g): ScenarioGuest => ({ asid: g.asid, ranges: g.ranges.map((r) => ({ ...r })) })),
    rmpUpdates: doc.rmpUpdates.map((u) => ({ ...u })),
    devices: doc.devices.map((d): ScenarioDevice => {
      const device: ScenarioDevice = { deviceId: d.deviceId, domainId: d.domainId, mode: d.mode, teeIo: d.teeIo, mappings: d.mappings.map((m) => ({ ...m })) };
      if (d.boundAsid !== undefined) device.boundAsid = d.boundAsid;
      return device;
    }),
    stallModel: { ...doc.stallModel, jitter: { ...doc.stallModel.jitter } },
    tmpm: { ...doc.tmpm },
    psp: { ...doc.psp, commandNs: { ...doc.psp.commandNs } },
    tio: { ...doc.tio },
    streams: doc.streams.map((s): ScenarioStream => ({ ...s })),
  };
}

function crossCheck(s: Scenario): WireIssue[] {
  const issues: WireIssue[] = [];
  const add = (path: IssuePath, message: string) => issues.push({ path, message });
  const memHex = toHex(s.memoryBytes);

  const asids = new Map<number, number>();
  const spaRanges: Array<{ start: number; end: number; path: IssuePath }> = [];
  s.guests.forEach((g, gi) => {
    const prev = asids.get(g.asid);
    if (prev !== undefined) add(['guests', gi, 'asid'], `ASID ${g.asid} is already used by guests[${prev}]; fix: give each guest its own ASID`);
    else asids.set(g.asid, gi);
    const gpaRanges: Array<{ start: number; end: number }> = [];
    g.ranges.forEach((r, ri) => {
      const at: IssuePath = ['guests', gi, 'ranges', ri];
      if (r.rmp === '2M') {
        for (const key of ['gpa', 'spa', 'length'] as const) {
          if (r[key] % PAGE_2M !== 0) add([...at, key], `must be 2 MB aligned (0x200000) when rmp is "2M"; fix: align it or use rmp "4K"`);
        }
      }
      if (r.spa + r.length > s.memoryBytes) add([...at, 'length'], `range ${toHex(r.spa)}+${toHex(r.length)} ends past memoryBytes ${memHex}; fix: shrink it or raise memoryBytes`);
      for (const o of gpaRanges) {
        if (r.gpa < o.end && o.start < r.gpa + r.length) add([...at, 'gpa'], 'overlaps another range of this guest; fix: give each range distinct GPAs');
      }
      gpaRanges.push({ start: r.gpa, end: r.gpa + r.length });
      for (const o of spaRanges) {
        if (r.spa < o.end && o.start < r.spa + r.length) add([...at, 'spa'], `overlaps the SPAs of ${formatPath('scenario', o.path)}; fix: back each range with distinct host memory`);
      }
      spaRanges.push({ start: r.spa, end: r.spa + r.length, path: at });
    });
  });

  s.rmpUpdates.forEach((u, ui) => {
    const size = u.pageSize === '2M' ? PAGE_2M : PAGE_4K;
    if (u.spa % size !== 0) add(['rmpUpdates', ui, 'spa'], `must be aligned to its pageSize ${u.pageSize}`);
    if (u.assigned && u.gpa % size !== 0) add(['rmpUpdates', ui, 'gpa'], `must be aligned to its pageSize ${u.pageSize}`);
    if (u.spa + u.count * size > s.memoryBytes) add(['rmpUpdates', ui, 'count'], `the pages end past memoryBytes ${memHex}; fix: lower count or raise memoryBytes`);
  });

  const devices = new Map<number, number>();
  s.devices.forEach((d, di) => {
    const prev = devices.get(d.deviceId);
    if (prev !== undefined) add(['devices', di, 'deviceId'], `device ${toHex(d.deviceId)} is already listed as devices[${prev}]; fix: list each device once`);
    else devices.set(d.deviceId, di);
    if (d.boundAsid !== undefined && d.teeIo === false) add(['devices', di, 'teeIo'], 'a bound device (boundAsid) must be TEE-IO capable; fix: set teeIo true or remove boundAsid');
    if (d.boundAsid !== undefined && !asids.has(d.boundAsid)) {
      add(['devices', di, 'boundAsid'], `no guest has ASID ${d.boundAsid}; fix: add it to guests or remove boundAsid (untrusted device)`);
    }
    d.mappings.forEach((m, mi) => {
      const at: IssuePath = ['devices', di, 'mappings', mi];
      const size = 2 ** m.sizeLg2;
      const fix = `; fix: use a multiple of 0x${size.toString(16)} or a smaller sizeLg2`;
      if (m.iova % BigInt(size) !== 0n) add([...at, 'iova'], `must be aligned to 2^sizeLg2 = 0x${size.toString(16)}${fix}`);
      if (m.spa % size !== 0) add([...at, 'spa'], `must be aligned to 2^sizeLg2 = 0x${size.toString(16)}${fix}`);
      if (m.length % size !== 0) add([...at, 'length'], `must be a multiple of 2^sizeLg2 = 0x${size.toString(16)}${fix}`);
      if (m.spa + m.length > s.memoryBytes) add([...at, 'length'], `mapping ${toHex(m.spa)}+${toHex(m.length)} ends past memoryBytes ${memHex}`);
      if (m.iova + BigInt(m.length) > 2n ** 64n) add([...at, 'length'], 'the IOVA range passes 2^64');
    });
  });

  s.streams.forEach((st, si) => {
    const at: IssuePath = ['streams', si];
    if (!devices.has(st.deviceId)) add([...at, 'deviceId'], `device ${toHex(st.deviceId)} is not in devices; fix: list it there`);
    if (st.iovaBase % BigInt(st.accessBytes) !== 0n) add([...at, 'iovaBase'], `must be aligned to accessBytes (${st.accessBytes})`);
    if (st.length % st.accessBytes !== 0) add([...at, 'length'], `must be a multiple of accessBytes (${st.accessBytes})`);
  });
  return issues;
}

/** Parses a scenario document; throws EmuError BAD_DOCUMENT listing every problem by key path, with a fix. */
export function parseScenario(doc: unknown): Scenario {
  const result = scenarioDocument.safeParse(doc);
  if (result.success) return result.data;
  const issues = toWireIssues(result.error.issues, scenarioShape).map(({ path, message }) => ({ path: formatPath('scenario', path), message }));
  const lines = issues.map((i) => `  ${i.path}: ${i.message}`);
  throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `the scenario is not valid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`, { issues });
}

/** The inverse of parseScenario: every key written out, hex where the wire uses hex. */
export function scenarioToDocument(s: Scenario): ScenarioDocumentIn {
  return {
    name: s.name,
    memoryBytes: toHex(s.memoryBytes),
    seed: s.seed,
    clock: { ...s.clock },
    firmware: { ...s.firmware },
    rmpSizeRule: s.rmpSizeRule,
    eventLogEntries: s.eventLogEntries,
    serviceNs: s.serviceNs,
    maxAdvanceNs: s.maxAdvanceNs,
    iotlbEntries: s.iotlbEntries,
    cBit: s.cBit,
    guests: s.guests.map((g) => ({
      asid: g.asid,
      ranges: g.ranges.map((r) => ({ gpa: toHex(r.gpa), spa: toHex(r.spa), length: toHex(r.length), rmp: r.rmp, validated: r.validated })),
    })),
    rmpUpdates: s.rmpUpdates.map((u) => ({ ...u, spa: toHex(u.spa), gpa: toHex(u.gpa) })),
    devices: s.devices.map((d) => ({
      deviceId: d.deviceId,
      domainId: d.domainId,
      ...(d.boundAsid !== undefined ? { boundAsid: d.boundAsid } : {}),
      mode: d.mode,
      teeIo: d.teeIo ?? true,
      mappings: d.mappings.map((m) => ({ ...m, iova: toHex(m.iova), spa: toHex(m.spa), length: toHex(m.length) })),
    })),
    stallModel: { ...s.stallModel, jitter: { ...s.stallModel.jitter } },
    tmpm: { ...s.tmpm },
    psp: { ...s.psp, commandNs: { ...s.psp.commandNs } },
    tio: { ...s.tio },
    streams: s.streams.map((st) => ({ ...st, iovaBase: toHex(st.iovaBase), length: toHex(st.length) })),
  };
}

/** DEFAULT_SCENARIO written out as a document (a test checks it equals examples/scenarios/default.json). */
export const DEFAULT_SCENARIO_DOCUMENT: ScenarioDocumentIn = scenarioToDocument(DEFAULT_SCENARIO);

/** The platform `base` alone gives: "default" is examples/scenarios/default.json, "empty" has no guests, devices, RMP updates or streams. */
export function baseScenario(base: ScenarioBase): Scenario {
  return parseScenario({ base });
}
