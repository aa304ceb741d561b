/**
 * `smash-emu serve`: start the app, print the one ready line on stdout (everything
 * else goes to stderr), and on SIGINT/SIGTERM close every client with 1001, save
 * every platform to --state, and exit (DESIGN.md "Reliability and security").
 */
import { startApp } from '../rpc/app.js';
import type { RunningApp } from '../rpc/app.js';
import { CLOSE_CODES } from '../rpc/connection.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { ParsedArgs } from './args.js';
import { CliError, EXIT, failure } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { resolveServeOptions } from './serve-options.js';
import type { ServeOptions } from './serve-options.js';
import { readStateFile, removeTmpSync, writeStateFile } from './state-file.js';
import type { SavedPlatforms } from './state-file.js';

export async function serve(parsed: ParsedArgs, env: Env): Promise<void> {
  const opts = resolveServeOptions(parsed, env);
  const saved = opts.statePath === undefined ? undefined : await readStateFile(opts.statePath);
  const app = await start(opts, saved);
  process.stdout.write(`smash-emu listening on ${app.url}\n`);
  if (saved !== undefined) log(`loaded ${count(saved.size)} from ${opts.statePath}`);
  stopOnSignals(app, opts.statePath, saved);
}

async function start(opts: ServeOptions, saved: SavedPlatforms | undefined): Promise<RunningApp> {
  try {
    return await startApp({
      server: opts.server,
      scenario: opts.scenario,
      ...(saved !== undefined ? { states: saved } : {}),
      ...(opts.recordPath !== undefined ? { record: opts.recordPath } : {}),
      ...(opts.recordDir !== undefined ? { recordDir: opts.recordDir } : {}),
    });
  } catch (err) {
    if (err instanceof EmuError && err.code === ERROR_CODES.BAD_DOCUMENT && saved !== undefined) {
      throw failure(`--state ${opts.statePath}: ${err.message}; the file is left untouched: fix it, move it away, or pick another --state`);
    }
    const where = `${opts.server.host}:${opts.server.port}`;
    switch ((err as NodeJS.ErrnoException).code) {
      case 'EADDRINUSE':
        throw failure(`cannot listen on ${where}: the port is in use; stop the other server, pick another --port, or use --port 0 for a free one`);
      case 'EACCES':
        throw failure(`cannot listen on ${where}: permission denied; ports below 1024 need privileges, pick another --port`);
      case 'EADDRNOTAVAIL':
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        throw failure(`cannot listen on ${where}: ${opts.server.host} is not an address of this machine; check --host`);
    }
    if (err instanceof EmuError) throw failure(`cannot start: ${err.message}`);
    throw err;
  }
}

function stopOnSignals(app: RunningApp, statePath: string | undefined, saved: SavedPlatforms | undefined): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: exiting now, without finishing the shutdown${statePath !== undefined ? `; ${statePath} may not have been saved` : ''}`);
      if (statePath !== undefined) removeTmpSync(statePath);
      process.exit(EXIT.FAILURE);
    }
    stopping = true;
    log(`${signal}: closing clients${statePath !== undefined ? ` and saving state to ${statePath}` : ''} (${signal} again to exit at once)`);
    void shutDown(app, statePath, saved).then((code) => process.exit(code));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function shutDown(app: RunningApp, statePath: string | undefined, saved: SavedPlatforms | undefined): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  try {
    await app.close(CLOSE_CODES.GOING_AWAY);
  } catch (err) {
    log(`error while closing the server: ${message(err)}`);
    code = EXIT.FAILURE;
  }
  if (statePath === undefined) return code;
  try {
    // Loaded platforms no client touched are saved as loaded, so a quiet run never drops one.
    // Each running platform is dumped when its turn comes, so one state is in memory at a time.
    const platforms = new Map<string, unknown>(saved ?? []);
    for (const [name, platform] of app.platforms()) platforms.set(name, () => platform.dumpState().state);
    const report = await writeStateFile(statePath, platforms);
    log(`saved ${count(report.saved.length)} to ${statePath}`);
    for (const f of report.failed) log(`--state ${statePath}: platform ${JSON.stringify(f.name)} could not be saved (${f.reason}); the others were`);
    return report.failed.length === 0 ? code : EXIT.FAILURE;
  } catch (err) {
    log(err instanceof CliError ? err.message : `--state ${statePath}: could not save (${message(err)}); the previous file, if any, is unchanged`);
    return EXIT.FAILURE;
  }
}

function count(n: number): string {
  return `${n} platform state${n === 1 ? '' : 's'}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function log(text: string): void {
  process.stderr.write(`smash-emu: ${text}\n`);
}
