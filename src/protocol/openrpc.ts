/**
 * The OpenRPC 1.2.6 document, generated from METHODS (never edited by hand). Params
 * are described by their input (wire) schema, results by their output schema, both
 * as JSON Schema draft-7. Each top-level param key is one ContentDescriptor, since
 * params go by name.
 *
 * Examples answer on a fresh DEFAULT scenario. A result example whose values depend
 * on where the platform put its pages, on ids or on the seeded jitter carries
 * `x-compare: "shape"` and `x-vary` (the dotted paths that vary; `*` = any index):
 * compare those fields by type only and the rest exactly.
 */
import * as z from 'zod';
import pkg from '../../package.json' with { type: 'json' };
import type { MethodExample, MethodSpec } from './method-spec.js';
import { METHODS, NOTIFICATIONS } from './methods.js';

export const OPENRPC_VERSION = '1.2.6';

type JsonSchema = Record<string, unknown>;

interface ContentDescriptor {
  name: string;
  description?: string;
  required?: boolean;
  schema: JsonSchema;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** One descriptor per key of a by-name params object. */
function paramDescriptors(schema: z.ZodType): ContentDescriptor[] {
  const js = jsonSchema(schema, 'input');
  const properties = (js.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((js.required ?? []) as string[]);
  return Object.entries(properties).map(([name, prop]) => {
    const cd: ContentDescriptor = { name, required: required.has(name), schema: prop };
    if (typeof prop.description === 'string') cd.description = prop.description;
    return cd;
  });
}

function examplePairing(ex: MethodExample): Record<string, unknown> {
  const result: Record<string, unknown> = { name: 'result', value: ex.result };
  if (ex.vary !== undefined) {
    result['x-compare'] = 'shape';
    result['x-vary'] = [...ex.vary];
  }
  const pairing: Record<string, unknown> = {
    name: ex.name,
    params: Object.entries(ex.params).map(([name, value]) => ({ name, value })),
    result,
  };
  if (ex.description !== undefined) pairing.description = ex.description;
  return pairing;
}

export function buildOpenRpcDocument(): Record<string, unknown> {
  const methods = Object.entries(METHODS as Record<string, MethodSpec>).map(([name, spec]) => {
    const m: Record<string, unknown> = {
      name,
      summary: spec.summary,
      description: spec.description,
      paramStructure: 'by-name',
      params: paramDescriptors(spec.params),
      result: { name: `${name}.result`, schema: jsonSchema(spec.result, 'output') },
    };
    if (spec.examples !== undefined && spec.examples.length > 0) m.examples = spec.examples.map(examplePairing);
    return m;
  });
  const notifications = Object.entries(NOTIFICATIONS).map(([name, n]) => ({
    name,
    summary: n.summary,
    description: n.description,
    params: paramDescriptors(n.params),
  }));
  return {
    openrpc: OPENRPC_VERSION,
    info: {
      title: 'smash-emu',
      version: pkg.version,
      description:
        'JSON-RPC 2.0 over WebSocket. Params by name only, strict (unknown keys are -32602). Addresses, 64-bit values and lengths are "0x..." strings (any case in, lowercase out). Emulated outcomes are results; JSON-RPC errors: -32700 parse, -32600 invalid request, -32601 unknown method, -32602 invalid params (data.issues = [{path, message}]), -32603 internal, -32001 not found, -32002 wrong clock mode, -32003 limit, -32004 out of memory.',
      license: { name: 'MIT' },
    },
    methods,
    'x-notifications': notifications,
  };
}

/** Objects with their keys sorted, recursively, so the checked-in file diffs cleanly. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** The text of protocol/openrpc.json. */
export function renderOpenRpcJson(): string {
  return JSON.stringify(sortKeys(buildOpenRpcDocument()), null, 2) + '\n';
}

let cached: Record<string, unknown> | undefined;

/** The document, built once (rpc.discover and GET /openrpc.json). */
export function openRpcDocument(): Record<string, unknown> {
  cached ??= buildOpenRpcDocument();
  return cached;
}
