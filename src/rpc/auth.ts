/**
 * Who may talk to the server (protocol/README.md §1.6 Token and Origin): the token,
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
  if (sameOriginByAddress(origin, req.headers.host)) return true;
  return allowOrigin.some((allowed) => allowed === '*' || allowed.toLowerCase() === origin.toLowerCase());
}

/**
 * A page this server served (the dashboard) connecting back: Origin is
 * http://HOST where HOST is the Host the request was sent to. Accepted only when
 * that host is an IP address or localhost: a DNS-rebinding page reaches the
 * server under its own domain name, which never qualifies.
 */
function sameOriginByAddress(origin: string, host: string | undefined): boolean {
  if (host === undefined || origin.toLowerCase() !== `http://${host.toLowerCase()}`) return false;
  const hostname = host.replace(/:\d+$/, '').toLowerCase();
  return hostname === 'localhost' || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || /^\[[0-9a-f:.]+\]$/.test(hostname);
}

/** Compares digests, so the time taken says nothing about the token, not even its length. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
