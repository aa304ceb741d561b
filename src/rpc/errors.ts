/**
 * JSON-RPC error codes and the mapping of handler throws to error objects.
 * json-rpc-2.0 1.8.1 answers a plain thrown Error with code 0; here every throw
 * becomes a non-zero code.
 */
import type { JSONRPCError } from 'json-rpc-2.0';
import { RpcError } from './method-table.js';
import { toWire } from './to-wire.js';

/** JSON-RPC 2.0 §5.1. */
export const RPC_ERROR_CODES = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

export const RPC_ERROR_MESSAGES = {
  [RPC_ERROR_CODES.PARSE_ERROR]: 'Parse error',
  [RPC_ERROR_CODES.INVALID_REQUEST]: 'Invalid Request',
  [RPC_ERROR_CODES.METHOD_NOT_FOUND]: 'Method not found',
  [RPC_ERROR_CODES.INVALID_PARAMS]: 'Invalid params',
  [RPC_ERROR_CODES.INTERNAL_ERROR]: 'Internal error',
} as const;

/**
 * EmuError codes (src/util/emu-error.ts) on the wire. Misuse of an argument is
 * -32602 like a schema failure; the emulator-level refusals get their own codes in
 * the -32000..-32099 server range. A code not listed here is -32603.
 *
 * | EmuError code          | JSON-RPC |
 * |------------------------|----------|
 * | EMU_INVALID_ARGUMENT   | -32602   |
 * | EMU_OUT_OF_RANGE       | -32602   |
 * | EMU_MISALIGNED         | -32602   |
 * | EMU_BAD_DOCUMENT       | -32602   |
 * | EMU_NOT_FOUND          | -32001   |
 * | EMU_WRONG_MODE         | -32002   |
 * | EMU_LIMIT              | -32003   |
 * | EMU_OUT_OF_MEMORY      | -32004   |
 * | anything else          | -32603   |
 */
export const EMU_ERROR_RPC_CODES: Readonly<Record<string, number>> = {
  EMU_INVALID_ARGUMENT: RPC_ERROR_CODES.INVALID_PARAMS,
  EMU_OUT_OF_RANGE: RPC_ERROR_CODES.INVALID_PARAMS,
  EMU_MISALIGNED: RPC_ERROR_CODES.INVALID_PARAMS,
  EMU_BAD_DOCUMENT: RPC_ERROR_CODES.INVALID_PARAMS,
  EMU_NOT_FOUND: -32001,
  EMU_WRONG_MODE: -32002,
  EMU_LIMIT: -32003,
  EMU_OUT_OF_MEMORY: -32004,
};

export function rpcErrorObject(code: number, message?: string, data?: unknown): JSONRPCError {
  const error: JSONRPCError = { code, message: message ?? RPC_ERROR_MESSAGES[code as keyof typeof RPC_ERROR_MESSAGES] ?? 'Error' };
  if (data === undefined) return error;
  try {
    error.data = toWire(data);
  } catch {
    // Circular data: the code and message still say what went wrong.
  }
  return error;
}

/**
 * Maps anything a handler throws to an error object. Duck-typed on `code` rather
 * than `instanceof EmuError`, so an EmuError from a second copy of the module (or a
 * plain object with the same shape) maps the same way.
 */
export function errorToRpc(err: unknown): JSONRPCError {
  if (err instanceof RpcError || isCodedError(err, 'number')) {
    const { code, message, data } = err as { code: number; message: unknown; data?: unknown };
    if (Number.isInteger(code) && code !== 0) {
      return rpcErrorObject(code, typeof message === 'string' ? message : undefined, data);
    }
    return internalError(err);
  }
  if (isCodedError(err, 'string') && (err as { code: string }).code.startsWith('EMU_')) {
    const { code: emuCode, message, detail } = err as { code: string; message?: unknown; detail?: unknown };
    const code = EMU_ERROR_RPC_CODES[emuCode];
    if (code === undefined) return rpcErrorObject(RPC_ERROR_CODES.INTERNAL_ERROR, undefined, { code: emuCode, message });
    const text = typeof message === 'string' && message !== '' ? message : RPC_ERROR_MESSAGES[RPC_ERROR_CODES.INTERNAL_ERROR];
    const data: Record<string, unknown> = { code: emuCode };
    if (code === RPC_ERROR_CODES.INVALID_PARAMS) {
      // The same `issues` shape a schema failure carries (protocol/README.md §3).
      const path = isObject(detail) && Array.isArray(detail.path) ? detail.path : [];
      data.issues = [{ path, message: text }];
    }
    if (isObject(detail)) data.detail = detail;
    return rpcErrorObject(code, text, data);
  }
  return internalError(err);
}

function internalError(err: unknown): JSONRPCError {
  // The message helps a client developer; nothing on this server is secret from its clients.
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : undefined;
  return rpcErrorObject(RPC_ERROR_CODES.INTERNAL_ERROR, undefined, message === undefined ? undefined : { message });
}

function isCodedError(err: unknown, codeType: 'number' | 'string'): boolean {
  return isObject(err) && typeof err.code === codeType;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
