/**
 * Sees every call a platform answers, for the journal and the recorder: wraps each
 * handler of the table so that, when the call is answered (a result or a thrown
 * error), `onCall` gets the method, the params as sent, the outcome and the virtual
 * time it started and ended. The wrapper keeps a handler's synchronous answer
 * synchronous (the transport's fast path).
 */
import type { RpcCallContext, RpcHandler } from './method-table.js';

export interface TappedCall {
  method: string;
  /** As the client sent it (undefined = no params). */
  params: Record<string, unknown> | undefined;
  connectionId: number;
  /** In call-start order, per tap (per platform), from 1. */
  seq: number;
  /** In call-start order across every platform of the process, from 1. */
  order: number;
  atNs: number;
  endNs: number;
  /** The result (domain form: bigints), when answered with one. */
  result: unknown;
  /** What the handler threw, when answered with an error. */
  error: unknown;
  failed: boolean;
}

/** Methods neither journaled nor recorded: reading the journal, steering the recorder or picking the platform (session.attach) is not part of the session. */
export function untapped(method: string): boolean {
  return method.startsWith('journal.') || method === 'emu.record' || method === 'session.attach';
}

let nextOrder = 1;

/** Calls started so far in the process (the `order` of the last one): where a recording places a platform's state or deletion among the calls. */
export function callsStarted(): number {
  return nextOrder - 1;
}

export function tapHandlers(handlers: Map<string, RpcHandler>, nowNs: () => number, onCall: (call: TappedCall) => void): void {
  let seq = 0;
  for (const [method, handler] of handlers) {
    if (untapped(method)) continue;
    handlers.set(method, (params: Record<string, unknown> | undefined, ctx: RpcCallContext) => {
      // One object per call, filled in when answered: an object spread here cost ~15 us a call.
      const call: TappedCall = { method, params, connectionId: ctx.connectionId, seq: ++seq, order: nextOrder++, atNs: nowNs(), endNs: 0, result: undefined, error: undefined, failed: false };
      let out: unknown;
      try {
        out = handler(params, ctx);
      } catch (error) {
        answered(call, nowNs(), error, true, onCall);
        throw error;
      }
      if (typeof out === 'object' && out !== null && typeof (out as { then?: unknown }).then === 'function') {
        return (out as Promise<unknown>).then(
          (result) => {
            answered(call, nowNs(), result, false, onCall);
            return result;
          },
          (error: unknown) => {
            answered(call, nowNs(), error, true, onCall);
            throw error;
          },
        );
      }
      answered(call, nowNs(), out, false, onCall);
      return out;
    });
  }
}

function answered(call: TappedCall, endNs: number, value: unknown, failed: boolean, onCall: (call: TappedCall) => void): void {
  call.endNs = endNs;
  call.failed = failed;
  if (failed) call.error = value;
  else call.result = value;
  try {
    onCall(call);
  } catch {
    // A journal or recorder that cannot take a call (params nested past the stack)
    // must not change the call's answer.
  }
}
