/**
 * `smash-emu trace --out FILE`: records a trace on a running server until Ctrl-C
 * (or --for-ms of wall time), then writes the Chrome/Perfetto trace-event JSON to
 * FILE (open it in https://ui.perfetto.dev or chrome://tracing). `--export` writes
 * the trace the server holds (started with trace.start by a script) without
 * starting a new one.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { RpcCallError } from '../client/smash-emu-client.js';
import { TRACE_TOPICS, type TraceTopic } from '../observe/trace-recorder.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { EXIT, describeFsError, failure, usageError } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { integer, nonEmpty, pick, pickList } from './flag-values.js';
import { CONNECT_FLAGS, connect, resolveConnectOptions, type ConnectOptions } from './connect.js';
import { untilSignal } from './watch.js';

export const TRACE_FLAGS: readonly FlagSpec[] = [
  { name: 'out', value: 'FILE', help: 'where to write the trace (JSON)', defaultText: 'required' },
  { name: 'topics', value: 'LIST', help: `topics to record, comma-separated: ${TRACE_TOPICS.join(', ')}`, defaultText: 'all', repeatable: true },
  { name: 'max-events', value: 'N', help: 'events the server keeps at most (later ones are counted as dropped)', defaultText: '100000' },
  { name: 'bin-ns', value: 'NS', help: 'DMA counter bin, a multiple of 10000 ns', defaultText: '~2000 bins over the trace' },
  { name: 'for-ms', value: 'MS', help: 'stop after this many wall-clock ms instead of at Ctrl-C', defaultText: 'until Ctrl-C' },
  { name: 'export', value: 'yes|no', help: 'only export the trace the server holds now (no trace.start)', defaultText: 'no' },
  ...CONNECT_FLAGS,
];

export interface TraceOptions extends ConnectOptions {
  out: string;
  topics: TraceTopic[] | undefined;
  maxEvents: number | undefined;
  binNs: number | undefined;
  forMs: number | undefined;
  exportOnly: boolean;
}

export function parseTraceArgs(argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, TRACE_FLAGS);
}

export function resolveTraceOptions(parsed: ParsedArgs, env: Env): TraceOptions {
  if (parsed.positionals.length > 0) throw usageError(`trace takes no arguments, got ${JSON.stringify(parsed.positionals[0])}; give the file with --out FILE`);
  const out = pick(parsed, env, 'out');
  if (out === undefined) throw usageError('trace needs --out FILE, e.g. smash-emu trace --out smash.trace.json');
  const list = pickList(parsed, env, 'topics');
  let topics: TraceTopic[] | undefined;
  if (list !== undefined) {
    topics = [];
    for (const item of list.items) {
      if (!(TRACE_TOPICS as readonly string[]).includes(item)) throw usageError(`${list.source}: unknown topic ${JSON.stringify(item)}; topics: ${TRACE_TOPICS.join(', ')}`);
      if (!topics.includes(item as TraceTopic)) topics.push(item as TraceTopic);
    }
  }
  const num = (name: string, min: number) => {
    const raw = pick(parsed, env, name);
    return raw === undefined ? undefined : integer(raw, min);
  };
  const exp = pick(parsed, env, 'export');
  if (exp !== undefined && exp.text !== 'yes' && exp.text !== 'no') throw usageError(`${exp.source} must be yes or no, got ${JSON.stringify(exp.text)}`);
  return {
    ...resolveConnectOptions(parsed, env),
    out: nonEmpty(out),
    topics,
    maxEvents: num('max-events', 1),
    binNs: num('bin-ns', 10_000),
    forMs: num('for-ms', 0),
    exportOnly: exp?.text === 'yes',
  };
}

type Untyped = (method: string, params: unknown) => Promise<any>;

export async function trace(opts: TraceOptions): Promise<ExitCode> {
  const client = await connect(opts);
  const untyped = (client.call as unknown as Untyped).bind(client);
  // A JSON-RPC error (a bad --bin-ns, no trace to --export) is the user's to fix: say it plainly.
  const call = async (method: string, params: unknown) => {
    try {
      return await untyped(method, params);
    } catch (err) {
      if (err instanceof RpcCallError) throw failure(`${method}: error ${err.code}: ${err.message}${err.data === undefined ? '' : ` ${JSON.stringify(err.data)}`}`);
      throw err;
    }
  };
  const stop = untilSignal();
  try {
    if (!opts.exportOnly) {
      const params: Record<string, unknown> = {};
      if (opts.topics !== undefined) params.topics = opts.topics;
      if (opts.maxEvents !== undefined) params.maxEvents = opts.maxEvents;
      if (opts.binNs !== undefined) params.binNs = opts.binNs;
      const started = await call('trace.start', params);
      process.stderr.write(`smash-emu trace: recording ${started.topics.join(', ')} from ${started.startNs} ns; ${opts.forMs === undefined ? 'Ctrl-C' : `${opts.forMs} ms`} to stop\n`);
      const timer = opts.forMs === undefined ? undefined : new Promise<void>((resolve) => setTimeout(resolve, opts.forMs));
      const ended = await Promise.race([stop.signalled.then(() => null), client.closed, ...(timer === undefined ? [] : [timer.then(() => null)])]);
      if (ended !== null) throw failure(`the server closed the connection (${ended.code})`);
      await call('trace.stop', {});
    }
    const exported = await call('trace.export', { format: 'perfetto-json' });
    const tmp = `${opts.out}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, JSON.stringify(exported.trace));
      renameSync(tmp, opts.out);
    } catch (err) {
      throw failure(`cannot write ${opts.out}: ${describeFsError(err)}`);
    }
    process.stderr.write(
      `smash-emu trace: wrote ${opts.out}: ${exported.events} events${exported.dropped > 0 ? ` (${exported.dropped} dropped: raise --max-events)` : ''}; open it in https://ui.perfetto.dev or chrome://tracing\n`,
    );
    return EXIT.OK;
  } finally {
    stop.cancel();
    await client.close();
  }
}
