/**
 * Injected faults (protocol/README.md §10, `fault.add`): a rule names a method and
 * fires on call `nth` (1-based) and the `times - 1` calls after it, or, with
 * `probability`, on each call from `nth` on with that seeded probability (at most
 * `times` times when given). A firing rule can replace the call's outcome (a firmware
 * status / an instruction rc, or a JSON-RPC error), delay it (virtual ns or wall ms)
 * or close the connection. The transport applies the decision; this class only
 * decides.
 */
import type { SeededRng } from '../util/rng.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';
import { FAULT_DATA_BOUNDS, jsonBoundsViolation } from '../util/json-bounds.js';
import { PSP_COMMAND_NAMES } from '../psp/command-ids.js';
import { TMPM_COMMANDS } from '../tmpm/command-table.js';
import { SPDM_REQUEST_NAMES } from '../psp/spdm.js';
import { TDISP_REQUEST_NAMES } from '../psp/tdisp.js';

/**
 * Fault rules one platform may hold (protocol/README.md §1.3: 200,000 rules slowed every
 * call 100x). A fault.add beyond is refused with EMU_LIMIT; state documents with
 * more are refused too.
 */
export const MAX_FAULT_RULES = 1024;
/** Longest `rpcError.message` a rule may carry, in characters. */
export const MAX_FAULT_MESSAGE_CHARS = 4096;

export interface FaultRuleSpec {
  method: string;
  status?: number;
  rpcError?: { code: number; message: string; data?: unknown };
  delayNs?: number;
  delayMs?: number;
  close?: boolean;
  nth?: number;
  times?: number;
  probability?: number;
}

export interface FaultRule extends FaultRuleSpec {
  faultId: string;
  /** Calls of the method seen since the rule was added. */
  calls: number;
  /** Times the rule fired. */
  hits: number;
}

export interface FaultDecision {
  delayNs: number;
  delayMs: number;
  close: boolean;
  status?: number;
  rpcError?: { code: number; message: string; data?: unknown };
  faultIds: string[];
}

export interface FaultInjectorState {
  nextId: number;
  rules: FaultRule[];
}

/** Instructions whose `rc` an injected `status` sets. */
export const INSTRUCTION_METHODS = ['rmp.update', 'rmp.psmash', 'guest.pvalidate'] as const;

/**
 * TMPM commands a rule can name (`tmpm.PSMASH_IO`), one per record of the TMPM's
 * command table (tmpm/command-table.ts): the rule applies however the
 * command reaches the engine (the ring or a convenience method), and an injected
 * status is written as the engine's. The command runs inside the engine, so only
 * `status` and `delayNs` apply to it.
 */
export const TMPM_COMMAND_TARGETS = TMPM_COMMANDS.map((c) => `tmpm.${c.name}` as const);

/**
 * PSP mailbox commands (`psp.SNP_PAGE_RECLAIM`) and SPDM requests a device answers
 * (`spdm.GET_CERTIFICATE`): like TMPM commands, a rule applies however the command or
 * request arrives; `status` is the SEV status written to CMDRESP, or the SPDM error
 * code the device answers ERROR with.
 */
export const PSP_COMMAND_TARGETS = PSP_COMMAND_NAMES.map((n) => `psp.${n}` as const);
export const SPDM_TARGETS = [...SPDM_REQUEST_NAMES, ...TDISP_REQUEST_NAMES].map((n) => `spdm.${n}` as const);

export function isCommandTarget(method: string): boolean {
  return (TMPM_COMMAND_TARGETS as readonly string[]).includes(method) || (PSP_COMMAND_TARGETS as readonly string[]).includes(method) || (SPDM_TARGETS as readonly string[]).includes(method);
}

export function acceptsStatus(method: string): boolean {
  return method.startsWith('fw.') || method.startsWith('tio.') || (INSTRUCTION_METHODS as readonly string[]).includes(method) || isCommandTarget(method);
}

export class FaultInjector {
  /** Every rule in the order added (fault.list's order). */
  private rules = new Map<string, FaultRule>();
  /** The same rules by method, each list in the order added: a call looks only at its method's rules. */
  private byMethod = new Map<string, FaultRule[]>();
  private nextId = 1;

  constructor(private readonly rng: SeededRng) {}

  add(spec: FaultRuleSpec): string {
    if (spec.method.startsWith('fault.')) throw invalidArgument(`fault.* methods cannot be targeted (method ${spec.method})`);
    if (spec.status !== undefined && !acceptsStatus(spec.method)) {
      throw invalidArgument(
        `status can only be injected into fw.* methods, instructions (${INSTRUCTION_METHODS.join(', ')}), TMPM and PSP commands (tmpm.PSMASH_IO, psp.SNP_PAGE_RECLAIM, ...) and SPDM requests (spdm.GET_CERTIFICATE, ...), not ${spec.method}; use rpcError`,
      );
    }
    if (isCommandTarget(spec.method) && (spec.rpcError !== undefined || spec.delayMs !== undefined || spec.close !== undefined)) {
      throw invalidArgument(`${spec.method} runs inside the emulated device: only status and delayNs apply to it; to fail the JSON-RPC call, target the method (tmpm.psmashIo, fw.pageReclaim, tio.connect, ...)`);
    }
    if (spec.status !== undefined && spec.rpcError !== undefined) throw invalidArgument('give status or rpcError, not both');
    if (spec.rpcError !== undefined && (spec.rpcError.code === 0 || !Number.isInteger(spec.rpcError.code))) {
      throw invalidArgument('rpcError.code must be a non-zero integer');
    }
    const hasEffect = spec.status !== undefined || spec.rpcError !== undefined || (spec.delayNs ?? 0) > 0 || (spec.delayMs ?? 0) > 0 || spec.close === true;
    if (!hasEffect) throw invalidArgument('a fault needs an effect: status, rpcError, delayNs, delayMs or close');
    if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
      throw invalidArgument(`probability must be in [0, 1], got ${spec.probability}`);
    }
    checkRpcError(spec.rpcError, (why, path) => invalidArgument(why, { path }));
    if (this.rules.size >= MAX_FAULT_RULES) {
      throw new EmuError(ERROR_CODES.LIMIT, `this platform has ${MAX_FAULT_RULES} fault rules, the most it may hold; remove some (fault.remove, fault.clear) first`, { limit: MAX_FAULT_RULES });
    }
    const faultId = `f${this.nextId++}`;
    this.insert({ ...spec, faultId, calls: 0, hits: 0 });
    return faultId;
  }

  private insert(rule: FaultRule): void {
    this.rules.set(rule.faultId, rule);
    const list = this.byMethod.get(rule.method);
    if (list === undefined) this.byMethod.set(rule.method, [rule]);
    else list.push(rule);
  }

  /** Counts the call against every rule for `method` and says what to inject (null: nothing). */
  onCall(method: string): FaultDecision | null {
    const rules = this.byMethod.get(method);
    if (rules === undefined) return null;
    let decision: FaultDecision | null = null;
    for (const rule of rules) {
      rule.calls++;
      if (!this.fires(rule)) continue;
      rule.hits++;
      decision ??= { delayNs: 0, delayMs: 0, close: false, faultIds: [] };
      decision.faultIds.push(rule.faultId);
      decision.delayNs += rule.delayNs ?? 0;
      decision.delayMs += rule.delayMs ?? 0;
      decision.close ||= rule.close === true;
      if (decision.status === undefined && decision.rpcError === undefined) {
        if (rule.status !== undefined) decision.status = rule.status;
        if (rule.rpcError !== undefined) decision.rpcError = rule.rpcError;
      }
    }
    return decision;
  }

  /** A TMPM command reaching the engine: the rules for `tmpm.NAME` that fire, if any. */
  commandFault(name: string): { status?: number; delayNs: number; faultIds: string[] } | null {
    const d = this.onCall(`tmpm.${name}`);
    if (d === null) return null;
    return { ...(d.status !== undefined ? { status: d.status } : {}), delayNs: d.delayNs, faultIds: d.faultIds };
  }

  /** A PSP command reaching the firmware: the rules for `psp.NAME` that fire, if any. */
  pspCommandFault(name: string): { status?: number; delayNs: number; faultIds: string[] } | null {
    const d = this.onCall(`psp.${name}`);
    if (d === null) return null;
    return { ...(d.status !== undefined ? { status: d.status } : {}), delayNs: d.delayNs, faultIds: d.faultIds };
  }

  /** An SPDM request reaching a device: the SPDM error code of a rule for `spdm.NAME` that fires (default Unspecified 0x05), else null. */
  spdmFault(name: string): number | null {
    const d = this.onCall(`spdm.${name}`);
    return d === null ? null : (d.status ?? 0x05);
  }

  list(): FaultRule[] {
    return [...this.rules.values()].map((r) => ({ ...r }));
  }

  remove(faultId: string): void {
    const rule = this.rules.get(faultId);
    if (rule === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, `no fault rule ${JSON.stringify(faultId)}`, { faultId });
    this.rules.delete(faultId);
    const list = this.byMethod.get(rule.method) as FaultRule[];
    list.splice(list.indexOf(rule), 1);
    if (list.length === 0) this.byMethod.delete(rule.method);
  }

  clear(): number {
    const n = this.rules.size;
    this.rules = new Map();
    this.byMethod = new Map();
    return n;
  }

  getState(): FaultInjectorState {
    return { nextId: this.nextId, rules: this.list() };
  }

  /** Replaces every rule (state load); refuses (BAD_DOCUMENT) more than MAX_FAULT_RULES or unbounded data. */
  setState(state: FaultInjectorState): void {
    if (state.rules.length > MAX_FAULT_RULES) throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `faults.rules: ${state.rules.length} rules, more than the ${MAX_FAULT_RULES} a platform may hold`);
    state.rules.forEach((r, i) => checkRpcError(r.rpcError, (why) => new EmuError(ERROR_CODES.BAD_DOCUMENT, `faults.rules[${i}]: ${why}`)));
    this.nextId = state.nextId;
    this.rules = new Map();
    this.byMethod = new Map();
    for (const r of state.rules) this.insert({ ...r });
  }

  private fires(rule: FaultRule): boolean {
    const nth = rule.nth ?? 1;
    if (rule.calls < nth) return false;
    if (rule.probability !== undefined) {
      if (rule.times !== undefined && rule.hits >= rule.times) return false;
      return this.rng.next() < rule.probability;
    }
    return rule.calls < nth + (rule.times ?? 1);
  }
}

/** Throws `fail(why, path)` when an injected error's message or data is past its bound (protocol/README.md §1.3). */
function checkRpcError(e: FaultRuleSpec['rpcError'], fail: (why: string, path: string[]) => Error): void {
  if (e === undefined) return;
  if (typeof e.message === 'string' && e.message.length > MAX_FAULT_MESSAGE_CHARS) {
    throw fail(`rpcError.message is longer than ${MAX_FAULT_MESSAGE_CHARS} characters`, ['rpcError', 'message']);
  }
  if (e.data === undefined) return;
  const why = jsonBoundsViolation(e.data, FAULT_DATA_BOUNDS);
  if (why !== undefined) throw fail(`rpcError.data ${why}: it is kept with the rule and saved with the platform's state`, ['rpcError', 'data']);
}
