/**
 * Injected faults (DESIGN.md `fault.add`): a rule names a method and fires on call
 * `nth` (1-based) and the `times - 1` calls after it, or, with `probability`, on
 * each call from `nth` on with that seeded probability (at most `times` times when
 * given). A firing rule can replace the call's outcome (a firmware status / an
 * instruction rc, or a JSON-RPC error), delay it (virtual ns or wall ms) or close
 * the connection. The transport applies the decision; this class only decides.
 */
import type { SeededRng } from '../util/rng.js';
import { EmuError, ERROR_CODES, invalidArgument } from '../util/emu-error.js';

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
 * TMPM commands a rule can name (`tmpm.PSMASH_IO`): the rule applies however the
 * command reaches the engine (the ring or a convenience method), and an injected
 * status is written as the engine's. The command runs inside the engine, so only
 * `status` and `delayNs` apply to it.
 */
export const TMPM_COMMAND_TARGETS = ['tmpm.GET_CAPABILITIES', 'tmpm.NOOP', 'tmpm.PSMASH_IO', 'tmpm.PUNSMASH_IO'] as const;

export function isCommandTarget(method: string): boolean {
  return (TMPM_COMMAND_TARGETS as readonly string[]).includes(method);
}

export function acceptsStatus(method: string): boolean {
  return method.startsWith('fw.') || (INSTRUCTION_METHODS as readonly string[]).includes(method) || isCommandTarget(method);
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private nextId = 1;

  constructor(private readonly rng: SeededRng) {}

  add(spec: FaultRuleSpec): string {
    if (spec.method.startsWith('fault.')) throw invalidArgument(`fault.* methods cannot be targeted (method ${spec.method})`);
    if (spec.status !== undefined && !acceptsStatus(spec.method)) {
      throw invalidArgument(`status can only be injected into fw.* methods, instructions (${INSTRUCTION_METHODS.join(', ')}) and TMPM commands (${TMPM_COMMAND_TARGETS.join(', ')}), not ${spec.method}; use rpcError`);
    }
    if (isCommandTarget(spec.method) && (spec.rpcError !== undefined || spec.delayMs !== undefined || spec.close !== undefined)) {
      throw invalidArgument(`${spec.method} runs inside the TMPM engine: only status and delayNs apply to it; to fail the JSON-RPC call, target tmpm.submit, tmpm.psmashIo or tmpm.punsmashIo`);
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
    const faultId = `f${this.nextId++}`;
    this.rules.push({ ...spec, faultId, calls: 0, hits: 0 });
    return faultId;
  }

  /** Counts the call against every rule for `method` and says what to inject (null: nothing). */
  onCall(method: string): FaultDecision | null {
    let decision: FaultDecision | null = null;
    for (const rule of this.rules) {
      if (rule.method !== method) continue;
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

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  remove(faultId: string): void {
    const i = this.rules.findIndex((r) => r.faultId === faultId);
    if (i < 0) throw new EmuError(ERROR_CODES.NOT_FOUND, `no fault rule ${JSON.stringify(faultId)}`, { faultId });
    this.rules.splice(i, 1);
  }

  clear(): number {
    const n = this.rules.length;
    this.rules = [];
    return n;
  }

  getState(): FaultInjectorState {
    return { nextId: this.nextId, rules: this.list() };
  }

  setState(state: FaultInjectorState): void {
    this.nextId = state.nextId;
    this.rules = state.rules.map((r) => ({ ...r }));
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
