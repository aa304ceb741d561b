/**
 * The server application: the transport (server.ts) with one Platform per path,
 * each answering the method table. `startApp` is what `smash-emu serve` runs and
 * what tests and examples start in process on port 0.
 */
import { Platform, VERSION } from '../platform/platform.js';
import type { Scenario } from '../platform/scenario.js';
import { systemWallClock, type WallClock } from '../clock/wall-clock.js';
import { openRpcDocument } from '../protocol/openrpc.js';
import { startServer, type RunningServer } from './server.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { ServerOptionsInput } from './options.js';
import type { PlatformHost, ServerHooks } from './method-table.js';
import { buildHandlers, type PlatformAdmin } from './platform-handlers.js';
import { platformMetrics } from '../observe/expose/platform-metrics.js';
import { dashboardAsset, dashboardPage } from '../observe/expose/dashboard-files.js';
import { platformNameFromPath } from './platforms.js';
import { SnapshotBudget } from '../platform/snapshot-store.js';
import { CallRecorder } from './call-recorder.js';
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
  /** Snapshot bytes all platforms may hold together (default DEFAULT_SERVER_SNAPSHOT_BYTES, 1 GiB). */
  snapshotBudgetBytes?: number;
  /** Allow emu.record, writing only bare file names inside this directory (`serve --record-dir`). */
  recordDir?: string;
  /** A recording that could not be written (default: printed on stderr). */
  onRecordError?: (path: string, err: Error) => void;
  /** A named platform with no connection and no call for this long is deleted (ms); 0 or absent = never. */
  platformIdleMs?: number;
}

export interface RunningApp {
  url: string;
  /** The line transport's Unix socket path, when served (`server.unixPath`). */
  unixPath?: string;
  port: number;
  host: string;
  /** Every platform that exists: name ('' = default) -> Platform (deleted ones are gone). */
  platforms(): Map<string, Platform>;
  /** emu.deletePlatform without a connection: false when there is no such platform. */
  deletePlatform(name: string): Promise<boolean>;
  close(code?: number): Promise<void>;
}

export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const wall = opts.wall ?? systemWallClock;
  const startedAt = performance.now();
  const platforms = new Map<string, Platform>();
  // A Map, never an object lookup: states["toString"] would find Object.prototype's.
  const states: ReadonlyMap<string, unknown> = opts.states instanceof Map ? opts.states : new Map(Object.entries(opts.states ?? {}));
  const onRecordError = opts.onRecordError ?? ((path, err) => process.stderr.write(`smash-emu: recording to ${path} stopped: ${err.message}\n`));
  const serverRecorder = opts.record === undefined ? undefined : new CallRecorder(opts.record, (err) => onRecordError(opts.record as string, err), opts.scenario);
  /** emu.record's recorder of each platform. */
  const platformRecorders = new Map<string, CallRecorder>();
  const life = new Map<string, { createdAtMs: number; lastUsedMs: number }>();
  // One snapshot budget for every platform of the server (not one per platform).
  const snapshotBudget = new SnapshotBudget(opts.snapshotBudgetBytes);
  const create = (name: string): Platform => {
    const p = new Platform(opts.scenario, { wall, name, snapshotBudget });
    const saved = states.get(name);
    if (saved !== undefined) p.loadState(saved);
    platforms.set(name, p);
    const now = Date.now();
    life.set(name, { createdAtMs: now, lastUsedMs: now });
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
    const recorder = new CallRecorder(
      path,
      (err) => {
        onRecordError(path, err);
        if (platformRecorders.get(name) === recorder) platformRecorders.delete(name);
      },
      opts.scenario,
    );
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
  let server: RunningServer | undefined;

  /** Deletes a named platform (emu.deletePlatform, HTTP DELETE, idle expiry); false when there is none. */
  const remove = async (name: string, exceptConnection?: number): Promise<{ closedConnections: number } | undefined> => {
    if (name === '') throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, 'the default platform "/" cannot be deleted; emu.reset rebuilds it', { path: ['name'] });
    const p = platforms.get(name);
    if (p === undefined) return undefined;
    platforms.delete(name);
    life.delete(name);
    const closedConnections = (await server?.dropPlatform(name, exceptConnection)) ?? 0;
    p.dispose();
    // Its recordings end with it: emu.record's file is closed (no descriptor left
    // behind), and --record notes the deletion, so a platform created later under
    // the same name starts with its own state line.
    serverRecorder?.deleted(name);
    const own = platformRecorders.get(name);
    if (own !== undefined) {
      platformRecorders.delete(name);
      own.deleted(name);
      await own.close();
    }
    return { closedConnections };
  };

  const admin: PlatformAdmin = {
    list: () =>
      [...platforms.keys()].map((name) => {
        const l = life.get(name) as { createdAtMs: number; lastUsedMs: number };
        const connections = server?.connectionCount(name) ?? 0;
        // In use now while a connection is open; else when the last one closed.
        const lastUsedMs = connections > 0 ? Date.now() : l.lastUsedMs;
        return { name, createdAt: new Date(l.createdAtMs).toISOString(), lastUsedAt: new Date(lastUsedMs).toISOString(), connections, nowNs: (platforms.get(name) as Platform).nowNs };
      }),
    delete: async (name, ctx) => {
      const done = await remove(name, ctx.connectionId);
      if (done === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, `no platform ${JSON.stringify(name)}; emu.platforms lists them`, { name });
      // The caller's own connection is closed once this answer is sent.
      if (ctx.platformName === name) ctx.closeAfterResponse();
      return { ok: true, name, closedConnections: done.closedConnections + (ctx.platformName === name ? 1 : 0) };
    },
  };

  const hooks: ServerHooks = {
    createPlatform(name: string): PlatformHost {
      const p = platforms.get(name) ?? create(name);
      // Before the platform's first call: a replay starts from this state.
      serverRecorder?.platform(name, p);
      const { handlers } = buildHandlers(p, {
        wall,
        admin,
        ...(opts.validateResults !== undefined ? { validateResults: opts.validateResults } : {}),
        onCall: (call) => {
          serverRecorder?.call(name, call);
          platformRecorders.get(name)?.call(name, call);
        },
        record: (file) => record(name, p, file),
      });
      // Called when a connection opens and when it closes: calls only come over
      // connections, so the last close is the last use (no cost on the call path).
      const touch = () => {
        const l = life.get(name);
        if (l !== undefined) l.lastUsedMs = Date.now();
      };
      return { handlers, touch, dispose: () => p.dispose() };
    },
    healthy: () => platforms.has(''),
    health: () => ({ version: VERSION, uptimeSeconds: Math.round((performance.now() - startedAt) / 10) / 100, platforms: platforms.size }),
    metricsText: () => metrics.metrics(),
    openrpcDocument: () => openRpcDocument(),
    page: (pathname) => {
      const asset = dashboardAsset(pathname);
      if (asset !== undefined) return { ...asset, public: true };
      const page = dashboardPage(pathname, platformNameFromPath);
      return page === undefined ? undefined : { ...page, public: false };
    },
    deletePlatform: async (name) => (await remove(name)) !== undefined,
  };
  server = await startServer(opts.server, hooks);
  const running = server;

  const idleMs = opts.platformIdleMs ?? 0;
  const sweep = () => {
    const before = Date.now() - idleMs;
    for (const [name, l] of life) {
      if (name !== '' && l.lastUsedMs <= before && running.connectionCount(name) === 0) void remove(name).catch((err: unknown) => opts.server.onInternalError?.(`expire platform ${name}`, err));
    }
  };
  const sweeper = idleMs > 0 ? setInterval(sweep, Math.min(60_000, Math.max(1, Math.floor(idleMs / 2)))) : undefined;
  sweeper?.unref();

  return {
    url: server.url,
    ...(server.unixPath !== undefined ? { unixPath: server.unixPath } : {}),
    port: server.port,
    host: server.host,
    platforms: () => platforms,
    deletePlatform: async (name) => (await remove(name)) !== undefined,
    close: async (code = 1001) => {
      if (sweeper !== undefined) clearInterval(sweeper);
      await running.close(code);
      for (const p of platforms.values()) p.dispose();
      await Promise.all([serverRecorder?.close(), ...[...platformRecorders.values()].map((r) => r.close())]);
    },
  };
}
