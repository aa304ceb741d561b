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
  private readonly entries: JournalEntry[] = [];
  private dropped = 0;
  private lastSeq = 0;

  constructor(private readonly capacity = JOURNAL_ENTRIES) {}

  add(call: TappedCall): void {
    const entry: JournalEntry = { seq: call.seq, method: call.method, params: keptParams(call.params), connectionId: call.connectionId, atNs: call.atNs, endNs: call.endNs, ok: !call.failed };
    if (call.failed) {
      const e = errorToRpc(call.error);
      entry.error = { code: e.code, message: e.message };
    }
    // Answered out of start order (an async call finishing after a later sync one): keep seq order.
    let at = this.entries.length;
    while (at > 0 && (this.entries[at - 1] as JournalEntry).seq > entry.seq) at--;
    this.entries.splice(at, 0, entry);
    if (entry.seq > this.lastSeq) this.lastSeq = entry.seq;
    if (this.entries.length > this.capacity) {
      this.entries.shift();
      this.dropped++;
    }
  }

  find(q: { method?: string; since?: number; max?: number }): { entries: JournalEntry[]; lastSeq: number; dropped: number } {
    const since = q.since ?? 0;
    const found = this.entries.filter((e) => e.seq > since && (q.method === undefined || e.method === q.method));
    return { entries: q.max === undefined ? found : found.slice(0, q.max), lastSeq: this.lastSeq, dropped: this.dropped };
  }

  count(q: { method: string; params?: Record<string, unknown>; since?: number }): { count: number; lastSeq: number } {
    const since = q.since ?? 0;
    let count = 0;
    for (const e of this.entries) {
      if (e.seq > since && e.method === q.method && (q.params === undefined || contains(e.params ?? {}, q.params))) count++;
    }
    return { count, lastSeq: this.lastSeq };
  }
}

function keptParams(params: Record<string, unknown> | undefined): unknown {
  if (params === undefined) return {};
  const text = JSON.stringify(params);
  return text.length <= JOURNAL_PARAMS_CHARS ? params : { truncated: true, bytes: Buffer.byteLength(text) };
}

const HEX = /^0x[0-9a-f]+$/i;

/** Whether `actual` has every key of `expected` with an equal value (journal.count's subset match). */
export function contains(actual: unknown, expected: unknown): boolean {
  if (typeof expected === 'string' && typeof actual === 'string' && HEX.test(expected) && HEX.test(actual)) return BigInt(expected) === BigInt(actual);
  if (expected === null || typeof expected !== 'object') return Object.is(actual, expected);
  if (actual === null || typeof actual !== 'object') return false;
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((v, i) => contains(actual[i], v));
  }
  if (Array.isArray(actual)) return false;
  return Object.entries(expected).every(([k, v]) => Object.hasOwn(actual, k) && contains((actual as Record<string, unknown>)[k], v));
}
