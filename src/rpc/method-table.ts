/**
 * The contract between the transport (src/rpc) and the methods (src/protocol,
 * src/platform): a per-platform table of handlers that receive raw params and a
 * per-connection context. The transport knows nothing about any method.
 */

export interface RpcCallContext {
  /** '' for the default platform at '/', else NAME of '/platforms/NAME'. */
  platformName: string;
  /** Unique per server, from 1, in accept order. */
  connectionId: number;
  /**
   * Sends a JSON-RPC notification on this connection (used by subscriptions).
   * Bigints in `params` go out as "0x..." strings. Returns false if the connection
   * is gone, or was just cut off because its unread notifications passed
   * `maxBufferedBytes`.
   */
  notify(method: string, params: Record<string, unknown>): boolean;
  /**
   * Registers cleanup to run once when the connection closes (e.g. drop
   * subscriptions). Registered after the close, it runs at once.
   */
  onClose(fn: () => void): void;
  /** Closes the connection (fault injection `close: true`) after the current response is sent. */
  closeAfterResponse(): void;
  /**
   * Aborted when the connection closes: long work for it (clock.advance's chunks,
   * the rest of a batch) stops, since nobody can receive the answer
   * (protocol/README.md §9). Absent for calls that belong to no connection.
   */
  signal?: AbortSignal;
  /**
   * session.attach: moves this connection to the platform NAME (created if new) for
   * its later calls. Throws EmuError: WRONG_MODE on the WebSocket (the path picks
   * the platform) or when it is not the connection's first frame; LIMIT beyond
   * maxPlatforms. Absent for calls that belong to no connection.
   */
  attach?(platform: string): void;
}

/**
 * Thrown by handlers to produce a specific JSON-RPC error. `code` must be a
 * non-zero integer (the transport answers -32603 otherwise).
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/**
 * `params` is the request's by-name params object, or undefined when absent; an
 * array or primitive never reaches a handler (the envelope answers -32602). Handlers
 * validate it themselves and throw RpcError(-32602, 'Invalid params', {issues}).
 */
export type RpcHandler = (params: Record<string, unknown> | undefined, ctx: RpcCallContext) => unknown | Promise<unknown>;

export interface PlatformHost {
  /** The platform's method table. Read on every call, so it may grow later. */
  handlers: Map<string, RpcHandler>;
  /** Called once when the server stops or the platform is deleted, after its connections closed. */
  dispose?(): void;
  /** Called when a connection to the platform opens and when it closes (its "last use", for idle expiry). */
  touch?(): void;
}

export interface ServerHooks {
  /** Called on the first connection to a path; a throw refuses the upgrade with HTTP 500. */
  createPlatform(name: string): PlatformHost;
  /** GET /healthz answers 200 when true, 503 when false or when it throws. */
  healthy(): boolean;
  /** More fields for GET /healthz (version, uptime, platform count). */
  health?(): Record<string, unknown>;
  /** Extra Prometheus text appended to GET /metrics. */
  metricsText?(): Promise<string>;
  /** Served as GET /openrpc.json. */
  openrpcDocument(): unknown;
  /**
   * Pages served over plain GET besides the fixed routes (the dashboard): `public`
   * ones need no token. Return undefined for paths it does not serve.
   */
  page?(pathname: string): { contentType: string; body: Buffer; public: boolean } | undefined;
  /**
   * HTTP DELETE /platforms/NAME: deletes the named platform. Resolves false when
   * there is none (404); throws for a name that may not be deleted (409). Absent:
   * DELETE is refused with 405.
   */
  deletePlatform?(name: string): Promise<boolean>;
}
