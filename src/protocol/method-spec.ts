/**
 * The shape of one entry of the method table (ARCHITECTURE.md: the method table is the protocol) and the result
 * pieces several namespaces share. Param schemas are strict objects that
 * transform wire values into domain values; result schemas describe the wire
 * (hex strings) and are loose, since results may gain fields (protocol/README.md §2).
 */
import * as z from 'zod';
import { codeName, codeValue } from './code-tables.js';

export interface MethodExample {
  name: string;
  description?: string;
  /** What a client sends (wire form). */
  params: Record<string, unknown>;
  /** What the DEFAULT scenario answers, fresh, after any steps `description` names. */
  result: unknown;
  /**
   * Dotted paths (`steps.*.entrySpa`) whose values depend on where the platform
   * put its pages or on ids; the rest is exact. Present = compare the shape of
   * those fields only (`x-compare: "shape"` in the OpenRPC document).
   */
  vary?: readonly string[];
}

export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  summary: string;
  description: string;
  params: P;
  result: R;
  examples?: readonly MethodExample[];
}

/** Keeps the literal schema types of one entry while checking it is a MethodSpec. */
export function method<P extends z.ZodType, R extends z.ZodType>(spec: MethodSpec<P, R>): MethodSpec<P, R> {
  return spec;
}

/**
 * What a failure's `detail` may hold: always `reason` (the failing check, in
 * words), and the values it looked at; an injected status (fault.add) has
 * `injected` and `faultIds` instead. Addresses and 64-bit values are hex strings.
 */
export const failureDetail = z
  .looseObject({
    reason: z.string().exactOptional().describe('the check that failed, in words'),
    injected: z.literal(true).exactOptional().describe('the status was injected by fault.add, not produced by the emulator'),
    faultIds: z.array(z.string()).exactOptional().describe('with injected: the fault rules that fired'),
    index: z.int().min(0).exactOptional().describe('the entry (PTE 0..511, or RMP entry) that failed'),
    expected: z.string().exactOptional().describe('the value the check wanted (hex)'),
    actual: z.string().exactOptional().describe('the value found (hex)'),
    entrySpa: z.string().exactOptional().describe('SPA of the page-table entry looked at (hex)'),
    level: z.int().exactOptional().describe('page-table level of that entry'),
    value: z.string().exactOptional().describe("the entry's value (hex)"),
    domainId: z.int().exactOptional(),
    deviceId: z.int().exactOptional(),
    asid: z.int().exactOptional(),
    spa: z.string().exactOptional().describe('the address refused (hex)'),
  })
  .describe('on failure only: what was wrong. `reason` always (unless injected); the other keys where they apply');

/** Every firmware command (docs/hardware.md §2.3 status codes; 0 = SUCCESS). */
export const fwStatusFields = {
  status: codeValue('SevStatus', 'firmware status (docs/hardware.md §2.3): one of components.schemas.SevStatus; 0 = SUCCESS'),
  statusName: codeName('SevStatus', 'name of the status, e.g. SUCCESS, INVALID_PARAM (UNKNOWN_0x.. for an injected number outside the table)'),
  detail: failureDetail.exactOptional(),
};
export const fwResult = z.looseObject(fwStatusFields);

/** RMPUPDATE / PSMASH / PVALIDATE return code (EAX). */
export const rcFields = {
  rc: codeValue('RmpReturnCode', 'return code: one of components.schemas.RmpReturnCode (0 SUCCESS, 1 FAIL_INPUT, 2 FAIL_PERMISSION, 3 FAIL_INUSE, 4 FAIL_OVERLAP, 6 FAIL_SIZEMISMATCH, 7 FAIL_BADADDR)'),
  rcName: codeName('RmpReturnCode', 'name of the return code'),
};
export const rcResult = z.looseObject(rcFields);

export const stallModelOut = z.looseObject({
  baseNs: z.int().min(0),
  perEntryNs: z.int().min(0),
  jitter: z.looseObject({ dist: z.enum(['none', 'uniform', 'normal', 'lognormal']), spreadNs: z.int().min(0) }),
  scope: z.enum(['domain', 'iommu']),
  policy: z.enum(['hold', 'abort']),
  completionTimeoutNs: z.int().min(0),
});

export const nowNsOut = z.int().min(0).describe('virtual time, ns');
