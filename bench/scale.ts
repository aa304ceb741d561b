/**
 * Scale (README.md "Performance"): a guest of `guestGiB` GiB (1 TiB in the full run), RMP-assigned
 * as validated 2 MB pages and fully mapped by a TEE-IO device with 2 MB leaves.
 * Figures: wall time of createPlatform, heap and RSS growth after a full GC,
 * (informational) the time of one emu.audit, and the wall time of unmapping the
 * whole guest from the device (iommu.unmap of every 2 MB leaf).
 *
 * `scale()` runs it in a child `node --expose-gc` so the heap it measures holds
 * nothing but the platform; `measureScale()` is the in-process body (the child's).
 */
import { createPlatform } from '../src/platform/platform.js';
import { DEFAULT_SCENARIO, type Scenario } from '../src/platform/scenario.js';
import { GiB, MiB, firstJsonLine, isMain, nowMs, spawnBench } from './util.js';

export interface ScaleResult {
  guestGiB: number;
  setupMs: number;
  /** heapUsed growth after GC (JS objects). */
  heapMiB: number;
  /** ArrayBuffer backing stores growth (typed arrays live outside the JS heap). */
  arrayBuffersMiB: number;
  rssMiB: number;
  auditMs: number;
  /** iommu.unmap of the whole guest, ms. */
  unmapMs: number;
  auditClean: boolean;
}

const GUEST_SPA = 4 * GiB;

export function scaleScenario(guestGiB: number): Scenario {
  const length = guestGiB * GiB;
  // Guest memory must stay below the page pool (the top 1/16 of memory, at most 1 GiB).
  const memoryBytes = Math.max(64 * GiB, 2 ** Math.ceil(Math.log2(GUEST_SPA + length + GiB)));
  return {
    ...DEFAULT_SCENARIO,
    name: `scale-${guestGiB}GiB`,
    memoryBytes,
    guests: [{ asid: 1, ranges: [{ gpa: 0, spa: GUEST_SPA, length, rmp: '2M', validated: true }] }],
    devices: [
      {
        deviceId: 0x0100,
        domainId: 1,
        boundAsid: 1,
        mode: 4,
        mappings: [{ iova: 0n, spa: GUEST_SPA, length, sizeLg2: 21, read: true, write: true, fc: false }],
      },
    ],
  };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) for (let i = 0; i < 3; i++) g();
}

export function measureScale(guestGiB: number): ScaleResult {
  const scenario = scaleScenario(guestGiB);
  gc();
  const before = process.memoryUsage();
  const t0 = nowMs();
  const p = createPlatform(scenario);
  const setupMs = nowMs() - t0;
  gc();
  const after = process.memoryUsage();
  const t1 = nowMs();
  const audit = p.audit();
  const auditMs = nowMs() - t1;
  const t2 = nowMs();
  const unmapped = p.iommuUnmap({ domainId: 1, iova: 0n, length: guestGiB * GiB });
  const unmapMs = nowMs() - t2;
  if (unmapped.unmapped !== BigInt(guestGiB * GiB)) throw new Error(`unmapped ${unmapped.unmapped} bytes of ${guestGiB} GiB`);
  p.dispose();
  return {
    guestGiB,
    setupMs,
    heapMiB: (after.heapUsed - before.heapUsed) / MiB,
    arrayBuffersMiB: (after.arrayBuffers - before.arrayBuffers) / MiB,
    rssMiB: (after.rss - before.rss) / MiB,
    auditMs,
    unmapMs,
    auditClean: audit.clean,
  };
}

/** Runs measureScale in a fresh `node --expose-gc` child and returns its result. */
export async function scale(guestGiB = 1024): Promise<ScaleResult> {
  const child = spawnBench('./scale.ts', [String(guestGiB)], ['--expose-gc']);
  child.stdin?.end();
  const result = await firstJsonLine<ScaleResult>(child);
  await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  return result;
}

if (isMain(import.meta.url)) {
  process.stdout.write(JSON.stringify(measureScale(Number(process.argv[2] ?? 1024))) + '\n');
}
