/**
 * The `psp` section of a state document, checked before a platform loads it: a
 * malformed one is BAD_DOCUMENT and changes nothing (protocol/README.md §12).
 */
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { PspState } from './psp-device.js';
import type { DoeDeviceState } from './spdm-device.js';
import { PSP_COMMAND_NAMES } from './command-ids.js';

const U32 = 2 ** 32;
const PAGE = 4096;
/** Contexts and pages a document may list: far more than a platform builds, bounded so a document cannot demand unbounded work. */
const MAX_CONTEXTS = 4096;
const MAX_PAGES = 1024;

function bad(path: string, why: string): EmuError {
  return new EmuError(ERROR_CODES.BAD_DOCUMENT, `state document rejected: psp.${path} ${why}; the platform is unchanged`);
}
function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'must be an object');
  return v as Record<string, unknown>;
}
function arr(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw bad(path, `must be an array of at most ${max}`);
  return v;
}
function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(path, `must be an integer ${min}..${max}`);
  return v;
}
function bool(v: unknown, path: string): void {
  if (typeof v !== 'boolean') throw bad(path, 'must be true or false');
}
function page(v: unknown, path: string, memoryBytes: number): void {
  const n = int(v, path, 0, memoryBytes - PAGE);
  if (n % PAGE !== 0) throw bad(path, 'must be 4 KB aligned');
}

export function checkPspState(doc: unknown, memoryBytes: number): { device: PspState; doe: Array<[number, DoeDeviceState]>; host: unknown[] } {
  const s = obj(doc, '');
  const d = obj(s['device'], 'device');
  const c = obj(d['config'], 'device.config');
  int(c['cmdNs'], 'device.config.cmdNs', 0, 1e9);
  const per = obj(c['commandNs'], 'device.config.commandNs');
  for (const [k, v] of Object.entries(per)) {
    if (!(PSP_COMMAND_NAMES as readonly string[]).includes(k)) throw bad(`device.config.commandNs.${k}`, 'is not a PSP command name');
    int(v, `device.config.commandNs.${k}`, 0, 1e9);
  }
  for (const k of ['apiMajor', 'apiMinor']) int(c[k], `device.config.${k}`, 0, 0xff);
  int(c['buildId'], 'device.config.buildId', 0, U32 - 1);
  bool(c['tioSupported'], 'device.config.tioSupported');
  const tio = obj(c['tio'], 'device.config.tio');
  for (const [k, v] of Object.entries(tio)) int(v, `device.config.tio.${k}`, 4096, 2 ** 21);
  arr(c['tioDevices'], 'device.config.tioDevices', 65536).forEach((x, i) => int(x, `device.config.tioDevices[${i}]`, 0, 0xffff));
  const r = obj(d['regs'], 'device.regs');
  for (const k of ['cmdresp', 'lo', 'hi', 'inten', 'intsts']) int(r[k], `device.regs.${k}`, 0, U32 - 1);
  const t = obj(d['tio'], 'device.tio');
  bool(t['tioEn'], 'device.tio.tioEn');
  arr(t['contexts'], 'device.tio.contexts', MAX_CONTEXTS).forEach((x, i) => {
    const ctx = obj(x, `device.tio.contexts[${i}]`);
    int(ctx['deviceId'], `device.tio.contexts[${i}].deviceId`, 0, 0xffff);
    const pages = arr(ctx['pages'], `device.tio.contexts[${i}].pages`, MAX_PAGES);
    if (pages.length === 0) throw bad(`device.tio.contexts[${i}].pages`, 'must list at least one page');
    pages.forEach((p, k) => page(p, `device.tio.contexts[${i}].pages[${k}]`, memoryBytes));
    if (ctx['state'] !== 'created' && ctx['state'] !== 'connected') throw bad(`device.tio.contexts[${i}].state`, 'must be "created" or "connected"');
    for (const k of ['certChain', 'measurements']) {
      if (ctx[k] !== undefined && (typeof ctx[k] !== 'string' || !/^(?:[0-9a-f]{2}){0,65536}$/.test(ctx[k]))) throw bad(`device.tio.contexts[${i}].${k}`, 'must be lowercase hex');
    }
  });
  if (t['tdis'] !== undefined) checkTdis(t['tdis'], memoryBytes);
  if (t['exchange'] !== null) {
    const ex = obj(t['exchange'], 'device.tio.exchange');
    for (const k of ['ctxSpa', 'command', 'step', 'sub', 'requestCode', 'reqSessionId']) int(ex[k], `device.tio.exchange.${k}`, 0, memoryBytes);
    if (typeof ex['cert'] !== 'string' || !/^(?:[0-9a-f]{2}){0,65536}$/.test(ex['cert'])) throw bad('device.tio.exchange.cert', 'must be lowercase hex');
  }
  if (d['running'] !== null) {
    const run = obj(d['running'], 'device.running');
    for (const k of ['seq', 'command', 'startNs', 'endNs', 'eventSeq']) int(run[k], `device.running.${k}`, 0, Number.MAX_SAFE_INTEGER);
    int(run['bufSpa'], 'device.running.bufSpa', 0, Number.MAX_SAFE_INTEGER);
    if (typeof run['buf'] !== 'string' || !/^(?:[0-9a-f]{2}){0,256}$/.test(run['buf'])) throw bad('device.running.buf', 'must be lowercase hex of at most 256 bytes');
  }
  for (const k of ['nextSeq', 'commands', 'interrupts']) int(d[k], `device.${k}`, 0, Number.MAX_SAFE_INTEGER);
  const doe = arr(s['doe'], 'doe', 65536) as Array<[number, DoeDeviceState]>;
  doe.forEach((e, i) => {
    if (!Array.isArray(e) || e.length !== 2) throw bad(`doe[${i}]`, 'must be [deviceId, state]');
    int(e[0], `doe[${i}][0]`, 0, 0xffff);
    const st = obj(e[1], `doe[${i}][1]`);
    if (typeof st['certChain'] !== 'string' || !/^(?:[0-9a-f]{2}){0,65536}$/.test(st['certChain'])) throw bad(`doe[${i}][1].certChain`, 'must be lowercase hex');
    if (st['measurements'] !== undefined && (typeof st['measurements'] !== 'string' || !/^(?:[0-9a-f]{2}){0,65536}$/.test(st['measurements']))) throw bad(`doe[${i}][1].measurements`, 'must be lowercase hex');
  });
  // The host's buffers (platform/tio-host.ts, above this floor): each entry's device and context page checked here.
  const host = arr(s['host'], 'host', MAX_CONTEXTS);
  host.forEach((h, i) => {
    const o = obj(h, `host[${i}]`);
    int(o['deviceId'], `host[${i}].deviceId`, 0, 0xffff);
    page(obj(o['devCtx'], `host[${i}].devCtx`)['spa'], `host[${i}].devCtx.spa`, memoryBytes);
  });
  return { device: d as unknown as PspState, doe, host };
}

const TDI_STATES = ['CONFIG_UNLOCKED', 'CONFIG_LOCKED', 'RUN', 'ERROR'];

/** psp.device.tio.tdis: the live TDI contexts (tdi-commands.ts). */
function checkTdis(v: unknown, memoryBytes: number): void {
  arr(v, 'device.tio.tdis', MAX_CONTEXTS).forEach((x, i) => {
    const t = obj(x, `device.tio.tdis[${i}]`);
    int(t['ctxDeviceId'], `device.tio.tdis[${i}].ctxDeviceId`, 0, 0xffff);
    int(t['functionId'], `device.tio.tdis[${i}].functionId`, 0, 0xffff);
    const pages = arr(t['pages'], `device.tio.tdis[${i}].pages`, MAX_PAGES);
    if (pages.length === 0) throw bad(`device.tio.tdis[${i}].pages`, 'must list at least one page');
    pages.forEach((p, k) => page(p, `device.tio.tdis[${i}].pages[${k}]`, memoryBytes));
    if (!TDI_STATES.includes(t['state'] as string)) throw bad(`device.tio.tdis[${i}].state`, `must be one of ${TDI_STATES.join(', ')}`);
    if (t['asid'] !== null) int(t['asid'], `device.tio.tdis[${i}].asid`, 1, 1023);
    for (const k of ['guestDeviceId', 'lockFlags']) int(t[k], `device.tio.tdis[${i}].${k}`, 0, 0xffff);
    int(t['reportCounter'], `device.tio.tdis[${i}].reportCounter`, 0, Number.MAX_SAFE_INTEGER);
    for (const k of ['nonce', 'report']) if (typeof t[k] !== 'string' || !/^(?:[0-9a-f]{2}){0,65536}$/.test(t[k])) throw bad(`device.tio.tdis[${i}].${k}`, 'must be lowercase hex');
  });
}
