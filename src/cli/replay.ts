/**
 * `smash-emu replay FILE [--url URL] [--token TOKEN]`: runs a recording (`serve
 * --record`, `emu.record`) again and reports the first result that differs. The
 * calls run one at a time in the order they started, each on its own platform; a
 * platform is loaded with the state it had when its recording started (emu.loadState)
 * where that state line falls among the calls, and deleted where the session deleted
 * it (DELETE /platforms/NAME), so a session that used many platforms one after
 * another replays within the server's platform limit. Without --url it starts a
 * server in process on 127.0.0.1:0 for each session (a header line starts one),
 * built from the scenario the header names (the recording server's --scenario).
 *
 * Ids the emulator hands out from counters that are not part of a platform's state
 * (snapshotId, subscriptionId) may come back different: the replay maps the
 * recorded id to the one it got and uses that in later params.
 *
 * Exit 0: every result identical; 1: a result differs (printed: the line, method,
 * params, expected and actual) or the server failed; 2: the file is not a recording.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { RpcCallError, SmashEmuClient } from '../client/smash-emu-client.js';
import { DEFAULT_SCENARIO } from '../platform/scenario.js';
import { parseRecordLine, type RecordedCall, type RecordedDelete, type RecordedPlatform } from '../protocol/record-format.js';
import { parseScenario } from '../protocol/scenario-schema.js';
import type { Scenario } from '../platform/scenario.js';
import { startApp, type RunningApp } from '../rpc/app.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { EXIT, failure, usageError } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { nonEmpty, pick } from './flag-values.js';

export const REPLAY_FLAGS: readonly FlagSpec[] = [
  { name: 'url', value: 'URL', help: 'server to replay against (its platforms are overwritten by the recorded states)', defaultText: 'a server started in process on 127.0.0.1:0' },
  { name: 'token', value: 'TOKEN', help: "the server's --token", defaultText: 'none' },
];

/** Keys whose values come from counters outside the platform state: mapped, not compared. */
const MAPPED_IDS = ['snapshotId', 'subscriptionId'] as const;

type Step =
  { line: number; kind: 'session'; scenario: Scenario } | { line: number; kind: 'platform'; p: RecordedPlatform } | { line: number; kind: 'delete'; d: RecordedDelete } | { line: number; kind: 'call'; c: RecordedCall };

export interface ReplayDifference {
  line: number;
  platform: string;
  method: string;
  params: unknown;
  expected: unknown;
  actual: unknown;
}

export interface ReplayReport {
  calls: number;
  platforms: number;
  difference: ReplayDifference | null;
}

/**
 * Where a step goes in its session: a call at its `order`; a state or deletion line
 * between call `after` and call `after + 1` (an older recording's state line, with
 * no `after`, before every call). Equal places keep the file's order.
 */
function place(s: Step): number {
  if (s.kind === 'call') return s.c.order;
  if (s.kind === 'platform') return (s.p.after ?? -1) + 0.5;
  if (s.kind === 'delete') return s.d.after + 0.5;
  return -1;
}

/** The recording's steps in replay order: per session (a header starts one, naming its scenario), states, deletions and calls in the order they happened. */
export function readRecording(text: string): Step[] {
  const steps: Step[] = [];
  let session: Step[] | undefined;
  const flush = () => {
    if (session === undefined) return;
    // Array.prototype.sort is stable: equal places keep the file's order.
    steps.push(...session.sort((a, b) => place(a) - place(b)));
  };
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const line = parseRecordLine(raw, i + 1);
    if (line.type === 'header') {
      flush();
      let scenario: Scenario;
      try {
        scenario = line.scenario === undefined ? DEFAULT_SCENARIO : parseScenario(line.scenario);
      } catch (e) {
        throw new Error(`line ${i + 1}: the header's scenario is not valid: ${(e as Error).message}`);
      }
      session = [{ line: i + 1, kind: 'session', scenario }];
      return;
    }
    if (session === undefined) throw new Error(`line ${i + 1}: a recording starts with its header line`);
    if (line.type === 'platform') session.push({ line: i + 1, kind: 'platform', p: line });
    else if (line.type === 'delete') session.push({ line: i + 1, kind: 'delete', d: line });
    else session.push({ line: i + 1, kind: 'call', c: line });
  });
  flush();
  if (session === undefined) throw new Error('no header line: not a smash-emu recording');
  return steps;
}

export async function replay(steps: Step[], url: string | undefined, token: string | undefined): Promise<ReplayReport> {
  let app: RunningApp | undefined;
  const clients = new Map<string, SmashEmuClient>();
  const ids = new Map<string, string>();
  const used = new Set<string>();
  let base = url?.replace(/\/+$/, '') ?? '';
  const closeClients = async () => {
    await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
    clients.clear();
  };
  try {
    const client = async (platform: string) => {
      let c = clients.get(platform);
      if (c === undefined) {
        c = await SmashEmuClient.connect(`${base}${platform === '' ? '/' : `/platforms/${platform}`}`, { timeoutMs: 120_000, ...(token !== undefined ? { token } : {}) });
        clients.set(platform, c);
        used.add(platform);
      }
      return c;
    };
    let calls = 0;
    for (const step of steps) {
      if (step.kind === 'session') {
        // Each session on a server of its own, built from the recording server's scenario.
        await closeClients();
        if (url === undefined) {
          await app?.close();
          app = await startApp({ server: { host: '127.0.0.1', port: 0, pingMs: 0 }, scenario: step.scenario });
          base = app.url.replace(/\/+$/, '');
        }
        continue;
      }
      if (step.kind === 'platform') {
        await (await client(step.p.platform)).call('emu.loadState', { state: step.p.state });
        continue;
      }
      if (step.kind === 'delete') {
        const c = clients.get(step.d.platform);
        clients.delete(step.d.platform);
        await c?.close().catch(() => undefined);
        if (step.d.platform !== '') await deletePlatform(base, step.d.platform, token);
        continue;
      }
      const c = step.c;
      const params = substitute(c.params, ids);
      const actual = await rawCall(await client(c.platform), c.method, params);
      const expected = c.error !== undefined ? { error: c.error } : { result: c.result };
      calls++;
      learnIds(expected, actual, ids);
      sameConnections(c.method, expected, actual);
      if (!isDeepStrictEqual(substitute(expected, ids), actual)) {
        return { calls, platforms: used.size, difference: { line: step.line, platform: c.platform, method: c.method, params, expected, actual } };
      }
      // A call that deleted its own platform closed this connection: the next use reconnects.
      if (c.method === 'emu.deletePlatform' && expected.result !== undefined) {
        const gone = (c.params as { name?: unknown } | null)?.name;
        if (typeof gone === 'string' && gone === c.platform) {
          const own = clients.get(gone);
          clients.delete(gone);
          await own?.close().catch(() => undefined);
        }
      }
    }
    return { calls, platforms: used.size, difference: null };
  } finally {
    await closeClients();
    await app?.close();
  }
}

/** DELETE /platforms/NAME on the replay's server (the session deleted it); already gone is fine. */
async function deletePlatform(wsBase: string, name: string, token: string | undefined): Promise<void> {
  const http = wsBase.replace(/^ws/, 'http');
  const res = await fetch(`${http}/platforms/${encodeURIComponent(name)}`, { method: 'DELETE', ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  await res.arrayBuffer().catch(() => undefined);
  if (res.status !== 200 && res.status !== 404) throw new Error(`DELETE /platforms/${name} answered HTTP ${res.status}`);
}

async function rawCall(client: SmashEmuClient, method: string, params: unknown): Promise<{ result: unknown } | { error: unknown }> {
  try {
    const result = await (client.call as unknown as (m: string, p: unknown) => Promise<unknown>).call(client, method, params);
    return { result: result ?? null };
  } catch (err) {
    if (!(err instanceof RpcCallError)) throw err;
    return { error: err.data === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, data: err.data } };
  }
}

/**
 * emu.deletePlatform's `closedConnections` counts the connections open on the
 * platform, which the recording does not hold (the replay opens one per platform):
 * not compared.
 */
function sameConnections(method: string, expected: { result?: unknown }, actual: { result?: unknown } | { error: unknown }): void {
  if (method !== 'emu.deletePlatform' || !('result' in actual)) return;
  const e = expected.result as Record<string, unknown> | undefined;
  const a = actual.result as Record<string, unknown> | null;
  if (e !== undefined && e !== null && a !== null && typeof a === 'object' && 'closedConnections' in e && 'closedConnections' in a) a['closedConnections'] = e['closedConnections'];
}

/** Records recorded id -> replayed id where a result's id differs only by value. */
function learnIds(expected: unknown, actual: unknown, ids: Map<string, string>): void {
  if (expected === null || actual === null || typeof expected !== 'object' || typeof actual !== 'object') return;
  for (const [key, value] of Object.entries(expected)) {
    const other = (actual as Record<string, unknown>)[key];
    if ((MAPPED_IDS as readonly string[]).includes(key) && typeof value === 'string' && typeof other === 'string') ids.set(value, other);
    else learnIds(value, other, ids);
  }
}

/** `value` with every mapped id (under a MAPPED_IDS key) replaced by the replay's. */
function substitute(value: unknown, ids: Map<string, string>): unknown {
  if (ids.size === 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => substitute(v, ids));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = (MAPPED_IDS as readonly string[]).includes(key) && typeof v === 'string' ? (ids.get(v) ?? v) : substitute(v, ids);
  }
  return out;
}

export function parseReplayArgs(argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, REPLAY_FLAGS);
}

export async function replayCommand(parsed: ParsedArgs, env: Env): Promise<ExitCode> {
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || file === '') throw usageError('replay needs a recording FILE, e.g. smash-emu replay session.jsonl');
  if (extra.length > 0) throw usageError(`replay takes one FILE, got ${1 + extra.length} arguments`);
  const url = pick(parsed, env, 'url');
  const token = pick(parsed, env, 'token');
  let steps: Step[];
  try {
    steps = readRecording(readFileSync(file, 'utf8'));
  } catch (err) {
    throw usageError(`${file}: ${(err as Error).message}`);
  }
  let report: ReplayReport;
  try {
    report = await replay(steps, url === undefined ? undefined : nonEmpty(url), token === undefined ? undefined : nonEmpty(token));
  } catch (err) {
    throw failure(`replay of ${file} failed: ${(err as Error).message}`);
  }
  const d = report.difference;
  if (d === null) {
    process.stdout.write(`replayed ${report.calls} call${report.calls === 1 ? '' : 's'} on ${report.platforms} platform${report.platforms === 1 ? '' : 's'} from ${file}: identical\n`);
    return EXIT.OK;
  }
  const json = (v: unknown) => JSON.stringify(v);
  process.stdout.write(
    [
      `first difference: ${file} line ${d.line}, call ${report.calls}, platform ${d.platform === '' ? '/' : `/platforms/${d.platform}`}`,
      `  method:   ${d.method}`,
      `  params:   ${json(d.params)}`,
      `  expected: ${json(d.expected)}`,
      `  actual:   ${json(d.actual)}`,
      '',
    ].join('\n'),
  );
  return EXIT.FAILURE;
}
