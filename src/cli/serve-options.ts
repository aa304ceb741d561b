/**
 * `smash-emu serve` settings (README.md "Configuration"): each from its
 * flag, else its SMASH_EMU_* variable, else (clock, speed, seed) the scenario file,
 * else the default below. Every value is checked here, once, before anything starts.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_SERVER_SNAPSHOT_BYTES } from '../platform/snapshot-store.js';
import type { Scenario } from '../platform/scenario.js';
import { DEFAULT_SCENARIO } from '../platform/scenario.js';
import { baseScenario, parseScenario } from '../protocol/scenario-schema.js';
import { DEFAULT_SERVER_OPTIONS } from '../rpc/options.js';
import type { ServerOptions } from '../rpc/options.js';
import { EmuError } from '../util/emu-error.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { CliError, describeFsError, usageError } from './cli-error.js';
import type { Env, Raw } from './flag-values.js';
import { integer, nonEmpty, oneOf, pick, pickList, positiveNumber } from './flag-values.js';

export type ServeServerOptions = Pick<ServerOptions, 'host' | 'port' | 'unixPath' | 'token' | 'allowOrigin' | 'allowHost' | 'maxFrameBytes' | 'maxBatch' | 'maxPlatforms' | 'pingMs'>;

export interface ServeOptions {
  server: ServeServerOptions;
  /** The scenario file (or the embedded default) with --clock, --speed and --seed applied. */
  scenario: Scenario;
  /** Absolute path of --state, or undefined when platform state is not kept. */
  statePath: string | undefined;
  /** Absolute path of --record, or undefined. */
  recordPath: string | undefined;
  /** Absolute path of --record-dir, or undefined (emu.record refused). */
  recordDir: string | undefined;
  /** --platform-idle-ms: a named platform with no connection and no call for this long is deleted; 0 = never. */
  platformIdleMs: number;
  /** --snapshot-budget-bytes: snapshot bytes all platforms may hold together. */
  snapshotBudgetBytes: number;
}

const S = DEFAULT_SERVER_OPTIONS;
const MAX_SPEED = 1e6;
const MAX_SEED = 0xffff_ffff;

/** The transport's defaults are taken from it rather than copied, so usage cannot drift from what runs. */
export const SERVE_FLAGS: readonly FlagSpec[] = [
  { name: 'host', value: 'HOST', help: 'interface to bind; whoever can connect can drive the platform', defaultText: S.host },
  { name: 'port', value: 'PORT', help: 'TCP port, 0..65535; 0 picks a free one (the ready line tells which)', defaultText: String(S.port) },
  { name: 'unix', value: 'PATH', help: 'also serve newline-delimited JSON-RPC on a Unix socket at PATH (mode 0600, no token; removed at exit)', defaultText: 'none (WebSocket only)' },
  { name: 'scenario', value: 'FILE', help: 'scenario document (JSON) every platform is built from, merged onto its base', defaultText: 'examples/scenarios/default.json' },
  { name: 'clock', value: 'MODE', help: 'virtual or realtime', defaultText: `the scenario's, else ${DEFAULT_SCENARIO.clock.mode}` },
  { name: 'speed', value: 'N', help: `realtime: virtual ns per wall ns, > 0 and <= ${MAX_SPEED}`, defaultText: `the scenario's, else ${DEFAULT_SCENARIO.clock.speed}` },
  { name: 'seed', value: 'N', help: `PRNG seed, an integer 0..${MAX_SEED}`, defaultText: `the scenario's, else ${DEFAULT_SCENARIO.seed}` },
  { name: 'token', value: 'TOKEN', help: 'required from clients as "Authorization: Bearer TOKEN" or ?token=TOKEN', defaultText: 'none (no token)' },
  { name: 'allow-origin', value: 'ORIGIN', help: 'browser Origin allowed to connect (scheme://host[:port], or *); repeatable or comma-separated', defaultText: 'none (browsers refused)', repeatable: true },
  {
    name: 'allow-host',
    value: 'NAME',
    help: 'host name a request may name in its Host header besides IP addresses and localhost (or *); repeatable or comma-separated',
    defaultText: 'none (other names refused: DNS rebinding)',
    repeatable: true,
  },
  { name: 'state', value: 'FILE', help: 'load every platform from FILE at start when it exists; save them to it at shutdown', defaultText: 'none (state not kept)' },
  { name: 'record', value: 'FILE', help: 'append every call of every platform and its result to FILE (JSON Lines) for smash-emu replay', defaultText: 'none (not recorded)' },
  { name: 'record-dir', value: 'DIR', help: 'allow clients to record with emu.record {file}, writing bare file names inside DIR only', defaultText: 'none (emu.record refused)' },
  { name: 'max-frame-bytes', value: 'N', help: 'largest WebSocket frame; a larger one closes the connection with 1009', defaultText: `${S.maxFrameBytes} (16 MiB)` },
  { name: 'max-batch', value: 'N', help: 'most requests in one batch; a longer batch gets one -32600', defaultText: String(S.maxBatch) },
  { name: 'max-platforms', value: 'N', help: 'most named platforms (/platforms/NAME); a new one beyond gets HTTP 503', defaultText: String(S.maxPlatforms) },
  {
    name: 'platform-idle-ms',
    value: 'MS',
    help: 'delete a named platform that had no connection and no call for MS (checked every MS/2, at most every 60 s); 0 = keep them',
    defaultText: '0 (kept until the server stops)',
  },
  { name: 'snapshot-budget-bytes', value: 'N', help: 'snapshot bytes all platforms may hold together; past it emu.snapshot is -32003', defaultText: `${DEFAULT_SERVER_SNAPSHOT_BYTES} (1 GiB)` },
  { name: 'ping-ms', value: 'MS', help: 'ping interval; a peer silent for a whole interval is dropped; 0 = no pings', defaultText: String(S.pingMs) },
];

export function parseServeArgs(argv: readonly string[]): ParsedArgs {
  const parsed = parseArgs(argv, SERVE_FLAGS);
  const extra = parsed.positionals[0];
  if (extra !== undefined) throw usageError(`serve takes no arguments, got ${JSON.stringify(extra)}; flags start with --`);
  return parsed;
}

export function resolveServeOptions(parsed: ParsedArgs, env: Env): ServeOptions {
  const get = (name: string) => pick(parsed, env, name);
  const map = <T>(raw: Raw | undefined, rule: (raw: Raw) => T, fallback: T): T => (raw === undefined ? fallback : rule(raw));

  const server: ServeServerOptions = {
    host: map(get('host'), nonEmpty, S.host),
    port: map(get('port'), (r) => integer(r, 0, 65_535), S.port),
    unixPath: map(get('unix'), nonEmpty, S.unixPath),
    token: map(get('token'), nonEmpty, S.token),
    allowOrigin: origins(parsed, env) ?? S.allowOrigin,
    allowHost: hosts(parsed, env) ?? S.allowHost,
    maxFrameBytes: map(get('max-frame-bytes'), (r) => integer(r, 1), S.maxFrameBytes),
    maxBatch: map(get('max-batch'), (r) => integer(r, 1), S.maxBatch),
    maxPlatforms: map(get('max-platforms'), (r) => integer(r, 0), S.maxPlatforms),
    pingMs: map(get('ping-ms'), (r) => integer(r, 0), S.pingMs),
  };
  const mode = map(get('clock'), (r) => oneOf(r, ['virtual', 'realtime'] as const), undefined);
  const speed = map(get('speed'), (r) => positiveNumber(r, MAX_SPEED), undefined);
  const seed = map(get('seed'), (r) => integer(r, 0, MAX_SEED), undefined);
  const statePath = map(get('state'), stateFilePath, undefined);
  const recordPath = map(get('record'), (r) => stateFilePath(r, 'the recording'), undefined);
  const recordDir = map(get('record-dir'), recordDirectory, undefined);

  const base = map(get('scenario'), loadScenario, baseScenario('default'));
  const scenario: Scenario = {
    ...base,
    clock: { mode: mode ?? base.clock.mode, speed: speed ?? base.clock.speed },
    seed: seed ?? base.seed,
  };
  const platformIdleMs = map(get('platform-idle-ms'), (r) => integer(r, 0), 0);
  const snapshotBudgetBytes = map(get('snapshot-budget-bytes'), (r) => integer(r, 1), DEFAULT_SERVER_SNAPSHOT_BYTES);
  return { server, scenario, statePath, recordPath, recordDir, platformIdleMs, snapshotBudgetBytes };
}

/** An existing, writable directory: emu.record writes only inside it. */
function recordDirectory(raw: Raw): string {
  const dir = resolve(nonEmpty(raw));
  try {
    if (!statSync(dir).isDirectory()) throw usageError(`${raw.source} ${raw.text}: ${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw usageError(`${raw.source} ${raw.text}: recordings cannot be written in ${dir} (${describeFsError(err)}); create the directory or pick another`);
  }
  return dir;
}

function origins(parsed: ParsedArgs, env: Env): string[] | undefined {
  const list = pickList(parsed, env, 'allow-origin');
  if (list === undefined) return undefined;
  for (const item of list.items) {
    // Browsers send exactly scheme://host[:port]; a trailing slash or a path would never match.
    if (item !== '*' && item !== 'null' && originOf(item) !== item) {
      throw usageError(`${list.source} must list origins as scheme://host[:port] with no path (or *), got ${JSON.stringify(item)}`);
    }
  }
  return list.items;
}

function hosts(parsed: ParsedArgs, env: Env): string[] | undefined {
  const list = pickList(parsed, env, 'allow-host');
  if (list === undefined) return undefined;
  for (const item of list.items) {
    // Compared with the Host header's name, its port dropped: a bare name.
    if (item !== '*' && !/^[A-Za-z0-9.-]+$/.test(item)) {
      throw usageError(`${list.source} must list host names such as emulator.lan, with no scheme, port or path (or *), got ${JSON.stringify(item)}`);
    }
  }
  return list.items;
}

function originOf(text: string): string | undefined {
  try {
    return new URL(text).origin;
  } catch {
    return undefined;
  }
}

function loadScenario(raw: Raw): Scenario {
  const path = nonEmpty(raw);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`${raw.source} ${path}: cannot read the scenario file (${describeFsError(err)})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw usageError(`${raw.source} ${path}: not valid JSON (${(err as Error).message}); a scenario file is one JSON object`);
  }
  try {
    return parseScenario(doc);
  } catch (err) {
    if (err instanceof EmuError) throw usageError(`${raw.source} ${path}: ${err.message}`);
    throw err;
  }
}

/** Checked now, not at shutdown, so hours of platform state (or a recording) are not lost to a typo in a directory name. */
function stateFilePath(raw: Raw, what = 'the state file'): string {
  const path = resolve(nonEmpty(raw));
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw usageError(`${raw.source} ${raw.text}: ${dir} is not a directory`);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw usageError(`${raw.source} ${raw.text}: ${what} could not be saved in ${dir} (${describeFsError(err)}); create the directory or pick another path`);
  }
  return path;
}
