/**
 * The `tmpm` section of a state document, checked before a platform loads it: a
 * malformed one is BAD_DOCUMENT and changes nothing (protocol/README.md §12, "Loading
 * checks").
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { TmpmState } from './tmpm-engine.js';
import { MAX_PENDING_CTL_WRITES, MAX_RING_PAGES } from './registers.js';
import { RING_ENTRIES_PER_PAGE } from './ring.js';

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
  int(ring['baseSpa'], 'ring.baseSpa', 0, Math.max(0, memoryBytes - 4096));
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
  if (s['running'] !== null) {
    const run = obj(s['running'], 'running');
    int(run['index'], 'running.index', 0, Math.max(0, entries - 1));
    for (const k of ['command', 'status', 'subStatus', 'pteError', 'pteSubError']) int(run[k], `running.${k}`, 0, 0xff);
    for (const k of ['startNs', 'endNs', 'seq', 'stallNs']) int(run[k], `running.${k}`, 0, Number.MAX_SAFE_INTEGER);
    int(run['listSpa'], 'running.listSpa', 0, Number.MAX_SAFE_INTEGER);
    int(run['gctxSpa'], 'running.gctxSpa', -1, Math.max(0, memoryBytes - 8));
    if (typeof run['commandName'] !== 'string' || run['commandName'].length > 32) throw bad('running.commandName', 'must be a short string');
    if (typeof run['gctxInput'] !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(run['gctxInput'])) throw bad('running.gctxInput', 'must be a hex string');
    bool(run['rmpChanged'], 'running.rmpChanged');
    if (run['hpteSpa'] !== undefined) int(run['hpteSpa'], 'running.hpteSpa', 0, 2 ** 52 - 1);
  }
  return s as unknown as TmpmState;
}
