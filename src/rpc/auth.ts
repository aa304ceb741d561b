/**
 * Who may talk to the server (DESIGN.md "Reliability and security"): the token,
 * when one is set, and browser origins. Both are checked before a WebSocket upgrade
 * is accepted; the token also guards HTTP except /healthz.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The request target split without normalising dot segments, so '/platforms/..' is not '/'. */
export interface RequestTarget {
  pathname: string;
  query: URLSearchParams;
}

export function parseTarget(url: string | undefined): RequestTarget {
  const text = url ?? '';
  const q = text.indexOf('?');
  return q < 0 ? { pathname: text, query: new URLSearchParams() } : { pathname: text.slice(0, q), query: new URLSearchParams(text.slice(q + 1)) };
}

/** True when no token is set, or the request carries it as a bearer token or `?token=`. */
export function hasToken(req: IncomingMessage, target: RequestTarget, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match?.[1] !== undefined && sameSecret(match[1], token)) return true;
  const query = target.query.get('token');
  return query !== null && sameSecret(query, token);
}

/**
 * Browsers always send Origin on a WebSocket upgrade; other clients usually do not.
 * Refusing unlisted origins stops a web page from driving a local emulator.
 */
export function originAllowed(req: IncomingMessage, allowOrigin: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return allowOrigin.some((allowed) => allowed === '*' || allowed.toLowerCase() === origin.toLowerCase());
}

/** Compares digests, so the time taken says nothing about the token, not even its length. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
