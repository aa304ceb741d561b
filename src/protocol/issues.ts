/**
 * Zod issues as the wire reports them (protocol/README.md §3: -32602 carries
 * `data.issues` = [{path: [keys], message}]) and as scenario errors print them
 * (`scenario.devices[0].mappings[1].sizeLg2: must be ...; fix: ...`).
 */
import type * as z from 'zod';
import { didYouMean } from '../util/nearest.js';

export type IssuePath = Array<string | number>;

export interface WireIssue {
  path: IssuePath;
  message: string;
}

/**
 * One WireIssue per problem. An unknown key becomes an issue whose path ends with
 * that key, so the key a VMM engineer mistyped (`ioav`) is named in the path; with
 * the schema that refused it, the message names the nearest known keys too.
 */
export function toWireIssues(issues: readonly z.core.$ZodIssue[], schema?: z.ZodType): WireIssue[] {
  const out: WireIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      const known = schema === undefined ? [] : keysAt(schema, path);
      for (const key of issue.keys) {
        out.push({ path: [...path, key], message: `unknown key; fix: remove it or correct its spelling (keys are case-sensitive)${didYouMean(key, known)}` });
      }
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // A union such as "default" | {scenario document}: when only one branch got
      // past the value's type, its own issues say what is wrong, at their paths.
      const near = issue.errors.filter((branch) => !branch.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')));
      if (near.length === 1) {
        const inner = toWireIssues(near[0] as z.core.$ZodIssue[], undefined);
        for (const i of inner) {
          const at = [...path, ...i.path];
          // An unknown key inside the branch: the nearest known keys, looked up from the whole schema.
          const hint = schema !== undefined && i.message.startsWith('unknown key;') ? didYouMean(String(at.at(-1)), keysAt(schema, at.slice(0, -1))) : '';
          out.push({ path: at, message: i.message + hint });
        }
      } else {
        out.push({ path, message: issue.message });
      }
    } else {
      out.push({ path, message: withFix(issue) });
    }
  }
  return out;
}

/** `scenario.devices[0].mappings[1].sizeLg2` for a root name and a path. */
export function formatPath(root: string, path: IssuePath): string {
  let text = root;
  for (const part of path) text += typeof part === 'number' ? `[${part}]` : text === '' ? part : `.${part}`;
  return text === '' ? '(params)' : text;
}

/** Zod's own messages for type and enum failures, with a fix added. */
function withFix(issue: z.core.$ZodIssue): string {
  // Only zod's generic messages get a fix; ours already say what to do.
  if (!issue.message.startsWith('Invalid input') && !issue.message.startsWith('Invalid option')) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `${issue.message}; fix: give a JSON ${issue.expected === 'int' ? 'integer' : issue.expected}`;
    case 'invalid_value':
      return `${issue.message}; fix: use one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message;
  }
}

/** Internals of a zod v4 schema that the key lookup reads (stable: `_zod.def` is zod's own schema definition). */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** The object schemas `schema` may be once wrappers (default, optional, pipe, union...) are looked through. */
function objectsIn(schema: z.ZodType, depth = 0): z.ZodType[] {
  if (depth > 16) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
    case 'array':
      return [schema];
    case 'pipe':
      return [...(def.in ? objectsIn(def.in, depth + 1) : []), ...(def.out ? objectsIn(def.out, depth + 1) : [])];
    case 'union':
      return (def.options ?? []).flatMap((o) => objectsIn(o, depth + 1));
    default:
      return def.innerType !== undefined ? objectsIn(def.innerType, depth + 1) : [];
  }
}

/** The keys an object at `path` inside `schema` may have ([] when the path leads nowhere known). */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let nodes = objectsIn(schema);
  for (const part of path) {
    nodes = nodes.flatMap((node) => {
      const def = defOf(node);
      if (def.type === 'array' && typeof part === 'number' && def.element) return objectsIn(def.element);
      const child = def.type === 'object' && typeof part === 'string' ? def.shape?.[part] : undefined;
      return child === undefined ? [] : objectsIn(child);
    });
  }
  return [...new Set(nodes.flatMap((node) => Object.keys(defOf(node).shape ?? {})))];
}
