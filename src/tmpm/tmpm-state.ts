/**
 * The `tmpm` section of a state document: its shape, the running entry as the
 * document keeps it and as the engine gets it back, and the check before a platform
 * loads it: a malformed one is BAD_DOCUMENT and changes nothing (protocol/README.md
 * §12, "Loading checks").
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { StallHandle } from '../dma/stall-gate.js';
import { MAX_PENDING_CTL_WRITES, MAX_RING_PAGES } from './registers.js';
import { RING_ENTRIES_PER_PAGE, RING_ENTRY_BYTES } from './ring.js';
import type { Running } from './entry-run.js';
import type { SmashOutcome } from './psmash-io.js';
import type { StallModel } from './stall-model.js';
import type { TmpmConfig } from './tmpm-config.js';

export interface TmpmState {
  config: TmpmConfig;
  stallModel: StallModel;
  regs: { rbctl: number; cdata: number; rblow: number; rbhigh: number; thresh: number };
  status: { driverInit: boolean; rbErr: boolean; wptrErr: boolean; toggle: boolean };
  applied: { init: boolean; pause: boolean };
  ring: { baseSpa: number; entries: number; tail: number; head: number; lastHead: number };
  stopped: boolean;
  interrupts: number;
  commands: number;
  pendingCtl: Array<{ atNs: number; seq: number; value: number }>;
  /** RBCTL values that came due while an entry ran, in order: applied when it finishes. */
  heldCtl?: number[];
  running: RunningDoc | null;
}

/** The running entry less its outcome and detail, the gctx input word as hex; a smash's stall as RunningSmashDoc. */
export type RunningDoc = Omit<Running, 'outcome' | 'detail' | 'gctxInput'> & { detail?: undefined; gctxInput: string; smash?: RunningSmashDoc };

/**
 * A running PSMASH_IO / PUNSMASH_IO's stall as a state document keeps it, so that a
 * restored engine ends it as the original would: the stall-end event and `dmaHeld`.
 */
export interface RunningSmashDoc {
  srcPgSpa: number;
  reaches: Array<{ domainId: number; iova: string }>;
  /** The DMA engine's stalls it began: linked again by id; heldCount and endNs for one already released. */
  stalls: Array<{ id: number; heldCount: number; endNs: number }>;
}

/** The running entry as a state document keeps it (keys in their order). */
export function runningDoc(r: Running): RunningDoc {
  const { outcome, detail: _d, ...rest } = r;
  const doc: RunningDoc = { ...rest, gctxInput: '0x' + rest.gctxInput.toString(16) };
  if (outcome !== undefined && outcome.stalls.length > 0) {
    doc.smash = {
      srcPgSpa: outcome.srcPgSpa,
      reaches: outcome.reaches.map((x) => ({ domainId: x.domainId, iova: '0x' + x.iova.toString(16) })),
      stalls: outcome.stalls.map((x) => ({ id: x.id, heldCount: x.heldCount, endNs: x.endNs })),
    };
  }
  return doc;
}

/** The running entry back from its document; `stallById` finds the DMA engine's restored stalls. */
export function runningFromDoc(d: RunningDoc, stallById: (id: number) => StallHandle | undefined): Running {
  const { smash, ...rest } = d;
  const running = { ...rest, gctxInput: BigInt(d.gctxInput) } as unknown as Running;
  if (smash !== undefined) running.outcome = restoredOutcome(running, smash, stallById);
  return running;
}

/** A dumped running smash as the outcome the engine's finish reads: its statuses, stall, reaches and stalls. */
function restoredOutcome(r: Running, d: RunningSmashDoc, stallById: (id: number) => StallHandle | undefined): SmashOutcome {
  return {
    status: r.status,
    subStatus: r.subStatus,
    pteError: r.pteError,
    pteSubError: r.pteSubError,
    stallNs: r.stallNs,
    stalls: d.stalls.map((x) => stallById(x.id) ?? { id: x.id, heldCount: x.heldCount, endNs: x.endNs }),
    rmpChanged: r.rmpChanged,
    ...(r.hpteSpa !== undefined ? { hpteSpa: r.hpteSpa } : {}),
    reaches: d.reaches.map((x) => ({ domainId: x.domainId, iova: BigInt(x.iova) })),
    srcPgSpa: d.srcPgSpa,
  };
}

const U32 = 2 ** 32;

function bad(path: string, why: string): EmuError {
  return new EmuError(ERROR_CODES.BAD_DOCUMENT, `state document rejected: tmpm.${path} ${why}; the platform is unchanged`);
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'must be an object');
  return v as Record<string, unknown>;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(path, `must be an integer ${min}..${max}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw bad(path, 'must be true or false');
  return v;
}

export function checkTmpmState(doc: unknown, memoryBytes: number): TmpmState {
  const s = obj(doc, '');
  const c = obj(s['config'], 'config');
  int(c['deviceId'], 'config.deviceId', 0, 0xffff);
  int(c['domainId'], 'config.domainId', 0, 0xffff);
  if (c['pdeAccess'] !== 'direct' && c['pdeAccess'] !== 'iommu') throw bad('config.pdeAccess', 'must be "direct" or "iommu"');
  int(c['ctlNs'], 'config.ctlNs', 0, 1e9);
  int(c['commandNs'], 'config.commandNs', 0, 1e9);
  bool(c['psmash'], 'config.psmash');
  bool(c['punsmash'], 'config.punsmash');
  int(c['punsmashCommand'], 'config.punsmashCommand', 0, 0xff);
  int(c['fwMajor'], 'config.fwMajor', 0, 0xff);
  int(c['fwMinor'], 'config.fwMinor', 0, 0xff);
  obj(s['stallModel'], 'stallModel');
  const r = obj(s['regs'], 'regs');
  for (const k of ['rbctl', 'cdata', 'rblow', 'rbhigh', 'thresh']) int(r[k], `regs.${k}`, 0, U32 - 1);
  const st = obj(s['status'], 'status');
  for (const k of ['driverInit', 'rbErr', 'wptrErr', 'toggle']) bool(st[k], `status.${k}`);
  const ap = obj(s['applied'], 'applied');
  bool(ap['init'], 'applied.init');
  bool(ap['pause'], 'applied.pause');
  const ring = obj(s['ring'], 'ring');
  const entries = int(ring['entries'], 'ring.entries', 0, MAX_RING_PAGES * RING_ENTRIES_PER_PAGE);
  if (entries % RING_ENTRIES_PER_PAGE !== 0) throw bad('ring.entries', `must be a whole number of 4 KB pages (${RING_ENTRIES_PER_PAGE} entries each)`);
  const base = int(ring['baseSpa'], 'ring.baseSpa', 0, Math.max(0, memoryBytes - 4096));
  if (base % 4096 !== 0) throw bad('ring.baseSpa', 'must be 4 KB aligned');
  // The whole ring, not only its base: an entry past the end would be written outside memory.
  if (base + entries * RING_ENTRY_BYTES > memoryBytes)
    throw bad('ring', `runs past the end of memory: ${entries} entries of ${RING_ENTRY_BYTES} bytes from ${base} end at ${base + entries * RING_ENTRY_BYTES}, memory is ${memoryBytes} bytes`);
  for (const k of ['tail', 'head', 'lastHead']) int(ring[k], `ring.${k}`, 0, Math.max(0, entries - 1));
  if ((ap['init'] as boolean) && entries === 0) throw bad('ring.entries', 'must be positive while INIT is applied');
  bool(s['stopped'], 'stopped');
  int(s['interrupts'], 'interrupts', 0, Number.MAX_SAFE_INTEGER);
  int(s['commands'], 'commands', 0, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(s['pendingCtl']) || s['pendingCtl'].length > MAX_PENDING_CTL_WRITES) throw bad('pendingCtl', `must be an array of at most ${MAX_PENDING_CTL_WRITES} writes`);
  (s['pendingCtl'] as unknown[]).forEach((p, i) => {
    const w = obj(p, `pendingCtl[${i}]`);
    int(w['atNs'], `pendingCtl[${i}].atNs`, 0, Number.MAX_SAFE_INTEGER);
    int(w['seq'], `pendingCtl[${i}].seq`, 0, Number.MAX_SAFE_INTEGER);
    int(w['value'], `pendingCtl[${i}].value`, 0, U32 - 1);
  });
  if (s['heldCtl'] !== undefined) {
    if (!Array.isArray(s['heldCtl']) || s['heldCtl'].length > MAX_PENDING_CTL_WRITES) throw bad('heldCtl', `must be an array of at most ${MAX_PENDING_CTL_WRITES} values`);
    (s['heldCtl'] as unknown[]).forEach((v, i) => int(v, `heldCtl[${i}]`, 0, U32 - 1));
    if ((s['heldCtl'] as unknown[]).length > 0 && s['running'] === null) throw bad('heldCtl', 'may only hold control writes while an entry runs');
  }
  if (s['running'] !== null) {
    const run = obj(s['running'], 'running');
    if ((ap['init'] as boolean) !== true) throw bad('running', 'needs INIT applied: an entry runs only on an initialised ring');
    int(run['index'], 'running.index', 0, Math.max(0, entries - 1));
    for (const k of ['command', 'status', 'subStatus', 'pteError', 'pteSubError']) int(run[k], `running.${k}`, 0, 0xff);
    for (const k of ['startNs', 'endNs', 'seq', 'stallNs']) int(run[k], `running.${k}`, 0, Number.MAX_SAFE_INTEGER);
    int(run['listSpa'], 'running.listSpa', 0, Number.MAX_SAFE_INTEGER);
    int(run['gctxSpa'], 'running.gctxSpa', -1, Math.max(0, memoryBytes - 8));
    if (typeof run['commandName'] !== 'string' || run['commandName'].length > 32) throw bad('running.commandName', 'must be a short string');
    if (typeof run['gctxInput'] !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(run['gctxInput'])) throw bad('running.gctxInput', 'must be a hex string');
    bool(run['rmpChanged'], 'running.rmpChanged');
    if (run['hpteSpa'] !== undefined) int(run['hpteSpa'], 'running.hpteSpa', 0, 2 ** 52 - 1);
    if (run['smash'] !== undefined) checkRunningSmash(run['smash'], memoryBytes);
  }
  return s as unknown as TmpmState;
}

function checkRunningSmash(v: unknown, memoryBytes: number): void {
  const sm = obj(v, 'running.smash');
  int(sm['srcPgSpa'], 'running.smash.srcPgSpa', 0, Math.max(0, memoryBytes - 1));
  if (!Array.isArray(sm['reaches']) || sm['reaches'].length > 0xffff) throw bad('running.smash.reaches', 'must be an array');
  (sm['reaches'] as unknown[]).forEach((x, i) => {
    const r = obj(x, `running.smash.reaches[${i}]`);
    int(r['domainId'], `running.smash.reaches[${i}].domainId`, 0, 0xffff);
    if (typeof r['iova'] !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(r['iova'])) throw bad(`running.smash.reaches[${i}].iova`, 'must be a hex string');
  });
  if (!Array.isArray(sm['stalls']) || sm['stalls'].length > 0x10000) throw bad('running.smash.stalls', 'must be an array');
  (sm['stalls'] as unknown[]).forEach((x, i) => {
    const st = obj(x, `running.smash.stalls[${i}]`);
    int(st['id'], `running.smash.stalls[${i}].id`, 1, Number.MAX_SAFE_INTEGER);
    int(st['heldCount'], `running.smash.stalls[${i}].heldCount`, 0, Number.MAX_SAFE_INTEGER);
    int(st['endNs'], `running.smash.stalls[${i}].endNs`, 0, Number.MAX_SAFE_INTEGER);
  });
}
