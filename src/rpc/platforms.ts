/**
 * Platforms by WebSocket path (protocol/README.md §1.1 Paths, §1.8):
 * '/' is the default platform '', '/platforms/NAME' a named one, created on first
 * use and kept until the server stops or the platform is deleted (emu.deletePlatform,
 * HTTP DELETE /platforms/NAME, idle expiry).
 */
import type { PlatformHost } from './method-table.js';

const NAMED_PATH_RE = /^\/platforms\/([A-Za-z0-9_.-]{1,64})$/;

/**
 * The platform name a path selects ('' for '/'), or undefined for any other path.
 * '.' and '..' are refused too, so every name is safe as a file name (state files
 * are saved per platform).
 */
export function platformNameFromPath(pathname: string): string | undefined {
  if (pathname === '/') return '';
  const name = NAMED_PATH_RE.exec(pathname)?.[1];
  return name === undefined || name === '.' || name === '..' ? undefined : name;
}

export type PlatformLookup = { ok: true; host: PlatformHost } | { ok: false; status: 500 | 503; reason: string };

export class PlatformRegistry {
  private readonly hosts = new Map<string, PlatformHost>();

  constructor(
    private readonly create: (name: string) => PlatformHost,
    /** Named platforms only; the default platform '' never counts. */
    private readonly maxPlatforms: number,
  ) {}

  /** The platform called `name`, created now if new and there is room. */
  lookup(name: string): PlatformLookup {
    const existing = this.hosts.get(name);
    if (existing !== undefined) return { ok: true, host: existing };
    if (name !== '' && this.namedCount() >= this.maxPlatforms) {
      return {
        ok: false,
        status: 503,
        reason:
          `platform limit reached: ${this.maxPlatforms} named platforms exist (--max-platforms); ` +
          'free one with emu.deletePlatform {"name": NAME} or HTTP DELETE /platforms/NAME, list them with emu.platforms, ' +
          'let idle ones expire with --platform-idle-ms, or raise --max-platforms',
      };
    }
    let host: PlatformHost;
    try {
      host = this.create(name);
    } catch (err) {
      return { ok: false, status: 500, reason: `platform "${name}" could not be created: ${err instanceof Error ? err.message : String(err)}` };
    }
    this.hosts.set(name, host);
    return { ok: true, host };
  }

  /** Forgets `name` and returns its host (not disposed: the caller does that once its connections are gone). */
  remove(name: string): PlatformHost | undefined {
    const host = this.hosts.get(name);
    this.hosts.delete(name);
    return host;
  }

  /** Names in creation order; '' when the default platform has been used. */
  names(): string[] {
    return [...this.hosts.keys()];
  }

  /** Disposes every platform (call once); a throwing dispose does not stop the others. Names stay listed. */
  disposeAll(onError: (name: string, err: unknown) => void): void {
    for (const [name, host] of this.hosts) {
      try {
        host.dispose?.();
      } catch (err) {
        onError(name, err);
      }
    }
  }

  private namedCount(): number {
    return this.hosts.size - (this.hosts.has('') ? 1 : 0);
  }
}
