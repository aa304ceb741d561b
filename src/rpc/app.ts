/**
 * The server application: the transport (server.ts) with one Platform per path,
 * each answering the method table. `startApp` is what `smash-emu serve` runs and
 * what tests and examples start in process on port 0.
 */
import { Platform, VERSION } from '../platform/platform.js';
import type { Scenario } from '../platform/scenario.js';
import { systemWallClock, type WallClock } from '../clock/wall-clock.js';
import { openRpcDocument } from '../protocol/openrpc.js';
import { startServer } from './server.js';
import type { ServerOptionsInput } from './options.js';
import type { PlatformHost, ServerHooks } from './method-table.js';
import { buildHandlers } from './platform-handlers.js';
import { platformMetrics } from './platform-metrics.js';
import { dashboardAsset, dashboardPage } from './dashboard.js';
import { CallRecorder } from './call-recorder.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { join } from 'node:path';

export interface AppOptions {
  server: ServerOptionsInput;
  /** Every platform is built from it (the default one and each /platforms/NAME). */
  scenario: Scenario;
  /** Saved states to load at start: platform name ('' = default) -> state document (a Map: names may be "__proto__" or "toString"). */
  states?: ReadonlyMap<string, unknown> | Record<string, unknown>;
  /** The wall-clock adapter for realtime mode (default: the system's). */
  wall?: WallClock;
  /** Check every result against its schema (tests). */
  validateResults?: boolean;
  /** Record every platform's calls to this file (`serve --record`), appending. */
  record?: string;
  /** Allow emu.record, writing only bare file names inside this directory (`serve --record-dir`). */
  recordDir?: string;
  /** A recording that could not be written (default: printed on stderr). */
  onRecordError?: (path: string, err: Error) => void;
}

export interface RunningApp {
  url: string;
  port: number;
  host: string;
  /** Every platform created so far: name ('' = default) -> Platform. */
  platforms(): Map<string, Platform>;
  close(code?: number): Promise<void>;
}

export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const wall = opts.wall ?? systemWallClock;
  const startedAt = performance.now();
  const platforms = new Map<string, Platform>();
  // A Map, never an object lookup: states["toString"] would find Object.prototype's (issue 14 item 8).
  const states: ReadonlyMap<string, unknown> = opts.states instanceof Map ? opts.states : new Map(Object.entries(opts.states ?? {}));
  const onRecordError = opts.onRecordError ?? ((path, err) => process.stderr.write(`smash-emu: recording to ${path} stopped: ${err.message}\n`));
  const serverRecorder = opts.record === undefined ? undefined : new CallRecorder(opts.record, (err) => onRecordError(opts.record as string, err));
  /** emu.record's recorder of each platform. */
  const platformRecorders = new Map<string, CallRecorder>();
  const create = (name: string): Platform => {
    const p = new Platform(opts.scenario, { wall, name });
    const saved = states.get(name);
    if (saved !== undefined) p.loadState(saved);
    platforms.set(name, p);
    return p;
  };
  const record = async (name: string, p: Platform, file: string | null) => {
    const dir = opts.recordDir;
    if (dir === undefined) throw new EmuError(ERROR_CODES.WRONG_MODE, 'recording over the wire is off: start the server with --record-dir DIR to allow emu.record (it writes files inside DIR only)');
    const previous = platformRecorders.get(name);
    platformRecorders.delete(name);
    await previous?.close();
    if (file === null) return { recording: false, file: null, calls: previous?.calls ?? 0 };
    const path = join(dir, file);
    const recorder = new CallRecorder(path, (err) => {
      onRecordError(path, err);
      if (platformRecorders.get(name) === recorder) platformRecorders.delete(name);
    });
    recorder.platform(name, p);
    platformRecorders.set(name, recorder);
    return { recording: true, file, calls: 0 };
  };
  // The default platform and every saved one exist from the start, so a bad state
  // file refuses the start instead of the first connection.
  try {
    create('');
    for (const name of states.keys()) if (!platforms.has(name)) create(name);
  } catch (e) {
    for (const p of platforms.values()) p.dispose();
    throw e;
  }
  const metrics = platformMetrics(() => platforms);

  const hooks: ServerHooks = {
    createPlatform(name: string): PlatformHost {
      const p = platforms.get(name) ?? create(name);
      // Before the platform's first call: a replay starts from this state.
      serverRecorder?.platform(name, p);
      const { handlers } = buildHandlers(p, {
        wall,
        ...(opts.validateResults !== undefined ? { validateResults: opts.validateResults } : {}),
        onCall: (call) => {
          serverRecorder?.call(name, call);
          platformRecorders.get(name)?.call(name, call);
        },
        record: (file) => record(name, p, file),
      });
      return { handlers, dispose: () => p.dispose() };
    },
    healthy: () => platforms.has(''),
    health: () => ({ version: VERSION, uptimeSeconds: Math.round((performance.now() - startedAt) / 10) / 100, platforms: platforms.size }),
    metricsText: () => metrics.metrics(),
    openrpcDocument: () => openRpcDocument(),
    page: (pathname) => {
      const asset = dashboardAsset(pathname);
      if (asset !== undefined) return { ...asset, public: true };
      const page = dashboardPage(pathname);
      return page === undefined ? undefined : { ...page, public: false };
    },
  };
  const server = await startServer(opts.server, hooks);
  return {
    url: server.url,
    port: server.port,
    host: server.host,
    platforms: () => platforms,
    close: async (code = 1001) => {
      await server.close(code);
      for (const p of platforms.values()) p.dispose();
      await Promise.all([serverRecorder?.close(), ...[...platformRecorders.values()].map((r) => r.close())]);
    },
  };
}
