/**
 * `smash-emu watch [--topics LIST] [--url URL]`: subscribes to a running server's
 * events and prints one readable line per event (watch-format.ts) until Ctrl-C
 * (SIGINT) or SIGTERM, then unsubscribes and exits 0. A status line goes to stderr
 * when it is watching, so stdout holds events only. It reads no faster than stdout
 * is read (see watch()).
 */
import { EVENT_TOPICS, type EventTopic } from '../observe/event-bus.js';
import type { FlagSpec, ParsedArgs } from './args.js';
import { parseArgs } from './args.js';
import { EXIT, failure, usageError } from './cli-error.js';
import type { ExitCode } from './cli-error.js';
import type { Env } from './flag-values.js';
import { pickList } from './flag-values.js';
import { CONNECT_FLAGS, connect, resolveConnectOptions, type ConnectOptions } from './connect.js';
import { formatEvent } from './watch-format.js';

export const WATCH_FLAGS: readonly FlagSpec[] = [...CONNECT_FLAGS, { name: 'topics', value: 'LIST', help: `topics, comma-separated: ${EVENT_TOPICS.join(', ')}`, defaultText: 'all', repeatable: true }];

export interface WatchOptions extends ConnectOptions {
  topics: EventTopic[];
}

export function parseWatchArgs(argv: readonly string[]): ParsedArgs {
  return parseArgs(argv, WATCH_FLAGS);
}

export function resolveWatchOptions(parsed: ParsedArgs, env: Env): WatchOptions {
  if (parsed.positionals.length > 0) throw usageError(`watch takes no arguments, got ${JSON.stringify(parsed.positionals[0])}; choose topics with --topics`);
  return { ...resolveConnectOptions(parsed, env), topics: topicList(pickList(parsed, env, 'topics')) };
}

export function topicList(list: { items: string[]; source: string } | undefined): EventTopic[] {
  if (list === undefined) return [...EVENT_TOPICS];
  const topics: EventTopic[] = [];
  for (const item of list.items) {
    if (!(EVENT_TOPICS as readonly string[]).includes(item)) throw usageError(`${list.source}: unknown topic ${JSON.stringify(item)}; topics: ${EVENT_TOPICS.join(', ')}`);
    if (!topics.includes(item as EventTopic)) topics.push(item as EventTopic);
  }
  return topics;
}

/** Resolves when SIGINT or SIGTERM arrives (the handlers are removed then). */
export function untilSignal(): { signalled: Promise<string>; cancel: () => void } {
  let cancel = () => {};
  const signalled = new Promise<string>((resolve) => {
    const on = (sig: string) => {
      cancel();
      resolve(sig);
    };
    const int = () => on('SIGINT');
    const term = () => on('SIGTERM');
    process.once('SIGINT', int);
    process.once('SIGTERM', term);
    cancel = () => {
      process.off('SIGINT', int);
      process.off('SIGTERM', term);
    };
  });
  return { signalled, cancel };
}

/**
 * Stdout backpressure: when stdout cannot take more (a pipe into a paused `less`),
 * the socket is paused until it drains, so events wait in bounded buffers (the
 * kernel's, then the server's, which cuts off a reader that stays behind with 1008)
 * instead of piling up in this process. A reader that went away (EPIPE: `| head`)
 * ends the watch quietly.
 */
export async function watch(opts: WatchOptions, out: NodeJS.WritableStream = process.stdout): Promise<ExitCode> {
  const client = await connect(opts);
  const stop = untilSignal();
  let readerGone: () => void = () => {};
  const gone = new Promise<null>((resolve) => (readerGone = () => resolve(null)));
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') readerGone();
    else process.stderr.write(`smash-emu watch: cannot write the events: ${err.message}\n`);
  };
  out.on('error', onError);
  try {
    await client.subscribe(opts.topics, (n) => {
      if (out.write(`${formatEvent(n.topic, n.atNs, n.data)}\n`) || client.paused) return;
      client.pause();
      out.once('drain', () => client.resume());
    });
    process.stderr.write(`smash-emu watch: watching ${opts.topics.join(', ')} on ${opts.url}; Ctrl-C to stop\n`);
    const ended = await Promise.race([stop.signalled.then(() => null), gone, client.closed]);
    if (ended !== null) {
      const why = ended.code === 1008 ? '; the events were not read fast enough (stdout was not read), and the server does not keep them' : '';
      throw failure(`the server closed the connection (${ended.code}${ended.reason === '' ? '' : ` ${ended.reason}`})${why}`);
    }
    return EXIT.OK;
  } finally {
    stop.cancel();
    out.off('error', onError);
    client.resume();
    await client.close();
  }
}
