import { describe, expect, it } from 'vitest';
import type { FlagSpec } from '../../src/cli/args.js';
import { envName, parseArgs } from '../../src/cli/args.js';
import { CliError } from '../../src/cli/cli-error.js';

const SPECS: FlagSpec[] = [
  { name: 'port', value: 'PORT', help: '', defaultText: '' },
  { name: 'allow-origin', value: 'ORIGIN', help: '', defaultText: '', repeatable: true },
];

function thrown(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('expected a CliError');
}

describe('parseArgs', () => {
  it('reads --flag value and --flag=value alike', () => {
    expect(parseArgs(['--port', '1'], SPECS).flags.get('port')).toEqual(['1']);
    expect(parseArgs(['--port=1'], SPECS).flags.get('port')).toEqual(['1']);
    expect(parseArgs(['--port=a=b'], SPECS).flags.get('port')).toEqual(['a=b']);
  });

  it('keeps every occurrence in order and leaves positionals apart', () => {
    const parsed = parseArgs(['x', '--port', '1', 'y', '--port=2', '--allow-origin', 'a'], SPECS);
    expect(parsed.flags.get('port')).toEqual(['1', '2']);
    expect(parsed.flags.get('allow-origin')).toEqual(['a']);
    expect(parsed.positionals).toEqual(['x', 'y']);
  });

  it('takes everything after -- as positionals, and a lone - as one', () => {
    expect(parseArgs(['-', '--', '--port', '1'], SPECS).positionals).toEqual(['-', '--port', '1']);
  });

  it('notes -h and --help', () => {
    expect(parseArgs(['-h'], SPECS).help).toBe(true);
    expect(parseArgs(['--help'], SPECS).help).toBe(true);
    expect(parseArgs([], SPECS).help).toBe(false);
  });

  it('passes a value that starts with a single dash, so the value rule can judge it', () => {
    expect(parseArgs(['--port', '-1'], SPECS).flags.get('port')).toEqual(['-1']);
  });

  it('refuses an unknown flag with exit code 2, naming it and the known ones', () => {
    const err = thrown(() => parseArgs(['--prot=1'], SPECS));
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('unknown flag --prot; known flags: --port, --allow-origin (see --help)');
    expect(thrown(() => parseArgs(['-p', '1'], SPECS)).message).toMatch(/^unknown flag -p;/);
  });

  it('refuses a flag without its value, or followed by another flag', () => {
    expect(thrown(() => parseArgs(['--port'], SPECS)).message).toBe('--port needs a value: --port PORT or --port=PORT');
    expect(thrown(() => parseArgs(['--port', '--allow-origin', 'x'], SPECS)).message).toMatch(/^--port needs a value/);
  });

  it('names the variable of a flag in upper snake case', () => {
    expect(envName('max-frame-bytes')).toBe('SMASH_EMU_MAX_FRAME_BYTES');
    expect(envName('port')).toBe('SMASH_EMU_PORT');
  });
});
