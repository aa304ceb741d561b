/** The README's library snippet, as written there, so it cannot rot. */
import { it, expect } from 'vitest';
import { createPlatform } from '../../src/platform/platform.js';

it('README: using it as a library', async () => {
  const p = createPlatform();
  p.dmaStartStream({ deviceId: 0x100, iovaBase: 0n, length: 64 << 20, ratePerSec: 1e6, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' });
  const prep = p.tmpmPreparePsmash(1, 0x200000n);
  const r = await p.tmpmPsmashIo(prep);
  // The values the README prints: seed 1, the same calls.
  expect([r.statusName, r.stallNs, r.dmaHeld, p.dmaStats({}).rmpFaults]).toEqual(['SUCCESS', 2068606, 2068, 0]);
});
