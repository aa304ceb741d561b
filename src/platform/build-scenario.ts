/**
 * Builds a scenario on a fresh machine through the operations a VMM would use:
 * RMPUPDATE and PVALIDATE for guest memory, DTE writes and iommu map for devices,
 * TDI binding, then streams. A step the hardware refuses stops the build with a
 * BAD_DOCUMENT error naming the scenario key (the machine is then discarded).
 */
import type { Machine } from './machine.js';
import { pspConfigOf, tmpmConfigOf } from './machine.js';
import { bindSteps } from './platform-tdi.js';
import { runSync } from './psp-steps.js';
import { FW_STATUS } from '../firmware/status.js';
import type { Scenario } from './scenario.js';
import { encodeDte } from '../iommu/dte.js';
import { validateStallModel } from '../tmpm/stall-model.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { rmpRcName, RMP_RC } from '../rmp/return-codes.js';
import { toHex } from '../util/hex.js';

const PAGE = 4096;
const REGION = 2 * 1024 * 1024;

/**
 * Most RMP updates plus IOMMU leaves one scenario may ask for. A build runs in one
 * step on the server's thread, so an absurd (but well-formed) scenario must be
 * refused before it starts: 2^23 is a 1 TiB guest in 2 MB pages many times over,
 * or 32 GiB in 4 KB pages, built in a few seconds.
 */
export const MAX_SCENARIO_OPERATIONS = 2 ** 23;

/** RMP updates and IOMMU leaves the build will perform. */
export function scenarioOperations(s: Scenario): number {
  let n = 0;
  for (const g of s.guests) for (const r of g.ranges) if (r.rmp !== 'none') n += r.length / (r.rmp === '2M' ? REGION : PAGE);
  for (const u of s.rmpUpdates) n += u.count;
  for (const d of s.devices) for (const map of d.mappings) n += map.length / 2 ** map.sizeLg2;
  return n;
}

export function buildScenario(m: Machine, s: Scenario): void {
  const ops = scenarioOperations(s);
  if (ops > MAX_SCENARIO_OPERATIONS) {
    throw new EmuError(
      ERROR_CODES.BAD_DOCUMENT,
      `scenario: building it needs ${ops} RMP updates and IOMMU leaves; the limit is ${MAX_SCENARIO_OPERATIONS}; fix: use 2 MB pages and leaves for large guests, or smaller ranges`,
      { path: ['scenario'] },
    );
  }
  m.firmware.snpInitialized = s.firmware.snpInit;
  m.firmware.tioInitialized = s.firmware.tioInit;
  try {
    validateStallModel(s.stallModel);
  } catch (e) {
    fail('stallModel', e instanceof Error ? e.message : String(e));
  }
  m.tmpm.setStallModel(s.stallModel);
  m.tmpm.config = tmpmConfigOf(s);

  s.guests.forEach((g, gi) => {
    m.guests.add(
      g.asid,
      g.ranges.map((r) => ({ gpa: r.gpa, spa: r.spa, length: r.length })),
      contextPage(m),
    );
    g.ranges.forEach((r, ri) => {
      // The pool at the top of memory holds page tables and the device table.
      if (r.spa + r.length > m.pool.baseSpa) {
        fail(`guests[${gi}].ranges[${ri}]`, `spa + length must stay below the page pool at ${toHex(m.pool.baseSpa)} (the top 1/16 of memory, at most 1 GiB); fix: use lower SPAs or more memoryBytes`);
      }
      if (r.rmp === 'none') return;
      const step = r.rmp === '2M' ? REGION : PAGE;
      const key = `guests[${gi}].ranges[${ri}]`;
      if (r.spa % step !== 0 || r.gpa % step !== 0 || r.length % step !== 0) {
        fail(key, `spa, gpa and length must be ${r.rmp === '2M' ? '2 MB' : '4 KB'} aligned for rmp "${r.rmp}"`);
      }
      for (let off = 0; off < r.length; off += step) {
        assign(m, key, r.spa + off, r.rmp, g.asid, r.gpa + off, false, r.validated);
      }
    });
  });

  s.rmpUpdates.forEach((u, ui) => {
    const step = u.pageSize === '2M' ? REGION : PAGE;
    for (let i = 0; i < u.count; i++) {
      const gpa = u.assigned ? u.gpa + i * step : 0;
      if (u.assigned) assign(m, `rmpUpdates[${ui}]`, u.spa + i * step, u.pageSize, u.asid, gpa, u.immutable, u.validated);
      else {
        const rc = m.rmp.rmpUpdate(u.spa + i * step, { assigned: false, pageSize: u.pageSize });
        if (rc !== RMP_RC.SUCCESS) fail(`rmpUpdates[${ui}]`, `RMPUPDATE of ${toHex(u.spa + i * step)} returned ${rmpRcName(rc)}`);
      }
    }
  });

  // Devices sharing a domain share its tables: the first one allocates the root.
  const roots = new Map<number, number>();
  s.devices.forEach((d, di) => {
    if (d.deviceId === s.tmpm.deviceId) fail(`devices[${di}].deviceId`, `${toHex(d.deviceId)} is the TMPM engine's requester ID (tmpm.deviceId); fix: use another device ID or move the engine`);
    if (d.domainId === s.tmpm.domainId) fail(`devices[${di}].domainId`, `domain ${d.domainId} is the TMPM engine's own domain (tmpm.domainId); fix: use another domain ID or move the engine's`);
    let root = roots.get(d.domainId);
    if (root === undefined) {
      root = m.pool.alloc(1);
      roots.set(d.domainId, root);
    }
    const mode = m.iommu.deviceTable.domains().get(d.domainId)?.mode ?? d.mode;
    m.iommu.setDte(d.deviceId, encodeDte({ valid: true, translationValid: true, mode, root, read: true, write: true, domainId: d.domainId }));
    if (d.boundAsid !== undefined) {
      if (!m.guests.has(d.boundAsid)) fail(`devices[${di}].boundAsid`, `no guest with ASID ${d.boundAsid}`);
      // Bound only once the firmware is up (protocol/README.md §13): as BIOS leaves it, nothing is; buildPsp binds it through its TDI.
    }
    d.mappings.forEach((map, mi) => {
      try {
        m.iommu.map(d.domainId, { iova: map.iova, spa: map.spa, length: map.length, sizeLg2: map.sizeLg2, read: map.read, write: map.write, fc: map.fc });
      } catch (e) {
        fail(`devices[${di}].mappings[${mi}]`, e instanceof Error ? e.message : String(e));
      }
    });
  });

  buildTmpm(m, s);
  buildPsp(m, s);

  s.streams.forEach((st, si) => {
    try {
      m.dma.startStream({ ...st });
    } catch (e) {
      fail(`streams[${si}]`, e instanceof Error ? e.message : String(e));
    }
  });
}

/**
 * A guest's context page: a pool page the firmware owns, RMP Assigned 1, Immutable
 * 1, ASID 0 (protocol/README.md §4.3.5, check 3); PSMASH_IO names the guest by it.
 */
function contextPage(m: Machine): number {
  const spa = m.pool.alloc(1);
  const rc = m.rmp.rmpUpdate(spa, { assigned: true, pageSize: '4K', asid: 0, gpa: 0, immutable: true });
  if (rc !== RMP_RC.SUCCESS) fail('guests', `RMPUPDATE of the guest context page ${toHex(spa)} returned ${rmpRcName(rc)}`);
  return spa;
}

/**
 * The TMPM's own device: a DTE (mode 3, an empty root) in its own domain, which a
 * driver maps entries' pages into under pdeAccess iommu. With `initialised`, the
 * ring as AMD's driver places it: the first 4 KB of a 2 MB-aligned allocation,
 * Hypervisor-Fixed in the RMP, one page (256 entries), INIT applied.
 */
function buildTmpm(m: Machine, s: Scenario): void {
  const root = m.pool.alloc(1);
  m.iommu.setDte(s.tmpm.deviceId, encodeDte({ valid: true, translationValid: true, mode: 3, root, read: true, write: true, domainId: s.tmpm.domainId }));
  if (!s.tmpm.initialised) return;
  const ring = m.pool.alloc(1, REGION);
  const rc = m.rmp.rmpUpdate(ring, { assigned: false, pageSize: '4K', immutable: true });
  if (rc !== RMP_RC.SUCCESS) fail('tmpm', `RMPUPDATE of the ring page ${toHex(ring)} (Hypervisor-Fixed) returned ${rmpRcName(rc)}`);
  try {
    m.tmpm.bringUp(ring, 1);
  } catch (e) {
    fail('tmpm', e instanceof Error ? e.message : String(e));
  }
}

/**
 * The PSP as Linux's probe leaves it (SNP_INIT_EX with tio_en, TIO_INIT done) or as
 * the BIOS does (`firmware.snpInit` false: nothing). Each device with `boundAsid` is
 * then bound by the firmware command path itself: fw.tdiBind's sequence (TIO_DEV_CREATE,
 * TIO_DEV_CONNECT, TIO_DEV_MEASUREMENTS, TIO_DEV_CERTIFICATES, TIO_TDI_CREATE,
 * TIO_TDI_BIND, TIO_TDI_BIND with RUN_FORCE, TIO_TDI_STATUS, every SPDM and TDISP
 * message relayed through the device's DOE mailbox) issued through the mailbox
 * registers, before time 0 (bringUpBeforeTimeZero).
 */
function buildPsp(m: Machine, s: Scenario): void {
  m.psp.config = pspConfigOf(s);
  m.psp.tio.tioEn = s.firmware.snpInit && s.tio.supported;
  if (s.firmware.tioInit && !m.psp.tio.tioEn) fail('firmware.tioInit', 'TIO cannot be initialised without SNP (snpInit) and SEV-TIO support (tio.supported)');
  m.firmware.tioInitialized = s.firmware.snpInit && s.firmware.tioInit;
  if (!m.firmware.tioInitialized) return;
  const bound = s.devices.flatMap((d, di) => (d.boundAsid === undefined ? [] : [{ deviceId: d.deviceId, asid: d.boundAsid, di }]));
  if (bound.length === 0) return;
  bringUpBeforeTimeZero(m, s.seed, () => {
    for (const b of bound) {
      const r = runSync(m, bindSteps(m, b.deviceId, b.asid));
      if (r.status !== FW_STATUS.SUCCESS) {
        const reason = typeof r.detail?.['reason'] === 'string' ? `: ${r.detail['reason']}` : '';
        fail(`devices[${b.di}].boundAsid`, `binding device ${toHex(b.deviceId)} to ASID ${b.asid} through the firmware returned ${r.statusName}${reason}; fix: make the device TEE-IO capable (teeIo) or drop boundAsid`);
      }
    }
  });
}

/** The build's own PRNG stream: the seed's, xored with this, so the platform's stream still starts at the seed. */
export const BRING_UP_SEED_XOR = 0x7e10_b007;

/**
 * Runs firmware commands that belong to the platform's state at start (the bring-up
 * a host did before the client came): on the virtual clock, which is then set back to
 * 0; with the PRNG drawing from a stream of its own (seed ^ BRING_UP_SEED_XOR), the
 * platform's stream then restored to where it was; with the event bus silent.
 * protocol/README.md §4.7.5.
 */
function bringUpBeforeTimeZero(m: Machine, seed: number, fn: () => void): void {
  const rng = m.rng.getState();
  const startNs = m.clock.nowNs;
  m.rng.reseed((seed ^ BRING_UP_SEED_XOR) >>> 0);
  try {
    m.bus.quiet(fn);
  } finally {
    m.rng.setState(rng);
  }
  if (m.clock.queue.size !== 0) throw new EmuError(ERROR_CODES.BAD_DOCUMENT, 'scenario: the bring-up left clock events pending');
  m.clock.nowNs = startNs;
}

function assign(m: Machine, key: string, spa: number, pageSize: '2M' | '4K', asid: number, gpa: number, immutable: boolean, validated: boolean): void {
  const rc = m.rmp.rmpUpdate(spa, { assigned: true, pageSize, asid, gpa, immutable });
  if (rc !== RMP_RC.SUCCESS) fail(key, `RMPUPDATE of ${toHex(spa)} (${pageSize}) returned ${rmpRcName(rc)}`);
  if (!validated) return;
  const r = m.rmp.pvalidate(spa, { asid, gpa, pageSize, validate: true });
  if (!('rc' in r) || r.rc !== RMP_RC.SUCCESS) fail(key, `PVALIDATE of GPA ${toHex(gpa)} failed`);
}

/** `devices[0].mappings[1]` -> ['scenario', 'devices', 0, 'mappings', 1] (the -32602 issue path). */
function keyPath(key: string): Array<string | number> {
  return [
    'scenario',
    ...key
      .split(/[.[\]]+/)
      .filter((k) => k !== '')
      .map((k) => (/^\d+$/.test(k) ? Number(k) : k)),
  ];
}

function fail(key: string, message: string): never {
  throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `scenario.${key}: ${message}`, { path: keyPath(key) });
}
