/**
 * hotplug-mixed-rmp: a TEE-IO device hot-plugged into a running guest whose RMP mixes
 * 2 MB and 4 KB pages (LKML thread, Jan 2026: "I hotplug a device into a VM with a mix
 * of 4K and 2M RMPs. QEMU will ask iommufd to map everything (and that would be
 * 2M/1G), should then QEMU ask KVM to walk through ranges and call iommufd directly
 * to make IO PDEs/PTEs match RMPs?" - "Yes").
 *
 * The guest's 32 MiB are validated 2 MB pages except two 2 MB regions held as 512
 * 4 KB entries: one all private (no 2 MB folio was available), one with four pages
 * the guest had shared. The VMM maps everything with 2 MB leaves, binds the device,
 * and then fixes every leaf the RMP check would refuse (emu.audit stands in for the
 * VMM's own walk of the RMP) with the smash engine's PSMASH_IO (AMD's TMPM,
 * tmpm.psmashIo), until the audit is clean.
 */
import { runExample, withEmulator, type ScenarioDocument } from './lib/emulator.js';
import { bytes, heading, hex, printTable, step, us } from './lib/format.js';
import { prepareSmash, psmashParams, TMPM_SUCCESS } from './lib/smash.js';

const ASID = 1;
const DEVICE = 0x0100;
const DOMAIN = 1;
const GUEST_SPA = 0x1_0000_0000n;
const GUEST_BYTES = 0x200_0000; // 32 MiB

const scenario: ScenarioDocument = {
  name: 'hotplug-mixed-rmp',
  guests: [
    {
      asid: ASID,
      ranges: [
        { gpa: '0x0', spa: '0x100000000', length: '0x800000', rmp: '2M' },
        { gpa: '0x800000', spa: '0x100800000', length: '0x200000', rmp: '4K' },
        { gpa: '0xa00000', spa: '0x100a00000', length: '0x600000', rmp: '2M' },
        { gpa: '0x1000000', spa: '0x101000000', length: '0x200000', rmp: '4K' },
        { gpa: '0x1200000', spa: '0x101200000', length: '0xe00000', rmp: '2M' },
      ],
    },
  ],
  // Four pages of the second 4 KB region were converted to shared earlier.
  rmpUpdates: [{ spa: '0x101010000', count: 4, assigned: false, pageSize: '4K' }],
  // The device is present and TEE-IO capable (the PSP may create its context) but not yet
  // attached: its DTE is written below, as a hot-plug does. fw.tdiBind connects it first.
  devices: [{ deviceId: DEVICE, domainId: DOMAIN, mode: 3, teeIo: true, mappings: [] }],
};

runExample(() =>
  withEmulator(async ({ client, url }) => {
    console.log(`hotplug-mixed-rmp  (emulator ${url})`);

    heading('The guest RMP (rmp.read of every 2 MB region, and of every page of the 4 KB ones)');
    const runs: Array<{ gpa: bigint; end: bigint; layout: string }> = [];
    for (let gpa = 0n; gpa < BigInt(GUEST_BYTES); gpa += 0x20_0000n) {
      const head = await client.call('rmp.read', { spa: hex(GUEST_SPA + gpa) });
      let layout = '1 x 2M private';
      if (head.pageSize === '4K') {
        let shared = 0;
        for (let off = 0n; off < 0x20_0000n; off += 0x1000n) {
          if (!(await client.call('rmp.read', { spa: hex(GUEST_SPA + gpa + off) })).assigned) shared++;
        }
        layout = shared === 0 ? '512 x 4K private' : `512 x 4K, ${shared} of them shared`;
      }
      const last = runs.at(-1);
      if (last !== undefined && last.layout === layout && last.end === gpa) last.end = gpa + 0x20_0000n;
      else runs.push({ gpa, end: gpa + 0x20_0000n, layout });
    }
    printTable(
      ['GPA', 'SPA', 'size', 'RMP entries per 2 MB'],
      runs.map((r) => [`${hex(r.gpa)}..${hex(r.end)}`, hex(GUEST_SPA + r.gpa), bytes(Number(r.end - r.gpa)), r.layout]),
    );

    heading('Hot-plug: DTE, map everything with 2 MB leaves, TDI_BIND');
    const { spa: root } = await client.call('mem.alloc', { pages: 1 });
    await client.call('iommu.setDte', { deviceId: DEVICE, root, mode: 3, domainId: DOMAIN });
    step(`iommu.setDte {device ${hex(DEVICE)}, domain ${DOMAIN}, mode 3, root ${root}}`);
    await client.call('iommu.map', { domainId: DOMAIN, iova: '0x0', spa: hex(GUEST_SPA), length: hex(GUEST_BYTES), sizeLg2: 21, read: true, write: true });
    step(`iommu.map {IOVA 0x0 -> SPA ${hex(GUEST_SPA)}, ${bytes(GUEST_BYTES)}, 2 MB leaves} (what iommufd does for a 2 MB-backed range)`);
    const bind = await client.call('fw.tdiBind', { deviceId: DEVICE, asid: ASID });
    step(`fw.tdiBind {device ${hex(DEVICE)}, ASID ${ASID}} -> ${bind.statusName}: its DMA is now RMP-checked as the guest's (IOVA = GPA)`);

    const probe = await client.call('dma.issue', { deviceId: DEVICE, iova: '0x801000', bytes: 64, write: false });
    step(`dma.issue GPA 0x801000 -> ${probe.outcome} (${probe.reason}): a 2 MB leaf over 4 KB RMP entries fails the size check`);

    heading('emu.audit before');
    const before = (await client.call('emu.audit')).violations;
    printAudit(before);

    heading('Fix each mismatch: PSMASH_IO (the leaf becomes 512 4 KB PTEs; the RMP is already 4 KB)');
    const fixes = [];
    for (const v of before.filter((x) => x.kind === 'leaf-size-mismatch')) {
      const iova = BigInt(String(v.iova));
      const plan = await prepareSmash(client, DOMAIN, iova);
      const r = await client.call('tmpm.psmashIo', psmashParams(plan));
      if (r.status !== TMPM_SUCCESS) throw new Error(`tmpm.psmashIo ${hex(iova)}: ${r.statusName} ${JSON.stringify(r.detail)}`);
      fixes.push([hex(iova), hex(plan.iopdeSpa), hex(plan.tableSpa), r.statusName, String(r.rmpSmashed), us(r.stallNs)]);
    }
    printTable(['IOVA', 'IOPDE SPA', 'table SPA', 'status', 'rmpSmashed', 'stall (us)'], fixes);
    step(
      "rmpSmashed false: those RMP regions were 4 KB already; only the IOMMU side had to change (PSMASH_IO's RMP check",
      'accepts 512 4 KB entries each assigned to the gctx guest at consecutive GPAs, or hypervisor-owned like the shared pages)',
    );

    heading('emu.audit after');
    const after = (await client.call('emu.audit')).violations;
    printAudit(after);
    const again = await client.call('dma.issue', { deviceId: DEVICE, iova: '0x801000', bytes: 64, write: false });
    step(`dma.issue GPA 0x801000 -> ${again.outcome} (SPA ${again.spa}, ${again.latencyNs} ns)`);
    if (after.length !== 0) throw new Error('the audit is not clean');
  }, scenario),
);

function printAudit(violations: ReadonlyArray<{ kind: string; [k: string]: unknown }>): void {
  if (violations.length === 0) {
    console.log('  audit clean (0 violations)');
    return;
  }
  printTable(
    ['kind', 'domain', 'IOVA', 'SPA', 'leaf', 'RMP', 'rule', 'first bad SPA'],
    violations.map((v) => [v.kind, num(v.domainId), str(v.iova), str(v.spa), sizeOf(v.leafSizeLg2), sizeOf(v.rmpSizeLg2), str(v.rule), str(v.firstBadSpa)]),
  );
}

function str(v: unknown): string {
  return v === undefined || v === null ? '-' : String(v);
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
function sizeOf(lg2: unknown): string {
  return typeof lg2 === 'number' ? bytes(2 ** lg2) : '-';
}
