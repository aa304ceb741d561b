/**
 * The recording format (JSON Lines) that `serve --record` and emu.record write and
 * `smash-emu replay` reads: its schema, so a replay of a damaged or foreign file
 * says which line and which key is wrong.
 */
import * as z from 'zod';
import { formatPath, toWireIssues } from './issues.js';

export const RECORD_FORMAT = 'smash-emu-record';
export const RECORD_VERSION = 1;

/** `scenario`: the document every platform of the server is built from (what a plain emu.reset rebuilds); absent in older recordings (the default). */
const header = z.strictObject({
  type: z.literal('header'),
  format: z.literal(RECORD_FORMAT),
  version: z.literal(RECORD_VERSION),
  smashEmu: z.string(),
  scenario: z.record(z.string(), z.unknown()).exactOptional(),
});
/**
 * A platform's state before its first recorded call. `after`: the calls the process
 * had started when it was written (the line goes after call `after` and before call
 * `after + 1`); absent in older recordings (before every call).
 */
const platform = z.strictObject({ type: z.literal('platform'), platform: z.string(), atNs: z.int().min(0), after: z.int().min(0).exactOptional(), state: z.record(z.string(), z.unknown()) });
/** The platform was deleted (emu.deletePlatform, HTTP DELETE, idle expiry) after call `after`. */
const deleted = z.strictObject({ type: z.literal('delete'), platform: z.string(), after: z.int().min(0) });
const call = z.strictObject({
  type: z.literal('call'),
  order: z.int().min(1),
  platform: z.string(),
  connection: z.int(),
  method: z.string(),
  params: z.unknown(),
  atNs: z.int().min(0),
  endNs: z.int().min(0),
  result: z.unknown().exactOptional(),
  error: z.looseObject({ code: z.int(), message: z.string(), data: z.unknown().exactOptional() }).exactOptional(),
});

export const recordLine = z.discriminatedUnion('type', [header, platform, deleted, call]);
export type RecordLine = z.output<typeof recordLine>;
export type RecordedHeader = z.output<typeof header>;
export type RecordedDelete = z.output<typeof deleted>;
export type RecordedCall = z.output<typeof call>;
export type RecordedPlatform = z.output<typeof platform>;

/** Parses one line (1-based `lineNo` for messages); throws Error naming the line and the key. */
export function parseRecordLine(text: string, lineNo: number): RecordLine {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`line ${lineNo}: not JSON (${(e as Error).message})`);
  }
  const r = recordLine.safeParse(doc);
  if (r.success) return r.data;
  const issues = toWireIssues(r.error.issues).map((i) => `${formatPath('', i.path)}: ${i.message}`);
  throw new Error(`line ${lineNo}: not a recording line (${issues.join('; ')})`);
}
