/**
 * The server: one node:http server, WebSocket upgrades on the same port, each upgrade
 * path picking a platform (protocol/README.md §1.1, §1.3-1.6). Upgrade checks run in
 * this order, first failure wins: token (401), Origin (403), path (404), server
 * closing or platform limit (503), platform creation failed (500).
 */
import { STATUS_CODES, createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { hasToken, parseTarget, refusedSource } from './auth.js';
import { CLOSE_CODES, Connection } from './connection.js';
import { WsLink } from './frame-link.js';
import { LineLink } from './line-link.js';
import { listenUnix, type UnixListener } from './unix-listener.js';
import type { Socket } from 'node:net';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import type { PlatformHost } from './method-table.js';
import { answerInternalError, handleHttp } from './http.js';
import type { ServerHooks } from './method-table.js';
import { RpcMetrics } from '../observe/expose/metrics.js';
import { resolveServerOptions } from './options.js';
import type { ServerOptionsInput } from './options.js';
import { PlatformRegistry, platformNameFromPath } from './platforms.js';

export interface RunningServer {
  /** ws://HOST:PORT with the port actually bound. */
  url: string;
  /** The line transport's socket path (unixPath), when one is served. */
  unixPath?: string;
  port: number;
  host: string;
  /**
   * Closes every client with `code` (default 1001, going away), stops pings,
   * disposes every platform once its clients are gone, and closes the HTTP server.
   * Calling it again returns the same promise.
   */
  close(code?: number): Promise<void>;
  /** Platforms created so far, in creation order; '' is the default platform. */
  platforms(): string[];
  /** Open connections on the platform `name`. */
  connectionCount(name: string): number;
  /**
   * Takes the platform `name` off its path: the next connection there gets a new
   * one. Its connections are closed with 1001 "platform deleted" (the one with id
   * `exceptConnection` after its current response, without waiting), then its host
   * is disposed and its metrics dropped. Resolves with how many were closed.
   */
  dropPlatform(name: string, exceptConnection?: number): Promise<number>;
}

export async function startServer(input: ServerOptionsInput, hooks: ServerHooks): Promise<RunningServer> {
  const opts = resolveServerOptions(input);
  const metrics = new RpcMetrics();
  const platforms = new PlatformRegistry((name) => hooks.createPlatform(name), opts.maxPlatforms);
  const connections = new Set<Connection>();
  // perMessageDeflate is ws 8's default for servers too; said here because compressing
  // small JSON frames costs more CPU than it saves on loopback (README.md "Performance"). ws sets
  // TCP_NODELAY on every socket itself.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes, clientTracking: false, perMessageDeflate: false });
  let nextConnectionId = 1;
  let closing: Promise<void> | undefined;

  // handleHttp answers its own failures with 500; this catch is for a bug in that.
  const http = createServer((req, res) => {
    handleHttp(req, res, { opts, hooks, metrics }).catch((err: unknown) => answerInternalError(res, opts, `${req.method ?? '?'} ${parseTarget(req.url).pathname}`, err));
  });

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      upgrade(req, socket, head);
    } catch (err) {
      // A throw here would reach the process's uncaughtException and end the server.
      opts.onInternalError(`upgrade ${parseTarget(req.url).pathname}`, err);
      if (socket.writable) refuse(socket, 500, 'internal error; the server logged it');
      else socket.destroy();
    }
  });

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = parseTarget(req.url);
    if (!hasToken(req, target, opts.token)) {
      return refuse(socket, 401, 'a token is required: send "Authorization: Bearer TOKEN" or add ?token=TOKEN', { 'WWW-Authenticate': 'Bearer' });
    }
    const refused = refusedSource(req, opts);
    if (refused !== undefined) return refuse(socket, 403, refused);
    const name = platformNameFromPath(target.pathname);
    if (name === undefined) {
      return refuse(socket, 404, `no such path: ${target.pathname}; connect to / or /platforms/NAME with NAME of 1-64 characters [A-Za-z0-9_.-]`);
    }
    if (closing !== undefined) return refuse(socket, 503, 'the server is shutting down');
    const lookup = platforms.lookup(name);
    if (lookup.ok) lookup.host.touch?.();
    if (!lookup.ok) {
      if (lookup.status === 500) opts.onInternalError(`createPlatform ${name}`, lookup.reason);
      return refuse(socket, lookup.status, lookup.reason);
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (closing !== undefined) {
        ws.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
        return;
      }
      let connection: Connection;
      try {
        connection = new Connection(new WsLink(ws), nextConnectionId++, name, lookup.host, opts, metrics, socket);
      } catch (err) {
        opts.onInternalError(`connection ${target.pathname}`, err);
        ws.close(CLOSE_CODES.INTERNAL_ERROR, 'internal error');
        return;
      }
      track(connection);
    });
  }

  function track(connection: Connection): void {
    connections.add(connection);
    void connection.closed.then(() => {
      connections.delete(connection);
      connection.host.touch?.();
    });
  }

  /** session.attach: the platform NAME for a line-transport connection, created if new (the checks of a WebSocket upgrade to /platforms/NAME). */
  function attachHost(name: string): PlatformHost {
    if (platformNameFromPath(`/platforms/${name}`) === undefined) {
      throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, 'platform must be 1-64 characters [A-Za-z0-9_.-], not "." or ".."', { path: ['platform'] });
    }
    if (closing !== undefined) throw new EmuError(ERROR_CODES.WRONG_MODE, 'the server is shutting down');
    const lookup = platforms.lookup(name);
    if (!lookup.ok) {
      if (lookup.status === 500) throw new Error(lookup.reason);
      throw new EmuError(ERROR_CODES.LIMIT, lookup.reason, { limit: 'maxPlatforms', maxPlatforms: opts.maxPlatforms });
    }
    lookup.host.touch?.();
    return lookup.host;
  }

  /** A line-transport client: it starts on the default platform, like a WebSocket on '/'. */
  function acceptLine(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    const lookup = platforms.lookup('');
    if (!lookup.ok) {
      opts.onInternalError('createPlatform ""', lookup.reason);
      socket.destroy();
      return;
    }
    lookup.host.touch?.();
    track(new Connection(new LineLink(socket, opts.maxFrameBytes), nextConnectionId++, '', lookup.host, opts, metrics, socket, attachHost));
  }

  const pingTimer =
    opts.pingMs > 0
      ? setInterval(() => {
          for (const connection of connections) connection.heartbeat();
        }, opts.pingMs)
      : undefined;
  pingTimer?.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  // After listen, a server error (e.g. EMFILE on accept) must not crash the process.
  http.on('error', (err) => opts.onInternalError('http server', err));
  let unix: UnixListener | undefined;
  if (opts.unixPath !== undefined) {
    try {
      unix = await listenUnix(opts.unixPath, acceptLine, (err) => opts.onInternalError('unix socket server', err));
    } catch (err) {
      await new Promise<void>((resolve) => http.close(() => resolve()));
      throw err;
    }
  }

  const address = http.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  async function shutDown(code: number): Promise<void> {
    if (pingTimer !== undefined) clearInterval(pingTimer);
    const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
    const unixClosed = unix?.close();
    const open = [...connections];
    for (const connection of open) connection.close(code, 'server shutting down');
    await Promise.all(open.map((connection) => connection.closed));
    platforms.disposeAll((name, err) => opts.onInternalError(`dispose platform ${name}`, err));
    wss.close();
    http.closeAllConnections();
    await Promise.all([httpClosed, unixClosed]);
  }

  return {
    url: `ws://${urlHost}:${address.port}`,
    ...(unix !== undefined ? { unixPath: unix.path } : {}),
    port: address.port,
    host: address.address,
    close(code: number = CLOSE_CODES.GOING_AWAY) {
      closing ??= shutDown(code);
      return closing;
    },
    platforms: () => platforms.names(),
    connectionCount: (name) => {
      let n = 0;
      for (const connection of connections) if (connection.platformName === name) n++;
      return n;
    },
    async dropPlatform(name, exceptConnection) {
      const host = platforms.remove(name);
      const mine = [...connections].filter((c) => c.platformName === name && c.id !== exceptConnection);
      for (const connection of mine) connection.close(CLOSE_CODES.GOING_AWAY, 'platform deleted');
      await Promise.all(mine.map((connection) => connection.closed));
      try {
        host?.dispose?.();
      } catch (err) {
        opts.onInternalError(`dispose platform ${name}`, err);
      }
      metrics.forgetPlatform(name);
      return mine.length;
    },
  };
}

/** Answers a refused upgrade with a plain HTTP response and closes the socket. */
function refuse(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: message });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([key, value]) => `${key}: ${value}`),
  ];
  socket.end(lines.join('\r\n') + '\r\n\r\n' + body);
}
