/**
 * The Unix-domain socket of the line transport (protocol/README.md §1.9): created
 * with mode 0600 (only the server's user may connect: no token is asked there),
 * removed when the server closes and, as a last resort, when the process exits. A
 * socket file left by a server that died is replaced; a live server's socket, or
 * a path that is not a socket, is refused with a message that says so.
 */
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';

export interface UnixListener {
  /** The socket file's path, as given. */
  path: string;
  /** Stops accepting, and removes the socket file (open connections are the caller's). */
  close(): Promise<void>;
}

/** Linux's sun_path holds 108 bytes, the terminating NUL included. */
const MAX_PATH_BYTES = 107;

export async function listenUnix(path: string, onSocket: (socket: Socket) => void, onError: (err: unknown) => void): Promise<UnixListener> {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `--unix ${path}: a Unix socket path is at most ${MAX_PATH_BYTES} bytes; pick a shorter one`);
  }
  // allowHalfOpen: a client that ends its side after its last line still gets the answers.
  const server = createServer({ allowHalfOpen: true }, onSocket);
  try {
    await bind(server, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw describe(err, path);
    await removeStale(path);
    await bind(server, path).catch((e: unknown) => {
      throw describe(e, path);
    });
  }
  // After listen, an error (EMFILE on accept) must not crash the process.
  server.on('error', onError);
  // Mode 0600 from the start (bind under umask 0177); chmod too, for a process
  // where the umask cannot be changed (a worker thread).
  chmodSync(path, 0o600);
  const ino = lstatSync(path).ino;
  const removeFile = (): void => {
    try {
      // Only our own socket: another server may have taken the path since.
      if (lstatSync(path).ino === ino) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
  process.once('exit', removeFile);
  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        process.off('exit', removeFile);
        server.close(() => {
          removeFile();
          resolve();
        });
        // Node removes a bound socket's file at close; this makes sure it is gone
        // even while connections keep the server open.
        removeFile();
      });
      return closing;
    },
  };
}

function bind(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let restore: number | undefined;
    try {
      restore = process.umask(0o177);
    } catch {
      restore = undefined;
    }
    const done = (err?: Error): void => {
      server.off('error', done);
      server.off('listening', ok);
      if (err !== undefined) reject(err);
      else resolve();
    };
    const ok = (): void => done();
    server.once('error', done);
    server.once('listening', ok);
    try {
      server.listen(path);
    } finally {
      // The bind itself is synchronous: the umask is back before anything else runs.
      if (restore !== undefined) process.umask(restore);
    }
  });
}

/** A socket file nobody listens on is a dead server's: remove it. Anything else stays, and the start is refused. */
async function removeStale(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `--unix ${path}: the path exists and is not a socket; remove it or pick another path`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new EmuError(ERROR_CODES.INVALID_ARGUMENT, `--unix ${path}: another server is listening on that socket; stop it or pick another path`);
  unlinkSync(path);
}

function describe(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EROFS') {
    return new EmuError(ERROR_CODES.INVALID_ARGUMENT, `--unix ${path}: cannot create the socket there (${code}); check that the directory exists and is writable`);
  }
  return err;
}
