/**
 * A real headless Chromium for the tests of pages people look at (the dashboard,
 * the experiment report). Debian's `chromium` package, driven by playwright-core
 * against that binary: no browser download. `.ci/run` installs the package (and
 * fails when it cannot); tests gate on `browserGate()`, which skips with the reason
 * printed where no Chromium exists, and fails instead under REQUIRE_BROWSER=1 / CI.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { needs, type Gate } from './skips.js';

const CANDIDATES = [process.env['SMASH_EMU_CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The Chromium binary to use, or undefined when none is installed. */
export function chromiumPath(): string | undefined {
  for (const c of CANDIDATES) if (c && existsSync(c)) return c;
  return undefined;
}

/** Why browser tests skip here, or undefined when a Chromium is available. */
export function browserSkipReason(): string | undefined {
  if (chromiumPath()) return undefined;
  return 'no Chromium installed (apt-get install -y chromium; .ci/run does this)';
}

/** The describe / it for tests that drive Chromium (test/helpers/skips.ts). */
export function browserGate(): Gate {
  return needs('a headless Chromium', browserSkipReason(), 'REQUIRE_BROWSER');
}

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(browserSkipReason());
  return chromium.launch({
    executablePath,
    headless: true,
    // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** test/output/NAME: where tests save screenshots for people to look at. */
export function testOutputPath(name: string): string {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'output');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
