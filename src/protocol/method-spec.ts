/**
 * The shape of one entry of the method table (STYLE.md rule 7) and the result
 * pieces several namespaces share. Param schemas are strict objects that
 * transform wire values into domain values; result schemas describe the wire
 * (hex strings) and are loose, since DESIGN.md welcomes more fields.
 */
import * as z from 'zod';

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

/** Every firmware command (hardware.md §2.3 status codes; 0 = SUCCESS). */
export const fwStatusFields = {
  status: z.int().min(0).max(0xff).describe('firmware status (hardware.md §2.3); 0 = SUCCESS'),
  statusName: z.string().describe('name of the status, e.g. SUCCESS, INVALID_PARAM'),
  detail: z.record(z.string(), z.unknown()).exactOptional().describe('on failure: what was wrong (the failing check, the values seen)'),
};
export const fwResult = z.looseObject(fwStatusFields);

/** RMPUPDATE / PSMASH / PVALIDATE return code (EAX). */
export const rcFields = {
  rc: z.int().min(0).describe('return code: 0 SUCCESS, 1 FAIL_INPUT, 2 FAIL_PERMISSION, 3 FAIL_INUSE, 4 FAIL_OVERLAP, 6 FAIL_SIZEMISMATCH, 7 FAIL_BADADDR'),
  rcName: z.string().describe('name of the return code'),
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
