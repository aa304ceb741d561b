/**
 * Command-line tokens -> raw flag values and positionals, against a table of known
 * flags. `--flag value` and `--flag=value` both work; `--` ends the flags. Values
 * stay strings here: the rules that give them types live in flag-values.ts, so a
 * bad value is reported with the same wording whether it came from a flag or from
 * its environment variable.
 */
import { usageError } from './cli-error.js';

export interface FlagSpec {
  /** kebab-case without the dashes, e.g. 'max-frame-bytes'; also names the variable SMASH_EMU_MAX_FRAME_BYTES. */
  name: string;
  /** Placeholder for the value in usage, e.g. 'PORT'. */
  value: string;
  /** One line for usage. */
  help: string;
  /** The default as usage prints it. */
  defaultText: string;
  /** Every occurrence is kept (and each may be comma-separated); otherwise the last one wins. */
  repeatable?: boolean;
}

export interface ParsedArgs {
  /** Raw values by flag name, in the order given. */
  flags: Map<string, string[]>;
  positionals: string[];
  help: boolean;
}

export function envName(flag: string): string {
  return `SMASH_EMU_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const known = new Map(specs.map((s) => [s.name, s]));
  const parsed: ParsedArgs = { flags: new Map(), positionals: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      parsed.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      parsed.help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(arg.startsWith('--') ? 2 : 1, eq === -1 ? undefined : eq);
    const spec = arg.startsWith('--') ? known.get(name) : undefined;
    if (spec === undefined) {
      throw usageError(`unknown flag ${eq === -1 ? arg : arg.slice(0, eq)}; known flags: ${specs.map((s) => `--${s.name}`).join(', ')} (see --help)`);
    }
    let value: string;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      // A value starting with '--' is far more likely a forgotten value than a real one; --flag=--x still passes it.
      if (next === undefined || next.startsWith('--')) throw usageError(`--${spec.name} needs a value: --${spec.name} ${spec.value} or --${spec.name}=${spec.value}`);
      value = next;
      i++;
    }
    const values = parsed.flags.get(spec.name) ?? [];
    values.push(value);
    parsed.flags.set(spec.name, values);
  }
  return parsed;
}
