/**
 * `smash-emu serve`: start the app, print the one ready line on stdout (everything
 * else goes to stderr), and on SIGINT/SIGTERM close every client with 1001, save
 * every platform to --state, and exit (README.md "Run it, test it";
 * protocol/README.md §1.4).
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
  // Handlers first, before anything slow and long before the ready line: a
  // supervisor may signal the moment it reads that line, and Node's default action
  // for SIGTERM would kill the process without saving.
  const stopper = new Stopper(opts.statePath);
  stopper.listen(env);
  const saved = opts.statePath === undefined ? undefined : await readStateFile(opts.statePath);
  const app = await start(opts, saved);
  stopper.attach(app);
  if (stopper.requested) return;
  process.stdout.write(`smash-emu listening on ${app.url}\n`);
  if (app.unixPath !== undefined) log(`line transport (newline-delimited JSON) on unix:${app.unixPath}`);
  if (saved !== undefined) log(`loaded ${count(saved.size)} from ${opts.statePath}`);
}

async function start(opts: ServeOptions, saved: SavedPlatforms | undefined): Promise<RunningApp> {
  try {
    return await startApp({
      server: opts.server,
      scenario: opts.scenario,
      platformIdleMs: opts.platformIdleMs,
      snapshotBudgetBytes: opts.snapshotBudgetBytes,
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

/** The same signal again within this window is a repeat of the first request (npm and a process group deliver one twice), not a second one. */
const REPEAT_WINDOW_MS = 1000;
/** How often a server started by npm checks that npm is still there. */
const PARENT_POLL_MS = 250;

/**
 * Stops the server once: on SIGINT or SIGTERM, and, when npm started it (`npm
 * start`, `npx`), when npm goes away. npm forwards a signal to the process it
 * started, but `npx` (and a start script without `exec`) starts a shell, which
 * dies of the signal without passing it on: the server would run on under PID 1,
 * holding the port, and never save. A changed parent PID is that case.
 */
class Stopper {
  requested = false;
  private app: RunningApp | undefined;
  private first: { signal: string; atMs: number } | undefined;

  constructor(private readonly statePath: string | undefined) {}

  listen(env: Env): void {
    process.on('SIGINT', () => this.onSignal('SIGINT'));
    process.on('SIGTERM', () => this.onSignal('SIGTERM'));
    // Only where npm itself is the launcher (`npm start`, `npx` / `npm exec`): a
    // script of the user's own that starts the server in the background and exits
    // must not take it down.
    if (env['npm_lifecycle_event'] === 'start' || env['npm_command'] === 'exec') {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) this.onSignal('npm exited', `the npm process that started it (PID ${parent}) is gone`);
      }, PARENT_POLL_MS).unref();
    }
  }

  /** The app is up: a stop requested while it started runs now. */
  attach(app: RunningApp): void {
    this.app = app;
    if (this.requested) this.run();
  }

  private onSignal(signal: string, why = signal): void {
    const at = Date.now();
    if (this.first !== undefined) {
      const repeat = signal === this.first.signal || this.first.signal === 'npm exited';
      if (signal === 'npm exited' || (repeat && at - this.first.atMs < REPEAT_WINDOW_MS)) return;
      const path = this.statePath;
      log(`${signal} again: exiting now, without finishing the shutdown${path !== undefined ? `; ${path} may not have been saved` : ''}`);
      if (path !== undefined) removeTmpSync(path);
      process.exit(EXIT.FAILURE);
    }
    this.first = { signal, atMs: at };
    this.requested = true;
    const path = this.statePath;
    log(`${why}: closing clients${path !== undefined ? ` and saving state to ${path}` : ''} (${signal === 'npm exited' ? 'SIGTERM' : signal} again, a second later, to exit at once)`);
    if (this.app !== undefined) this.run();
  }

  private run(): void {
    void shutDown(this.app as RunningApp, this.statePath).then((code) => process.exit(code));
  }
}

async function shutDown(app: RunningApp, statePath: string | undefined): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  try {
    await app.close(CLOSE_CODES.GOING_AWAY);
  } catch (err) {
    log(`error while closing the server: ${message(err)}`);
    code = EXIT.FAILURE;
  }
  if (statePath === undefined) return code;
  try {
    // Every platform that exists: the app builds each loaded one at start, so a quiet
    // run drops none, and one deleted with emu.deletePlatform is not brought back.
    // Each is dumped when its turn comes, so one state is in memory at a time.
    const platforms = new Map<string, unknown>();
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
