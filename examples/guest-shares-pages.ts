/**
 * guest-shares-pages: the flow of the LKML thread (Jan 2026) and hardware.md §1.6-1.7,
 * end to end, while a TEE-IO device keeps doing DMA.
 *
 * The guest (ASID 1) has 1 GiB private in validated 2 MB pages, and device 01:00.0
 * maps it with 2 MB IOPDEs. The guest wants three 4 KB pages inside the 2 MB page at
 * GPA 0x200000 shared (say, to read certificates through the host). Its 4 KB
 * PVALIDATE rescind meets the 2 MB RMP entry and exits with a nested page fault,
 * RMP | SIZEM. The host must split the RMP entry, and with TEE-IO the IOMMU's 2 MB
 * IOPDE in lock-step: the smash engine's PSMASH_IO (AMD's TMPM, tmpm.psmashIo) does
 * both under one DMA stall. The guest's
 * rescind then succeeds, the VMM RMPUPDATEs the three pages to shared, and DMA to
 * the 509 pages that stay private goes on without a fault.
 */
import { runExample, withEmulator } from './lib/emulator.js';
import { heading, hex, printTable, step, us } from './lib/format.js';
import { prepareSmash, psmashParams, TMPM_SUCCESS } from './lib/smash.js';

const ASID = 1;
const DEVICE = 0x0100;
const DOMAIN = 1;
const REGION_GPA = 0x20_0000n; // the 2 MB page; for a TEE-IO device IOVA = GPA
const GPA_TO_SPA = 0x1_0000_0000n; // the default guest is backed by SPA 4 GiB + GPA
const SHARED = [0x21_0000n, 0x21_1000n, 0x21_2000n]; // pages 16, 17, 18 of the region
const NPF_RMP = 1n << 31n;
const NPF_SIZEM = 1n << 35n;

runExample(() =>
  withEmulator(async ({ client, url }) => {
    console.log(`guest-shares-pages  (emulator ${url})`);

    heading('1. DMA runs on the 2 MB private page');
    // Two streams cover the region but for the three pages the guest will share:
    // after the conversion the device must not touch those (the guest stopped using
    // them for DMA before asking), and that is what keeps the private part fault-free.
    const below = await client.call('dma.startStream', { deviceId: DEVICE, iovaBase: hex(REGION_GPA), length: '0x10000', ratePerSec: 200_000, accessBytes: 64, writeRatio: 0.5 });
    const above = await client.call('dma.startStream', { deviceId: DEVICE, iovaBase: '0x213000', length: '0x1ed000', ratePerSec: 800_000, accessBytes: 64, writeRatio: 0.5 });
    step(`stream ${below.streamId}: 200,000 req/s over GPA 0x200000..0x210000 (pages 0-15)`);
    step(`stream ${above.streamId}: 800,000 req/s over GPA 0x213000..0x400000 (pages 19-511)`);
    await client.call('clock.advance', { ns: 1_000_000 });
    await rmpRows('RMP before', [0x20_f000n, ...SHARED, 0x21_3000n]);

    heading('2. The guest rescinds a 4 KB page (private -> shared starts with PVALIDATE validate=0)');
    const first = await client.call('guest.pvalidate', { asid: ASID, gpa: hex(SHARED[0]!), pageSize: '4K', validate: false });
    // The result is {rc, rcName} or {npf: {errorCode}} (an instruction that faulted).
    const npf = (first as { npf?: { errorCode: string } }).npf;
    if (npf === undefined) throw new Error(`expected a nested page fault, got ${JSON.stringify(first)}`);
    const code = BigInt(npf.errorCode);
    step(
      `guest.pvalidate {gpa ${hex(SHARED[0]!)}, 4K, validate false} -> #NPF errorCode ${npf.errorCode}`,
      `= RMP (bit 31) ${code & NPF_RMP ? 'set' : 'clear'} | SIZEM (bit 35) ${code & NPF_SIZEM ? 'set' : 'clear'}: a 4 KB PVALIDATE met a 2 MB RMP entry; the host must split it`,
    );

    heading('3. The VMM splits the 2 MB page: PSMASH_IO (IOPDE and RMP under one stall)');
    const plan = await prepareSmash(client, DOMAIN, REGION_GPA);
    step(
      `IOPDE at SPA ${hex(plan.iopdeSpa)} = ${hex(plan.iopde)}; table of 512 4 KB PTEs prepared at ${hex(plan.tableSpa)}`,
      'a plain PSMASH would leave the 2 MB IOPDE over 4 KB RMP entries: every DMA to the region would fault',
    );
    await client.call('dma.resetStats'); // from here on: the smash, the conversion and 5 ms after
    const smash = await client.call('tmpm.psmashIo', psmashParams(plan));
    if (smash.status !== TMPM_SUCCESS) throw new Error(`tmpm.psmashIo: ${smash.statusName}`);
    step(
      `tmpm.psmashIo -> ${hex(smash.status)} ${smash.statusName}: rmpSmashed ${smash.rmpSmashed}, DMA stalled ${us(smash.stallNs)} us [${smash.startNs}, ${smash.endNs}) ns, ${smash.dmaHeld} requests held, none failed`,
    );

    heading('4. The guest retries its rescinds, then asks for the pages shared (PSC)');
    for (const gpa of SHARED) {
      const r = await client.call('guest.pvalidate', { asid: ASID, gpa: hex(gpa), pageSize: '4K', validate: false });
      if (!('rc' in r) || r.rc !== 0) throw new Error(`rescind of ${hex(gpa)}: ${JSON.stringify(r)}`);
      step(`guest.pvalidate {gpa ${hex(gpa)}, 4K, validate false} -> rc ${r.rc} ${r.rcName}`);
    }
    for (const gpa of SHARED) {
      const spa = gpa + GPA_TO_SPA;
      const r = await client.call('rmp.update', { spa: hex(spa), assigned: false, pageSize: '4K' });
      if (r.rc !== 0) throw new Error(`RMPUPDATE ${hex(spa)}: ${r.rcName}`);
      step(`rmp.update {spa ${hex(spa)}, assigned false, 4K} -> rc ${r.rc} ${r.rcName} (now hypervisor-owned: shared)`);
    }
    await rmpRows('RMP after', [0x20_f000n, ...SHARED, 0x21_3000n]);

    heading('5. DMA to the private remainder kept running, and keeps running');
    await client.call('clock.advance', { ns: 5_000_000 });
    const rows = [];
    for (const [name, id] of [
      ['pages 0-15', below.streamId],
      ['pages 19-511', above.streamId],
    ] as const) {
      const s = await client.call('dma.stats', { streamId: id });
      rows.push([`${id} (${name})`, s.issued, s.completed, s.held, s.rmpFaults, s.ioPageFaults, s.latencyNs.p50, s.latencyNs.max]);
    }
    console.log(`  dma.stats from the smash to 5 ms after the conversion (${us(smash.stallNs)} us stall included):`);
    printTable(['stream', 'issued', 'completed', 'held', 'rmpFaults', 'ioPageFaults', 'p50 (ns)', 'max (ns)'], rows);
    step('requests held by the stall waited (max latency = the stall) and none failed; after it, 4 KB leaves over 4 KB', 'validated private entries pass the IOMMU RMP check on all 509 private pages: rmpFaults 0');
    await client.call('dma.stopStream', { streamId: below.streamId });
    await client.call('dma.stopStream', { streamId: above.streamId });

    heading('6. Separately: the device touches a page that is now shared');
    const lastSeq = (await client.call('iommu.events')).events.at(-1)?.seq ?? 0;
    const bad = await client.call('dma.issue', { deviceId: DEVICE, iova: hex(SHARED[1]!), bytes: 64, write: true });
    const ev = (await client.call('iommu.events', { since: lastSeq })).events[0];
    step(
      `dma.issue {GPA ${hex(SHARED[1]!)}, 64 B write} -> ${bad.outcome} (${bad.reason}), event ${ev?.typeName} words [${ev?.words.join(' ')}]`,
      'a TEE-IO access must land on a page assigned to its guest (flag 0x01: not assigned), as intended once the page is shared',
    );

    heading('7. emu.audit');
    const audit = await client.call('emu.audit');
    if (audit.violations.length !== 0) throw new Error(`audit: ${JSON.stringify(audit.violations)}`);
    step(
      'audit clean: every TEE-IO leaf matches the RMP size under it (4 KB leaves over 4 KB entries), no stale IOTLB entry',
      'the shared pages may stay mapped: the size rule concerns assigned pages (a VMM may still unmap them + INVALIDATE)',
    );

    async function rmpRows(title: string, gpas: bigint[]): Promise<void> {
      const rows = [];
      for (const gpa of gpas) {
        const e = await client.call('rmp.read', { spa: hex(gpa + GPA_TO_SPA) });
        const w = await client.call('iommu.walk', { deviceId: DEVICE, iova: hex(gpa) });
        rows.push([hex(gpa), hex(gpa + GPA_TO_SPA), e.entrySpa, e.pageSize, e.assigned ? `ASID ${e.asid}` : 'hypervisor', e.validated, `2^${w.sizeLg2}`]);
      }
      console.log(`  ${title}:`);
      printTable(['GPA', 'SPA', 'RMP entry', 'size', 'owner', 'validated', 'IOMMU leaf'], rows, '    ');
    }
  }),
);
