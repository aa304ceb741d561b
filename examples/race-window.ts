/**
 * race-window: why the smash engine exists (the LKML thread, Jan 2026: "After I smash
 * IO PDE, there is a small window before smashing an RMP entry when incoming traffic
 * may hit not-converted part of a 2MB page and RMP check in the IOMMU will fail").
 *
 * Without the engine a VMM does it in steps: point the IOPDE at a table of 512 4 KB
 * PTEs (mem.write64), INVALIDATE_IOMMU_PAGES for the 2 MB (iommu.command), then
 * PSMASH the RMP entry (rmp.psmash). Between the invalidation and the PSMASH, DMA
 * walks to a 4 KB leaf over a 2 MB RMP entry: the IOMMU's size check fails
 * (RMP_PAGE_FAULT, flag 0x20). We replay that window W for several lengths from one
 * snapshot (emu.revert before each trial), against one PSMASH_IO of the smash
 * engine (AMD's TMPM, tmpm.psmashIo) with a stall of the same length W
 * (tmpm.setStallModel {baseNs: W}), which holds DMA instead and changes both under
 * one stall: what the manual window faults, the engine holds.
 */
import { runExample, withEmulator, DEFAULT_SCENARIO_DOC } from './lib/emulator.js';
import { heading, hex, printTable, step, us } from './lib/format.js';
import { invalidateIommuPages, tablePointer } from './lib/iommu-bits.js';
import { prepareSmash, psmashParams, TMPM_SUCCESS } from './lib/smash.js';

const DEVICE = 0x0100;
const DOMAIN = 1;
const REGION_IOVA = 0x20_0000n;
const REGION_SPA = 0x1_0020_0000n;
const RATE = 1_000_000; // requests/s: one per us
const WINDOWS_NS = [10_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];
const SETTLE_NS = 1_000_000; // run on after each trial so every request has completed
const RMP_PAGE_FAULT = 0xd;

// The default platform, with an event log big enough to hold 1 ms of faults at 1 M req/s.
const scenario = { ...DEFAULT_SCENARIO_DOC, name: 'race-window', eventLogEntries: 4096 };

runExample(() =>
  withEmulator(async ({ client, url }) => {
    console.log(`race-window  (emulator ${url})`);
    heading('Set-up (once)');
    const { streamId } = await client.call('dma.startStream', { deviceId: DEVICE, iovaBase: hex(REGION_IOVA), length: '0x200000', ratePerSec: RATE, accessBytes: 64, writeRatio: 0.5 });
    step(`stream ${streamId}: device ${hex(DEVICE)} at ${RATE.toLocaleString('en-US')} req/s, random 64 B over the 2 MB region at GPA ${hex(REGION_IOVA)}`);
    await client.call('clock.advance', { ns: 1_000_000 });
    const plan = await prepareSmash(client, DOMAIN, REGION_IOVA);
    step(`tmpm.preparePsmash: IOPDE at SPA ${hex(plan.iopdeSpa)} = ${hex(plan.iopde)}; table of 512 PTEs at ${hex(plan.tableSpa)} (both sequences use it)`);
    const newIopde = hex(tablePointer(plan.tableSpa));
    const inv = invalidateIommuPages(DOMAIN, REGION_IOVA, 21).map(hex);
    step(`manual sequence: mem.write64 IOPDE <- ${newIopde}; iommu.command [${inv.join(', ')}]; clock.advance W; rmp.psmash ${hex(REGION_SPA)}`);
    await client.call('dma.resetStats');
    const lastSeq = (await client.call('iommu.events')).events.at(-1)?.seq ?? 0;
    const { snapshotId } = await client.call('emu.snapshot');
    step(`emu.snapshot -> ${snapshotId}; each trial below starts with emu.revert to it`);

    const rows = [];
    for (const windowNs of WINDOWS_NS) {
      // The manual sequence: the IOPDE and the IOTLB change now, the RMP W later.
      await client.call('emu.revert', { snapshotId });
      await client.call('mem.write64', { spa: hex(plan.iopdeSpa), values: [newIopde] });
      await client.call('iommu.command', { qwords: inv });
      await client.call('clock.advance', { ns: windowNs });
      const ps = await client.call('rmp.psmash', { spa: hex(REGION_SPA) });
      if (ps.rc !== 0) throw new Error(`rmp.psmash: ${ps.rcName}`);
      await client.call('clock.advance', { ns: SETTLE_NS });
      const manual = await client.call('dma.stats', { streamId });
      const events = await rmpFaultEvents(lastSeq);

      // The engine, stalling DMA for the same W: both change under the stall.
      await client.call('emu.revert', { snapshotId });
      await client.call('tmpm.setStallModel', { baseNs: windowNs, perEntryNs: 0, jitter: { dist: 'none' } });
      const smash = await client.call('tmpm.psmashIo', psmashParams(plan));
      if (smash.status !== TMPM_SUCCESS) throw new Error(`tmpm.psmashIo: ${smash.statusName}`);
      await client.call('clock.advance', { ns: SETTLE_NS });
      const engine = await client.call('dma.stats', { streamId });
      const engineEvents = await rmpFaultEvents(lastSeq);
      rows.push([us(windowNs), Math.round((windowNs * RATE) / 1e9), manual.rmpFaults, events.count, events.flags, us(smash.stallNs), engine.rmpFaults, engineEvents.count, engine.held]);
    }

    heading('RMP faults: manual sequence with window W vs PSMASH_IO (tmpm.psmashIo) stalling for W');
    printTable(['W (us)', 'expected (rate x W)', 'manual rmpFaults', 'RMP_PAGE_FAULT events', 'rmp flags', 'engine stall (us)', 'engine rmpFaults', 'engine events', 'engine held'], rows);
    console.log("\n  engine: PSMASH_IO's stall holds the requests of the window and releases them against the new tables; 0 faults at any W.");
    console.log('  manual: every request in the window walks to a 4 KB leaf over the still-2 MB RMP entry (flag 0x20 = size mismatch);');
    console.log("  the fault count grows with W at the stream rate, as the engine's held count does. No W is safe: at 1 M req/s even 10 us loses requests.");

    await client.call('emu.revert', { snapshotId });
    await client.call('dma.stopStream', { streamId });

    async function rmpFaultEvents(since: number): Promise<{ count: number; flags: string }> {
      const { events, overflow } = await client.call('iommu.events', { since });
      const faults = events.filter((e) => e.type === RMP_PAGE_FAULT);
      // The RMP flag bits are w0[23:16] of the 16-byte entry (protocol/README.md §6.4, §6.5).
      const flags = [...new Set(faults.map((e) => '0x' + ((parseInt(e.words[0] ?? '0', 16) >>> 16) & 0xff).toString(16).padStart(2, '0')))];
      if (overflow) throw new Error('the event log overflowed: raise eventLogEntries in the scenario');
      return { count: faults.length, flags: flags.length === 0 ? '-' : flags.join(',') };
    }
  }, scenario),
);
