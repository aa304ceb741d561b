/**
 * A platform's call journal (journal.find, journal.count): the last JOURNAL_ENTRIES
 * calls it answered, for a test harness to verify what a VMM sent, as WireMock's
 * request verification does. Params longer than JOURNAL_PARAMS_CHARS of JSON are
 * kept as their size only, so the journal's memory stays bounded whatever clients
 * send (a 16 MiB emu.loadState is not kept).
 */
import { JOURNAL_ENTRIES, JOURNAL_PARAMS_CHARS } from '../protocol/methods-session.js';
import type { TappedCall } from './call-tap.js';
import { errorToRpc } from './errors.js';

export interface JournalEntry {
  seq: number;
  method: string;
  params: unknown;
  connectionId: number;
  atNs: number;
  endNs: number;
  ok: boolean;
  error?: { code: number; message: string };
}

export class CallJournal {
  /** A ring of the last `capacity` entries, in the order calls were answered. */
  private readonly ring: (JournalEntry | undefined)[];
  private next = 0;
  private size = 0;
  private dropped = 0;
  private lastSeq = 0;

  constructor(private readonly capacity = JOURNAL_ENTRIES) {
    this.ring = new Array<JournalEntry | undefined>(capacity).fill(undefined);
  }

  add(call: TappedCall): void {
    const entry: JournalEntry = { seq: call.seq, method: call.method, params: keptParams(call.params), connectionId: call.connectionId, atNs: call.atNs, endNs: call.endNs, ok: !call.failed };
    if (call.failed) {
      const e = errorToRpc(call.error);
      entry.error = { code: e.code, message: e.message };
    }
    if (this.size === this.capacity) this.dropped++;
    else this.size++;
    this.ring[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    if (entry.seq > this.lastSeq) this.lastSeq = entry.seq;
  }

  /** Every entry kept, in seq (call-start) order: an async call may be answered after a later one. */
  private entries(): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.ring[(this.next - this.size + i + this.capacity) % this.capacity] as JournalEntry);
    return out.sort((a, b) => a.seq - b.seq);
  }

  find(q: { method?: string; since?: number; max?: number }): { entries: JournalEntry[]; lastSeq: number; dropped: number } {
    const since = q.since ?? 0;
    const found = this.entries().filter((e) => e.seq > since && (q.method === undefined || e.method === q.method));
    return { entries: q.max === undefined ? found : found.slice(0, q.max), lastSeq: this.lastSeq, dropped: this.dropped };
  }

  count(q: { method: string; params?: Record<string, unknown>; since?: number }): { count: number; lastSeq: number } {
    const since = q.since ?? 0;
    const match = q.params === undefined ? undefined : compileFilter(q.params);
    let count = 0;
    for (const e of this.entries()) {
      if (e.seq > since && e.method === q.method && (match === undefined || match(e.params ?? {}))) count++;
    }
    return { count, lastSeq: this.lastSeq };
  }
}

/**
 * The params to keep: as sent, or {truncated, bytes} past JOURNAL_PARAMS_CHARS of
 * JSON. Flat params of short values (nearly every call) are sized without
 * serialising them: each key and value is over-counted, never under.
 */
function keptParams(params: Record<string, unknown> | undefined): unknown {
  if (params === undefined) return {};
  let estimate = 2;
  for (const key in params) {
    const v = params[key];
    if (typeof v === 'string') estimate += key.length + 6 + 2 * v.length;
    else if (typeof v === 'object' && v !== null) return exactlyKept(params);
    else estimate += key.length + 30;
    if (estimate > JOURNAL_PARAMS_CHARS) return exactlyKept(params);
  }
  return params;
}

function exactlyKept(params: Record<string, unknown>): unknown {
  let text: string;
  try {
    text = JSON.stringify(params);
  } catch {
    // Nested past the stack (a hostile frame): kept as a size we cannot tell.
    return { truncated: true, bytes: null };
  }
  return text.length <= JOURNAL_PARAMS_CHARS ? params : { truncated: true, bytes: Buffer.byteLength(text) };
}

const HEX = /^0x[0-9a-f]+$/i;

/** A hex string's value as a canonical string (lowercase, no prefix, no leading zeros): equal values, equal strings. */
function hexKey(s: string): string {
  let i = 2;
  while (i < s.length - 1 && s.charCodeAt(i) === 0x30) i++;
  return s.slice(i).toLowerCase();
}

type Matcher = (actual: unknown) => boolean;

/**
 * journal.count's filter, compiled once (not re-read for each journal entry): hex
 * strings are reduced to their value once, objects to their key list. Matching an
 * entry then costs at most the entry's own size, however large the filter.
 */
export function compileFilter(expected: unknown): Matcher {
  if (typeof expected === 'string') {
    if (!HEX.test(expected)) return (actual) => actual === expected;
    const key = hexKey(expected);
    return (actual) => typeof actual === 'string' && (actual === expected || (actual.length >= key.length + 2 && HEX.test(actual) && hexKey(actual) === key));
  }
  if (expected === null || typeof expected !== 'object') return (actual) => Object.is(actual, expected);
  if (Array.isArray(expected)) {
    const items = expected.map(compileFilter);
    return (actual) => Array.isArray(actual) && actual.length === items.length && items.every((m, i) => m(actual[i]));
  }
  const keys = Object.keys(expected);
  const values = keys.map((k) => compileFilter((expected as Record<string, unknown>)[k]));
  return (actual) => {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (!Object.hasOwn(actual, k) || !(values[i] as Matcher)((actual as Record<string, unknown>)[k])) return false;
    }
    return true;
  };
}

/** Whether `actual` has every key of `expected` with an equal value (journal.count's subset match). */
export function contains(actual: unknown, expected: unknown): boolean {
  return compileFilter(expected)(actual);
}
