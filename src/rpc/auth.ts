/**
 * Who may talk to the server (protocol/README.md §1.6 Token, Host and Origin): the
 * token, when one is set, and where a request comes from (Host and Origin). Both
 * guard every WebSocket upgrade and every HTTP request except GET /healthz.
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
 * Where a request may come from (WebSocket upgrades and HTTP alike): a refusal's
 * message for a 403, or undefined when it may proceed. Two checks, first failure wins:
 *
 * 1. `Host`: an IP address, `localhost`, or a name `--allow-host` lists. A page on
 *    a DNS name that an attacker rebinds to 127.0.0.1 reaches the server with its own
 *    name in Host, and browsers send no Origin on a same-origin GET (GET /metrics)
 *    while they do on DELETE: only the Host check stops the first.
 * 2. `Origin`, when present (browsers always send it on an upgrade and on DELETE):
 *    this server's own address (`http://` + the Host just accepted, so the dashboard
 *    it served can connect back), or one `--allow-origin` lists. Non-browser clients
 *    send no Origin and pass.
 */
export function refusedSource(req: IncomingMessage, allow: { allowOrigin: readonly string[]; allowHost: readonly string[] }): string | undefined {
  const host = req.headers.host;
  if (host !== undefined && !hostAllowed(host, allow.allowHost)) {
    return `Host ${JSON.stringify(host)} is not an address of this server (DNS rebinding?); use an IP address or localhost, or start the server with --allow-host ${hostnameOf(host)}`;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  if (host !== undefined && origin.toLowerCase() === `http://${host.toLowerCase()}`) return undefined;
  if (allow.allowOrigin.some((allowed) => allowed === '*' || allowed.toLowerCase() === origin.toLowerCase())) return undefined;
  return `origin ${origin} is not allowed; start the server with --allow-origin to allow it`;
}

/** `host[:port]` -> host, lower-case ('[::1]:8547' -> '[::1]'). */
function hostnameOf(host: string): string {
  return host.replace(/:\d*$/, '').toLowerCase();
}

/** An IP literal or localhost (names that cannot be rebound), or a listed name. */
export function hostAllowed(host: string, allowHost: readonly string[]): boolean {
  const hostname = hostnameOf(host);
  if (hostname === 'localhost' || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || /^\[[0-9a-f:.]+\]$/.test(hostname)) return true;
  return allowHost.some((allowed) => allowed === '*' || allowed.toLowerCase() === hostname);
}

/** Compares digests, so the time taken says nothing about the token, not even its length. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
