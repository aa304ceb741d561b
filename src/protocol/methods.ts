/**
 * THE method table (ARCHITECTURE.md: the method table is the protocol): one params schema and one result schema per
 * method. The server validates params with it (handlers receive MethodParams<M>:
 * hex already turned into numbers and bigints), the typed client takes its types
 * from it, and protocol/openrpc.json is generated from it.
 *
 * Params are strict objects: an unknown key (`ioav`) is -32602 naming the key,
 * because a silently ignored typo in a VMM's request is worse than an error.
 * Results describe the wire (hex strings) and are loose: more fields are welcome.
 */
import type * as z from 'zod';
import type { WireIssue } from './issues.js';
import { toWireIssues } from './issues.js';
import { DMA_METHODS } from './methods-dma.js';
import { EMU_METHODS } from './methods-emu.js';
import { EVENTS_METHODS, NOTIFICATIONS, faultMethods } from './methods-fault.js';
import { FW_METHODS } from './methods-fw.js';
import { IOMMU_METHODS } from './methods-iommu.js';
import { MEM_METHODS } from './methods-mem.js';
import { TMPM_METHODS } from './methods-tmpm.js';
import { TRACE_METHODS } from './methods-trace.js';
import { SESSION_METHODS } from './methods-session.js';
import { PSP_COMMAND_TARGETS, SPDM_TARGETS, TMPM_COMMAND_TARGETS } from '../platform/fault-injector.js';
import { PSP_METHODS } from './methods-psp.js';
import { TDI_METHODS } from './methods-tdi.js';
import { FALLBACK, FAST_PARAMS } from './fast-params.js';

const TARGETABLE = { ...EMU_METHODS, ...MEM_METHODS, ...FW_METHODS, ...PSP_METHODS, ...TDI_METHODS, ...TMPM_METHODS, ...IOMMU_METHODS, ...DMA_METHODS, ...TRACE_METHODS, ...EVENTS_METHODS } as const;
type TargetableName = keyof typeof TARGETABLE & string;
type FaultTarget = TargetableName | (typeof TMPM_COMMAND_TARGETS)[number] | (typeof PSP_COMMAND_TARGETS)[number] | (typeof SPDM_TARGETS)[number];

export const METHODS = {
  ...TARGETABLE,
  // fault.add may also name a TMPM command (tmpm.PSMASH_IO): it applies however the command reaches the engine.
  ...faultMethods([...Object.keys(TARGETABLE), ...TMPM_COMMAND_TARGETS, ...PSP_COMMAND_TARGETS, ...SPDM_TARGETS] as unknown as [FaultTarget, ...FaultTarget[]]),
  ...SESSION_METHODS,
} as const;

export { NOTIFICATIONS };

export type Methods = typeof METHODS;
export type MethodName = keyof Methods & string;
/** What a client sends (wire form: hex strings). */
export type MethodParamsIn<M extends MethodName> = z.input<Methods[M]['params']>;
/** What a handler receives after validation (numbers, bigints, defaults filled in). */
export type MethodParams<M extends MethodName> = z.output<Methods[M]['params']>;
/** What a client receives (wire form: hex strings). */
export type MethodResult<M extends MethodName> = z.output<Methods[M]['result']>;

export type NotificationName = keyof typeof NOTIFICATIONS & string;
export type NotificationParams<N extends NotificationName> = z.output<(typeof NOTIFICATIONS)[N]['params']>;

export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

export type ParseParamsResult<M extends MethodName> = { ok: true; params: MethodParams<M> } | { ok: false; issues: WireIssue[] };

/**
 * Validates a request's params for `method`: absent params are `{}`; an array or a
 * primitive is refused (params are by name only). On failure, `issues` is what
 * -32602 carries as `data.issues`.
 */
export function parseParams<M extends MethodName>(method: M, raw: unknown): ParseParamsResult<M> {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    return { ok: false, issues: [{ path: [], message: 'params must be an object (by name); fix: send {"key": value, ...}' }] };
  }
  // The hottest methods first try a parser that gives the schema's output without zod (fast-params.ts).
  const fast = FAST_PARAMS[method];
  if (fast !== undefined) {
    const params = fast(raw as Record<string, unknown> | undefined);
    if (params !== FALLBACK) return { ok: true, params: params as MethodParams<M> };
  }
  const schema = METHODS[method].params as unknown as z.ZodType<MethodParams<M>>;
  const result = schema.safeParse(raw ?? {});
  if (result.success) return { ok: true, params: result.data };
  return { ok: false, issues: toWireIssues(result.error.issues, schema) };
}
