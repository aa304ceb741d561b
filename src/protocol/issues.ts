/**
 * Zod issues as the wire reports them (DESIGN.md: -32602 carries `data.issues` =
 * [{path: [keys], message}]) and as scenario errors print them
 * (`scenario.devices[0].mappings[1].sizeLg2: must be ...; fix: ...`).
 */
import type * as z from 'zod';

export type IssuePath = Array<string | number>;

export interface WireIssue {
  path: IssuePath;
  message: string;
}

/**
 * One WireIssue per problem. An unknown key becomes an issue whose path ends with
 * that key, so the key a VMM engineer mistyped (`ioav`) is named in the path.
 */
export function toWireIssues(issues: readonly z.core.$ZodIssue[]): WireIssue[] {
  const out: WireIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: [...path, key], message: 'unknown key; fix: remove it or correct its spelling (keys are case-sensitive)' });
      }
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      out.push({ path, message: issue.message });
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
