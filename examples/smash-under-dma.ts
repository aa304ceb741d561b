/**
 * smash-under-dma: what a TEE-IO device's DMA sees while the smash engine (AMD's
 * TMPM, command PSMASH_IO) smashes one 2 MB IOPDE under it.
 *
 * Device 01:00.0 (TEE-IO, bound to guest ASID 1) streams 1,000,000 requests/s of
 * 64 bytes over the first 64 MiB of guest memory. We measure latency for 10 ms,
 * smash the 2 MB region at GPA 0x200000 with tmpm.preparePsmash + tmpm.psmashIo (its
 * IOPDE becomes a table of 512 4 KB PTEs, its RMP entry is PSMASHed; status 0xF0
 * SUCCESS), then measure 10 ms more.
 * The stall model (default: 2 ms +/- 0.5 ms, scope domain, policy hold) holds every
 * request of the domain that arrives during the stall: no fault, only latency.
 *
 *   npx tsx examples/smash-under-dma.ts          (own server in process)
 *   SMASH_EMU_URL=ws://127.0.0.1:8547 npx tsx examples/smash-under-dma.ts
 */
import type { EventNotification } from '../src/client/smash-emu-client.js';
import type { MethodResult } from '../src/protocol/methods.js';
import { runExample, withEmulator } from './lib/emulator.js';
import { heading, hex, printTable, step, us } from './lib/format.js';
import { prepareSmash, psmashParams, TMPM_SUCCESS } from './lib/smash.js';

const DEVICE = 0x0100; // 01:00.0, TEE-IO, domain 1, guest ASID 1
const DOMAIN = 1;
const REGION_IOVA = 0x20_0000n; // GPA 2 MB..4 MB, backed by SPA 0x100200000
const REGION_SPA = 0x1_0020_0000n;
const PHASE_NS = 10_000_000; // 10 ms of virtual time per measured phase
const DRAIN_NS = 10_000; // after the stall: held requests complete within a walk + service time

type Stats = MethodResult<'dma.stats'>;

runExample(() =>
  withEmulator(async ({ client, url }) => {
    console.log(`smash-under-dma  (emulator ${url}, virtual clock)`);

    // Every tmpm and stall notification, printed after the call that caused it (the
    // server sends them before that call's response).
    const events: EventNotification[] = [];
    const sub = await client.subscribe(['tmpm', 'stall'], (n) => events.push(n));
    const flushEvents = () => {
      for (const n of events.splice(0)) console.log(`    event  ${describeEvent(n)}`);
    };

    heading('Set-up');
    const model = await client.call('tmpm.getStallModel');
    step(
      `stall model: ${us(model.baseNs)} us base, jitter ${model.jitter.dist} +/- ${us(model.jitter.spreadNs)} us, scope ${model.scope}, policy ${model.policy}`,
      'scope domain: every device of the smashed domain waits; policy hold: arrivals are held, not failed',
    );
    const { streamId } = await client.call('dma.startStream', {
      deviceId: DEVICE,
      iovaBase: '0x0',
      length: '0x4000000',
      ratePerSec: 1_000_000,
      accessBytes: 64,
      writeRatio: 0.5,
      pattern: 'random',
    });
    step(`stream ${streamId}: device ${hex(DEVICE)}, 1,000,000 req/s, 64 B, 50% writes, random over IOVA 0x0..0x4000000 (64 MiB)`);

    const rows: Array<[string, number, Stats]> = [];

    heading(`Phase 1: ${PHASE_NS / 1e6} ms before the smash`);
    await client.call('clock.advance', { ns: PHASE_NS });
    rows.push(['before', PHASE_NS, await client.call('dma.stats', { streamId })]);
    step('every request walks to a 2 MB leaf over a 2 MB RMP entry: the sizes match, so the RMP check passes');

    heading('Phase 2: PSMASH_IO (tmpm.psmashIo) on the 2 MB region at GPA 0x200000');
    const plan = await prepareSmash(client, DOMAIN, REGION_IOVA);
    step(`tmpm.preparePsmash: IOPDE at SPA ${hex(plan.iopdeSpa)} = ${hex(plan.iopde)} (2 MB leaf); 512 PTEs written at SPA ${hex(plan.tableSpa)}; gctx page ${hex(plan.gctxSpa)}`);
    await client.call('dma.resetStats');
    const r = await client.call('tmpm.psmashIo', psmashParams(plan));
    flushEvents();
    if (r.status !== TMPM_SUCCESS) throw new Error(`tmpm.psmashIo returned ${r.statusName}`);
    const stallNs = r.stallNs;
    step(
      `status ${hex(r.status)} ${r.statusName} (ring slot ${r.index}, gctx word ${r.gctxWord}): stall [${r.startNs} ns, ${r.endNs} ns) = ${us(stallNs)} us, dmaHeld ${r.dmaHeld}, rmpSmashed ${r.rmpSmashed}`,
      `at ~1 request/us the stall holds ~${Math.round(stallNs / 1000)} requests; they resume at endNs against the new tables`,
    );
    // Held requests are translated at endNs and complete a walk + service later:
    // let them drain before reading the phase's statistics.
    await client.call('clock.advance', { ns: DRAIN_NS });
    const during = await client.call('dma.stats', { streamId });
    rows.push(['during', stallNs + DRAIN_NS, during]);
    const window = during.stalls[0];
    step(`dma.stats stalls: [${window?.startNs} ns, ${window?.endNs} ns); read after ${us(DRAIN_NS)} us more, once the held requests completed`);

    const iopdeNow = (await client.call('mem.read64', { spa: hex(plan.iopdeSpa), count: 1 })).values[0];
    const walk = await client.call('iommu.walk', { deviceId: DEVICE, iova: hex(REGION_IOVA + 0x3000n) });
    const rmp = await client.call('rmp.read', { spa: hex(REGION_SPA + 0x3000n) });
    step(`IOPDE now ${iopdeNow} (PR | NextLevel 1 | table | IR | IW); the walk for GPA 0x203000 ends in a 2^${walk.sizeLg2} leaf`);
    step(`RMP entry for SPA ${hex(REGION_SPA + 0x3000n)} is now ${rmp.pageSize} at ${rmp.entrySpa} (validated ${rmp.validated})`);

    heading(`Phase 3: ${PHASE_NS / 1e6} ms after the smash`);
    await client.call('dma.resetStats');
    await client.call('clock.advance', { ns: PHASE_NS });
    rows.push(['after', PHASE_NS, await client.call('dma.stats', { streamId })]);
    step('the smashed region now walks one level deeper to 4 KB leaves over 4 KB RMP entries: still no fault');

    heading('DMA latency by phase (dma.resetStats between phases)');
    printTable(
      ['phase', 'window (us)', 'issued', 'held', 'rmpFaults', 'ioPageFaults', 'p50 (ns)', 'p90 (ns)', 'p99 (ns)', 'p99.9 (ns)', 'max (ns)'],
      rows.map(([phase, windowNs, s]) => [phase, us(windowNs), s.issued, s.held, s.rmpFaults, s.ioPageFaults, s.latencyNs.p50, s.latencyNs.p90, s.latencyNs.p99, s.latencyNs.p999, s.latencyNs.max]),
    );
    console.log(`\n  during: ${during.held.toLocaleString('en-US')} requests held, the longest ${us(during.latencyNs.max)} us (the whole ${us(stallNs)} us stall), ${during.rmpFaults + during.ioPageFaults} faults.`);
    console.log('  latency = translation + 500 ns service: IOTLB hit 50 ns (550), walk to a 2 MB leaf 2 x 100 ns (700),');
    console.log('  walk to a 4 KB leaf of the smashed region 3 x 100 ns (800). The IOTLB caches 4 KB pages, so phase 1 starts cold.');

    await client.call('dma.stopStream', { streamId });
    await sub.unsubscribe();
    const audit = await client.call('emu.audit');
    console.log(`  emu.audit: ${audit.violations.length === 0 ? 'clean' : JSON.stringify(audit.violations)}`);
  }),
);

function describeEvent(n: EventNotification): string {
  const d = n.data as Record<string, unknown>;
  if (n.topic === 'stall') return `stall ${String(d.phase).padEnd(5)} at ${n.atNs} ns  (${String(d.command)}, domain ${String(d.domainId)}, iova ${String(d.iova)}, scope ${String(d.scope)}, policy ${String(d.policy)})`;
  if (d.kind === 'command') return `tmpm  ${String(d.commandName)} at ring slot ${String(d.index)}, [${String(d.startNs)}, ${String(d.endNs)}) ns -> ${String(d.statusName)}`;
  return `tmpm  ${String(d.kind)} at ${n.atNs} ns`;
}
