/** The transport's public surface: what the CLI, the protocol layer and tests import. */
export { startServer } from './server.js';
export type { RunningServer } from './server.js';
export { DEFAULT_SERVER_OPTIONS, resolveServerOptions } from './options.js';
export type { ServerOptions, ServerOptionsInput } from './options.js';
export { RpcError } from './method-table.js';
export type { PlatformHost, RpcCallContext, RpcHandler, ServerHooks } from './method-table.js';
export { processFrame, DEFAULT_MAX_BATCH } from './envelope.js';
export type { CallRecord, FrameOptions } from './envelope.js';
export { EMU_ERROR_RPC_CODES, RPC_ERROR_CODES, errorToRpc } from './errors.js';
export { CLOSE_CODES } from './connection.js';
export { toWire, bigintToWire } from './to-wire.js';
