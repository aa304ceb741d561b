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
import { CODE_NAME_KEY, CODE_TABLES, CODE_VALUE_KEY } from './code-tables.js';
import { TOPIC_DATA } from './topic-data.js';

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
  return withCodeTables(rest) as JsonSchema;
}

/**
 * A field declared with codeValue / codeName (code-tables.ts) points at its table
 * in components.schemas; any other value stays allowed (an injected status).
 */
function withCodeTables(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withCodeTables);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = withCodeTables(value);
  const table = out[CODE_VALUE_KEY] ?? out[CODE_NAME_KEY];
  if (typeof table !== 'string') return out;
  const isName = out[CODE_NAME_KEY] !== undefined;
  const { [CODE_VALUE_KEY]: _v, [CODE_NAME_KEY]: _n, description, ...other } = out;
  const outside = isName
    ? { type: 'string', pattern: '^UNKNOWN_0x[0-9a-f]+$', description: 'the name given to a number outside the table' }
    : { ...other, description: 'a number outside the table (e.g. injected by fault.add)' };
  return { ...(description !== undefined ? { description } : {}), anyOf: [{ $ref: `#/components/schemas/${table}${isName ? 'Name' : ''}` }, outside] };
}

/** Each code table twice: TABLE (the numbers, named by x-enum-varnames) and TABLEName (the names). */
function codeTableSchemas(): Record<string, JsonSchema> {
  const schemas: Record<string, JsonSchema> = {};
  for (const [name, { table, description }] of Object.entries(CODE_TABLES)) {
    const entries = Object.entries(table as Record<string, number>);
    schemas[name] = {
      title: name,
      description,
      type: 'integer',
      enum: entries.map(([, value]) => value),
      'x-enum-varnames': entries.map(([key]) => key),
    };
    schemas[`${name}Name`] = { title: `${name}Name`, description: `The names of ${name}.`, type: 'string', enum: entries.map(([key]) => key) };
  }
  return schemas;
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
  const topicData = Object.fromEntries(Object.entries(TOPIC_DATA).map(([topic, schema]) => [topic, jsonSchema(schema, 'output')]));
  const notifications = Object.entries(NOTIFICATIONS).map(([name, n]) => ({
    name,
    summary: n.summary,
    description: n.description,
    params: paramDescriptors(n.params).map((p) =>
      p.name === 'data' ? { ...p, description: `depends on topic: ${Object.keys(TOPIC_DATA).join(', ')}; x-topic-data gives the schema of each`, schema: { ...p.schema, 'x-topic-data': topicData } } : p,
    ),
    'x-topic-data': topicData,
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
    components: { schemas: codeTableSchemas() },
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
