/**
 * Flag beats environment variable: `pick` finds the one that applies, and the rules
 * below turn its text into a typed value or a one-line message naming where the
 * value came from (`--port` or `SMASH_EMU_PORT`), the rule, and what was given.
 */
import type { ParsedArgs } from './args.js';
import { envName } from './args.js';
import { usageError } from './cli-error.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** A setting's text and where it came from. */
export interface Raw {
  text: string;
  source: string;
}

/** The flag's last value, else its environment variable, else undefined. */
export function pick(parsed: ParsedArgs, env: Env, name: string): Raw | undefined {
  const last = parsed.flags.get(name)?.at(-1);
  if (last !== undefined) return { text: last, source: `--${name}` };
  const variable = envName(name);
  const fromEnv = env[variable];
  // An empty variable counts as unset: `SMASH_EMU_TOKEN= smash-emu` is the usual way to clear one for one command.
  if (fromEnv !== undefined && fromEnv !== '') return { text: fromEnv, source: variable };
  return undefined;
}

/**
 * A repeatable flag's values, each of which may be a comma-separated list; when the
 * flag is given at all, the variable is ignored as a whole rather than merged.
 */
export function pickList(parsed: ParsedArgs, env: Env, name: string): { items: string[]; source: string } | undefined {
  const given = parsed.flags.get(name);
  const raws: Raw[] = given !== undefined ? given.map((text) => ({ text, source: `--${name}` })) : [];
  if (raws.length === 0) {
    const one = pick(parsed, env, name);
    if (one === undefined) return undefined;
    raws.push(one);
  }
  const items: string[] = [];
  for (const raw of raws) {
    for (const item of raw.text.split(',').map((s) => s.trim())) {
      if (item === '') throw usageError(`${raw.source} must be a comma-separated list with no empty item, got ${JSON.stringify(raw.text)}`);
      items.push(item);
    }
  }
  return { items, source: (raws[0] as Raw).source };
}

export function integer(raw: Raw, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const n = /^[0-9]+$/.test(raw.text) ? Number(raw.text) : Number.NaN;
  if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
  throw usageError(`${raw.source} must be an integer ${range}, got ${JSON.stringify(raw.text)}`);
}

/** A decimal number in (0, max]. */
export function positiveNumber(raw: Raw, max: number): number {
  const n = /^[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?$/i.test(raw.text) ? Number(raw.text) : Number.NaN;
  if (n > 0 && n <= max) return n;
  throw usageError(`${raw.source} must be a number > 0 and <= ${max}, got ${JSON.stringify(raw.text)}`);
}

export function oneOf<T extends string>(raw: Raw, choices: readonly T[]): T {
  const found = choices.find((c) => c === raw.text);
  if (found !== undefined) return found;
  throw usageError(`${raw.source} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw.text)}`);
}

export function nonEmpty(raw: Raw): string {
  if (raw.text !== '') return raw.text;
  throw usageError(`${raw.source} must not be empty; leave it out instead`);
}
