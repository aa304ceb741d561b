/**
 * The calls a platform has answered, seen from the wire: journal.* (WireMock-style
 * request verification for a test harness) and emu.record (record the calls and
 * their results as JSON Lines for `smash-emu replay`). Neither can be a fault
 * target, and neither is journaled or recorded itself.
 */
import * as z from 'zod';
import { method, nowNsOut } from './method-spec.js';
import { err, intRange } from './wire.js';

/** Entries a platform's journal keeps: the oldest is dropped past it. */
export const JOURNAL_ENTRIES = 1000;
/** Params longer than this (as JSON) are kept as {truncated: true, bytes}. */
export const JOURNAL_PARAMS_CHARS = 4096;

/** A "0x..." string in a journal.count filter may be at most this long: hex input's own limit (wire.ts). */
const FILTER_HEX_MAX_CHARS = 2 + 64;

/**
 * journal.count's params filter: any JSON object, except that a "0x..." string in it
 * longer than any hex input the server accepts is refused (it could only match a
 * call that was itself refused, and comparing it by value is not free).
 */
const paramsFilter = z.record(z.string(), z.unknown()).superRefine((filter, ctx) => {
  const stack: Array<{ v: unknown; path: Array<string | number> }> = [{ v: filter, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: Array<string | number> };
    if (typeof v === 'string') {
      if (v.length > FILTER_HEX_MAX_CHARS && (v.startsWith('0x') || v.startsWith('0X'))) {
        ctx.addIssue({ code: 'custom', path, message: `a hex value has at most 64 digits after "0x" (an address at most 16); this one has ${v.length - 2}` });
        return;
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: [...path, i] }));
    } else if (typeof v === 'object' && v !== null) {
      for (const k of Object.keys(v)) stack.push({ v: (v as Record<string, unknown>)[k], path: [...path, k] });
    }
  }
});

const methodName = z.string(err('must be a method name string')).min(1).max(128).describe('a method name, e.g. "tmpm.psmashIo"');

const journalEntry = z.looseObject({
  seq: z.int().min(1).describe('1, 2, ... per platform, in the order calls started'),
  method: z.string(),
  params: z.unknown().describe('the params as sent (absent = {}); over 4096 characters of JSON: {truncated: true, bytes}'),
  connectionId: z.int().describe('the connection that called (unique per server, from 1)'),
  atNs: nowNsOut.describe('virtual time when the call started'),
  endNs: nowNsOut.describe('virtual time when it was answered'),
  ok: z.boolean().describe('true when answered with a result (emulated failures, e.g. a firmware status, are results)'),
  error: z.looseObject({ code: z.int(), message: z.string() }).exactOptional().describe('the JSON-RPC error it was answered with'),
});

export const SESSION_METHODS = {
  'session.attach': method({
    summary: 'Line transport: move this connection to a named platform',
    description:
      'For the line transport (serve --unix PATH) only, where there is no path: as the first frame of a connection, sent alone (not in a batch), it moves the connection from the default platform to the platform NAME, created from the server\'s scenario if new and counted against --max-platforms, as a WebSocket to /platforms/NAME would. Later calls on the connection go to that platform. Errors: a name that is not [A-Za-z0-9_.-]{1,64} (or is "." or ".."), -32602; a new platform beyond --max-platforms, -32003 (data.limit "maxPlatforms"); not the first frame, in a batch, or on a WebSocket, -32002. A refused attach leaves the connection on the default platform. Neither journaled nor recorded, and not a fault target.',
    params: z.strictObject({
      platform: z
        .string(err('must be a platform name string'))
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters [A-Za-z0-9_.-]')
        .refine((n) => n !== '.' && n !== '..', 'must not be "." or ".."')
        .describe('the platform name, as NAME in the WebSocket path /platforms/NAME'),
    }),
    result: z.looseObject({
      ok: z.literal(true),
      platform: z.string().describe('the platform this connection now drives'),
    }),
  }),

  'journal.find': method({
    summary: 'The calls this platform answered, oldest first',
    description: `Every call on this platform (any connection) is journaled when answered, in the order calls started, except journal.* and emu.record. The journal keeps the last ${JOURNAL_ENTRIES} entries per platform (\`dropped\` counts the older ones lost); emu.reset, emu.revert and emu.loadState do not clear it.`,
    params: z.strictObject({
      method: methodName.exactOptional().describe('only calls of this method'),
      since: z.int(err('must be a journal seq (an integer >= 0)')).min(0).exactOptional().describe('only entries with seq > since (the `lastSeq` of an earlier answer)'),
      max: intRange(1, JOURNAL_ENTRIES).exactOptional().describe(`at most this many (the oldest first); default all (${JOURNAL_ENTRIES})`),
    }),
    result: z.looseObject({
      entries: z.array(journalEntry),
      lastSeq: z.int().min(0).describe('the seq of the newest call journaled so far (0 before any)'),
      dropped: z.int().min(0).describe(`entries dropped because the journal holds ${JOURNAL_ENTRIES}`),
    }),
  }),

  'journal.count': method({
    summary: 'How many journaled calls match a method and params',
    description:
      'Counts journal entries of `method` whose params contain `params`: every key given must be present with an equal value (objects compared the same way, recursively; arrays element by element; "0x..." strings by value, so "0x200000" matches "0x0200000"). Keys not given are not compared. Only entries still in the journal count (see journal.find).',
    params: z.strictObject({
      method: methodName,
      params: paramsFilter.exactOptional().describe('a subset of the params to match; absent = any params. A "0x..." string longer than 66 characters is -32602'),
      since: z.int(err('must be a journal seq (an integer >= 0)')).min(0).exactOptional().describe('only entries with seq > since'),
    }),
    result: z.looseObject({ count: z.int().min(0), lastSeq: z.int().min(0) }),
  }),

  'emu.record': method({
    summary: "Start or stop recording this platform's calls to a file on the server",
    description:
      'Refused (-32002) unless the server was started with --record-dir DIR: a name a client sends is a file the server writes, so only a bare file name inside that directory is accepted ([A-Za-z0-9_.-]{1,64}, not "." or ".."), and it is appended to. `file` starts recording (any recording of this platform by emu.record stops first); `file: null` stops it. The file is JSON Lines: a header, then this platform\'s state when recording starts, then one line per call with its result; `smash-emu replay FILE` replays it.',
    params: z.strictObject({
      file: z
        .union([
          z
            .string(err('must be a file name string or null'))
            .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a bare file name of 1-64 characters [A-Za-z0-9_.-]; fix: no directories, the server writes it inside its --record-dir'),
          z.null(),
        ])
        .refine((f) => f !== '.' && f !== '..', 'must not be "." or ".."')
        .describe("file name inside the server's --record-dir, or null to stop"),
    }),
    result: z.looseObject({
      recording: z.boolean(),
      file: z.string().nullable().describe('the file name recorded to (null when stopped)'),
      calls: z.int().min(0).describe('calls written so far (when stopping: in total)'),
    }),
  }),
} as const;
