/**
 * tdi-bind-flow: a VMM's bind and unbind of a TEE-IO device to an SNP guest, over
 * JSON-RPC, as AMD's tree drives the firmware (docs/sev-firmware.md §3.3): the
 * device's TDI to RUN (TDI_CREATE, TDI_BIND locking the interface and reading its
 * report, TDI_BIND with RUN_FORCE), DMA while bound, an unbind with DMA in flight
 * (the device's DMA to the guest is then fenced until TIO_ASID_FENCE_CLEAR), and the
 * error paths a VMM has to handle:
 * - the device refusing LOCK_INTERFACE (fault rule spdm.LOCK_INTERFACE): SPDM_ERROR,
 *   nothing bound, nothing fenced; the VMM retries;
 * - an unbind the device fails (spdm.STOP_INTERFACE): retried with FORCE (the
 *   device is not asked), still fenced;
 * - reclaim ordering: a live TDI's context page refuses SNP_PAGE_RECLAIM; the
 *   unbind runs TDI_RECLAIM first, then the device context goes with tio.disconnect.
 *
 *   npx tsx examples/tdi-bind-flow.ts          (own server in process)
 *   SMASH_EMU_URL=ws://127.0.0.1:8547 npx tsx examples/tdi-bind-flow.ts
 */
import { pathToFileURL } from 'node:url';
import { runExample, withEmulator } from './lib/emulator.js';
import { heading, hex, step } from './lib/format.js';
import { invalidateIommuPages } from './lib/iommu-bits.js';

const DEV = 0x0100;
const ASID = 1;

export async function main(): Promise<void> {
  await withEmulator(async ({ client }) => {
    const call = client.call.bind(client) as (m: string, p?: Record<string, unknown>) => Promise<any>;
    const tdi = async () => (await call('psp.regs')).firmware.tdis.find((t: { functionId: number }) => t.functionId === DEV);

    heading('as the default scenario starts: device 01:00.0 connected, its TDI in RUN for ASID 1');
    const t0 = await tdi();
    step(`TDI of ${hex(DEV)}: ${t0.tdispState}, ASID ${t0.asid}, context page ${t0.ctxSpa}`);
    const live = await call('fw.pageReclaim', { spa: t0.ctxSpa });
    step(`SNP_PAGE_RECLAIM of the live TDI context page -> ${live.statusName}`, 'reclaim ordering: TDI_RECLAIM first');

    heading('DMA while bound, then unbind with DMA in flight');
    const { streamId } = await call('dma.startStream', { deviceId: DEV, iovaBase: '0x0', length: '0x800000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    await call('clock.advance', { ns: 100_000 });
    let s = await call('dma.stats', { streamId });
    step(`bound: ${s.completed} completed, ${s.rmpFaults} RMP faults`);
    const u = await call('fw.tdiUnbind', { deviceId: DEV });
    step(`fw.tdiUnbind -> ${u.statusName}: TDI ${u.tdispState}, DMA fence ${u.dmaFence} (default-fenced), TDI_RECLAIM ${u.reclaimStatus}`);
    const done = (await call('dma.stats', { streamId })).completed;
    await call('iommu.events', { consume: true });
    await call('clock.advance', { ns: 100_000 });
    s = await call('dma.stats', { streamId });
    const ev = (await call('iommu.events', { consume: true })).events.filter((e: { typeName: string }) => e.typeName === 'RMP_PAGE_FAULT');
    step(`fenced: ${s.completed - done} completed since the unbind, ${ev.length} RMP_PAGE_FAULT events, last flags ${hex(ev[ev.length - 1]?.rmpFlags ?? 0)} (0x40 fenced), VMG tag ${ev[ev.length - 1]?.vmgTag}`);
    const fs = await call('tio.fenceStatus', { deviceId: DEV, asid: ASID });
    step(`TIO_ASID_FENCE_STATUS -> dmaFence ${fs.dmaFence}, mmioFence ${fs.mmioFence}`);
    const fc = await call('tio.fenceClear', { deviceId: DEV, asid: ASID });
    step(`TIO_ASID_FENCE_CLEAR -> ${fc.statusName}, fenced ${fc.fenced}`);
    await call('dma.stopStream', { streamId });

    heading('error path: the device refuses LOCK_INTERFACE');
    await call('fault.add', { method: 'spdm.LOCK_INTERFACE', status: 0x04, times: 1 });
    const e1 = await call('fw.tdiBind', { deviceId: DEV, asid: ASID });
    step(`fw.tdiBind -> ${e1.statusName} (${e1.detail?.reason}); TDI ${e1.tdispState}, fenced ${e1.fenced}`);
    const b = await call('fw.tdiBind', { deviceId: DEV, asid: ASID });
    step(`retry: fw.tdiBind -> ${b.statusName}, TDI ${b.tdispState}, ${b.steps} TDISP messages relayed, report ${b.reportBytes} bytes`);

    heading('error path: the device fails STOP_INTERFACE, the unbind is retried with FORCE');
    await call('fault.add', { method: 'spdm.STOP_INTERFACE', status: 0x05, times: 1 });
    const e2 = await call('fw.tdiUnbind', { deviceId: DEV });
    step(`fw.tdiUnbind -> ${e2.statusName}: first attempt ${e2.unbindStatus}, forced ${e2.forced}, TDI ${e2.tdispState}, fenced ${e2.fenced}`);
    await call('tio.fenceClear', { deviceId: DEV, asid: ASID });

    heading('reclaim: the device context and every page');
    const d = await call('tio.disconnect', { deviceId: DEV });
    step(`tio.disconnect -> ${d.statusName}, TIO_DEV_RECLAIM ${d.reclaimStatus}; contexts left ${(await call('psp.regs')).firmware.devices.length}`);
    // The device no longer belongs to the guest: its domain must not map the guest's (assigned) pages with 2 MB leaves.
    const before = (await call('emu.audit')).violations.length;
    await call('iommu.unmap', { domainId: 1, iova: '0x0', length: '0x40000000' });
    await call('iommu.command', { qwords: invalidateIommuPages(1, 0n, 64).map(hex) });
    step(`untrusted now: emu.audit found ${before} 2 MB leaves over guest pages; iommu.unmap of the guest's 1 GiB from domain 1, INVALIDATE_IOMMU_PAGES (all)`);
    const audit = await call('emu.audit');
    console.log(audit.violations.length === 0 ? 'emu.audit: clean' : `emu.audit: ${audit.violations.length} violations`);
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) runExample(main);
