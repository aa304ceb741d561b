import { createPlatform } from '../src/platform/platform.js';
import { DmaEngine } from '../src/dma/dma-engine.js';
DmaEngine.defaults.closedForm = false;
const p = createPlatform();
p.dmaStartStream({ deviceId: 0x100, iovaBase: 0x200000n, length: 2 ** 21, ratePerSec: 1e9, accessBytes: 64, writeRatio: 0.5, pattern: 'random', arrival: 'fixed' });
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await p.clockAdvance(2_000_000);
  const ms = performance.now() - t0;
  console.log((2e6 / ms * 1000 / 1e6).toFixed(2), 'M req/s', p.m.dma.fastCounts);
}
