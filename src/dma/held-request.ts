/**
 * A request waiting on a stall (stall-gate.ts holds them, held-runs.ts replays runs
 * of them): the only per-request object the engine allocates.
 */
import type { ClockEvent } from '../clock/event-queue.js';
import type { DmaCounters } from './dma-stats.js';
import type { DmaStream } from './dma-stream.js';

export interface HeldRequest {
  deviceId: number;
  deviceSlot: number;
  /** null for `issue` requests. */
  stream: DmaStream | null;
  iovaPfn: number;
  pageOff: number;
  write: boolean;
  arrivalNs: number;
  /** Ties in arrivalNs keep arrival order through transfers between stalls. */
  order: number;
  /** Set by `issue` callers; absent after a state load (the caller's promise stays in the old engine). */
  resolve: ((r: DmaIssueResultLike) => void) | null;
  /** Pending timeout event, when this request will time out rather than be released. */
  timeoutEvent: ClockEvent | null;
  /** The timeout it fails at (from the stall that holds it). */
  timeoutNs: number;
  device: DmaCounters;
}

/** Structural copy of DmaIssueResult (kept here so this file does not import the engine). */
export interface DmaIssueResultLike {
  outcome: 'ok' | 'io_page_fault' | 'rmp_fault' | 'timeout' | 'aborted';
  latencyNs: number;
  spa: number | null;
  reason: string;
}
