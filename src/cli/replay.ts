/**
 * `smash-emu replay FILE [--url URL] [--token TOKEN]`: runs a recording (`serve
 * --record`, `emu.record`) again and reports the first result that differs. Each
 * platform is first loaded with the state it had when its recording started
 * (emu.loadState), then the calls run one at a time in the order they started, each
 * on its own platform. Without --url it starts a server in process on 127.0.0.1:0.
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
import { parseRecordLine, type RecordedCall, type RecordedPlatform } from '../protocol/record-format.js';
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

type Step = { line: number; kind: 'platform'; p: RecordedPlatform } | { line: number; kind: 'call'; c: RecordedCall };

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

/** The recording's steps in replay order: per session (a header starts one), states first, then calls by `order`. */
export function readRecording(text: string): Step[] {
  const steps: Step[] = [];
  let session: Step[] | undefined;
  const flush = () => {
    if (session === undefined) return;
    const platforms = session.filter((s) => s.kind === 'platform');
    const calls = session.filter((s): s is Extract<Step, { kind: 'call' }> => s.kind === 'call').sort((a, b) => a.c.order - b.c.order);
    steps.push(...platforms, ...calls);
  };
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const line = parseRecordLine(raw, i + 1);
    if (line.type === 'header') {
      flush();
      session = [];
      return;
    }
    if (session === undefined) throw new Error(`line ${i + 1}: a recording starts with its header line`);
    session.push(line.type === 'platform' ? { line: i + 1, kind: 'platform', p: line } : { line: i + 1, kind: 'call', c: line });
  });
  flush();
  if (session === undefined) throw new Error('no header line: not a smash-emu recording');
  return steps;
}

export async function replay(steps: Step[], url: string | undefined, token: string | undefined): Promise<ReplayReport> {
  let app: RunningApp | undefined;
  const clients = new Map<string, SmashEmuClient>();
  const ids = new Map<string, string>();
  try {
    if (url === undefined) app = await startApp({ server: { host: '127.0.0.1', port: 0, pingMs: 0 }, scenario: DEFAULT_SCENARIO });
    const base = (url ?? (app as RunningApp).url).replace(/\/+$/, '');
    const client = async (platform: string) => {
      let c = clients.get(platform);
      if (c === undefined) {
        c = await SmashEmuClient.connect(`${base}${platform === '' ? '/' : `/platforms/${platform}`}`, { timeoutMs: 120_000, ...(token !== undefined ? { token } : {}) });
        clients.set(platform, c);
      }
      return c;
    };
    let calls = 0;
    for (const step of steps) {
      if (step.kind === 'platform') {
        await (await client(step.p.platform)).call('emu.loadState', { state: step.p.state });
        continue;
      }
      const c = step.c;
      const params = substitute(c.params, ids);
      const actual = await rawCall(await client(c.platform), c.method, params);
      const expected = c.error !== undefined ? { error: c.error } : { result: c.result };
      calls++;
      learnIds(expected, actual, ids);
      if (!isDeepStrictEqual(substitute(expected, ids), actual)) {
        return { calls, platforms: clients.size, difference: { line: step.line, platform: c.platform, method: c.method, params, expected, actual } };
      }
    }
    return { calls, platforms: clients.size, difference: null };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
    await app?.close();
  }
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
