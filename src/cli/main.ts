/**
 * The smash-emu command: `serve` (the default, so `npm start -- FLAGS` works),
 * `call`, `watch`, `trace`, `experiment`, `replay` and `help`. Exit codes are in cli-error.ts.
 */
import { call, parseCallArgs, resolveCallOptions } from './call.js';
import { CliError, EXIT } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';

// serve-options (the scenario schema, zod, the platform) and usage are imported
// where they are needed: `call` must start fast (a script may run hundreds).

/** Resolves with an exit code, or undefined while the server keeps the process alive. */
export async function main(argv: readonly string[], env: Env): Promise<ExitCode | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command.startsWith('-')) return runServe(argv, env);
  switch (command) {
    case 'serve':
      return runServe(rest, env);
    case 'call': {
      const parsed = parseCallArgs(rest);
      if (parsed.help) return await help();
      return await call(resolveCallOptions(parsed, env));
    }
    case 'watch': {
      const { parseWatchArgs, resolveWatchOptions, watch } = await import('./watch.js');
      const parsed = parseWatchArgs(rest);
      if (parsed.help) return await help();
      return await watch(resolveWatchOptions(parsed, env));
    }
    case 'trace': {
      const { parseTraceArgs, resolveTraceOptions, trace } = await import('./trace.js');
      const parsed = parseTraceArgs(rest);
      if (parsed.help) return await help();
      return await trace(resolveTraceOptions(parsed, env));
    }
    case 'experiment': {
      const { experiment, parseExperimentArgs } = await import('./experiment.js');
      const parsed = parseExperimentArgs(rest);
      if (parsed.help) return await help();
      return await experiment(parsed, env);
    }
    case 'replay': {
      const { parseReplayArgs, replayCommand } = await import('./replay.js');
      const parsed = parseReplayArgs(rest);
      if (parsed.help) return await help();
      return await replayCommand(parsed, env);
    }
    case 'help':
      return await help();
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}; commands: serve (the default), call, watch, trace, experiment, replay, help`);
  }
}

async function runServe(argv: readonly string[], env: Env): Promise<ExitCode | undefined> {
  const { parseServeArgs } = await import('./serve-options.js');
  const parsed = parseServeArgs(argv);
  if (parsed.help) return await help();
  // Loaded only here: `call` and `help` need not load the whole emulator.
  const { serve } = await import('./serve.js');
  await serve(parsed, env);
  return undefined;
}

async function help(): Promise<ExitCode> {
  const { usage } = await import('./usage.js');
  process.stdout.write(usage());
  return EXIT.OK;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    // exitCode rather than exit(): lets piped stdout drain before the process ends.
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`smash-emu: ${err.message}\n`);
    } else {
      process.stderr.write(`smash-emu: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    // exit(), not exitCode: whatever a failed start left open must not keep the process alive.
    process.exit(err instanceof CliError ? err.exitCode : EXIT.FAILURE);
  },
);
