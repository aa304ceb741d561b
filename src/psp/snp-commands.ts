/**
 * The SNP commands around TEE-IO (docs/sev-firmware.md §2.4 for the layouts,
 * protocol/README.md §4.2 for the rules where Linux is silent): each run gets the
 * command buffer as read when the command started and returns its status; outputs
 * go to memory when it ends.
 */
import { tdiHolding } from './tdi-commands.js';
import { PAGE_BYTES } from '../memory/host-memory.js';
import { FW_STATUS } from '../firmware/status.js';
import { readBytes, writeBytes } from './bytes.js';
import { decode, encode } from './layout.js';
import {
  FEATURE_EBX_SEV_TIO,
  FEATURE_ECX_X86_SHUTDOWN,
  INIT_EX_LIST_PADDR_EN,
  INIT_EX_TIO_EN,
  PADDR_PAGE_SIZE_2M,
  RANGE_ENTRY,
  RANGE_LIST_HDR,
  RANGE_LIST_MAX_ELEMENTS,
  SEV_USER_DATA_STATUS,
  SNP_ADDR_BUF,
  SNP_FEATURE_INFO_BUF,
  SNP_FEATURE_INFO_OUT,
  SNP_INIT_EX_BUF,
  SNP_STATE_INIT,
  SNP_STATE_UNINIT,
  SNP_STATUS_FEATURE_INFO,
  SNP_STATUS_PAGE,
} from './buffers.js';
import type { CommandContext, CommandOutcome } from './psp-config.js';
import { fail, isFirmwarePage, ok } from './command-outcome.js';
import { RMP_RC } from '../rmp/return-codes.js';

const REGION_BYTES = 2 * 1024 * 1024;
/** Most pages one RANGE_LIST may name (1 GiB): a bound on the work of one SNP_INIT_EX. */
export const RANGE_LIST_MAX_PAGES = 262_144;

/** `bytes` at `spa` the firmware may write: INVALID_ADDRESS outside memory; after SNP_INIT the page must be a firmware page. */
function outputPage(c: CommandContext, spa: number, bytes: number, what: string): CommandOutcome | null {
  if (!c.memory.contains(spa, bytes)) return fail(FW_STATUS.INVALID_ADDRESS, `${what} 0x${spa.toString(16)} + ${bytes} bytes is outside memory`, { spa: BigInt(spa) });
  if (!c.firmware.snpInitialized) return null;
  const page = spa - (spa % PAGE_BYTES);
  const last = spa + bytes - 1 - ((spa + bytes - 1) % PAGE_BYTES);
  for (const p of page === last ? [page] : [page, last]) {
    if (!isFirmwarePage(c, p)) return fail(FW_STATUS.INVALID_PAGE_STATE, `${what}: the page 0x${p.toString(16)} is not a firmware page (RMP Assigned, ASID 0, Immutable)`, { spa: BigInt(p) });
  }
  return null;
}

function needSnp(c: CommandContext): CommandOutcome | null {
  return c.firmware.snpInitialized ? null : fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SNP is not initialised (SNP_INIT / SNP_INIT_EX first)');
}

/** SEV PLATFORM_STATUS (0x04): the legacy 12-byte status, written in place; answered in every state. */
export function sevPlatformStatus(c: CommandContext, _buf: Uint8Array, bufSpa: number): CommandOutcome {
  writeBytes(c.memory, bufSpa, encode(SEV_USER_DATA_STATUS, { apiMajor: c.config.apiMajor, apiMinor: c.config.apiMinor, state: 0, flags: 0, build: c.config.buildId & 0xff, guestCount: c.guests.list().length }));
  return ok;
}

/** SNP_INIT (0x81, no buffer). */
export function snpInit(c: CommandContext): CommandOutcome {
  if (c.firmware.snpInitialized) return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SNP is already initialised');
  c.firmware.snpInitialized = true;
  c.tio.tioEn = false;
  return ok;
}

/** SNP_INIT_EX (0x85): the RANGE_LIST pages become Hypervisor-Fixed; tio_en enables TIO. */
export function snpInitEx(c: CommandContext, buf: Uint8Array): CommandOutcome {
  if (c.firmware.snpInitialized) return fail(FW_STATUS.INVALID_PLATFORM_STATE, 'SNP is already initialised');
  const b = decode(SNP_INIT_EX_BUF, buf);
  const tioEn = (b.flags & INIT_EX_TIO_EN) !== 0;
  if (tioEn && !c.config.tioSupported) return fail(FW_STATUS.UNSUPPORTED, 'tio_en is set but SEV-TIO is not supported (SNP_FEATURE_INFO EBX bit 1 is 0)');
  const fixed: number[] = [];
  if ((b.flags & INIT_EX_LIST_PADDR_EN) !== 0) {
    const listSpa = c.strip(b.listPaddr);
    if (!c.memory.contains(listSpa, RANGE_LIST_HDR.bytes)) return fail(FW_STATUS.INVALID_ADDRESS, `list_paddr 0x${listSpa.toString(16)} is outside memory`, { spa: BigInt(listSpa) });
    const n = decode(RANGE_LIST_HDR, readBytes(c.memory, listSpa, RANGE_LIST_HDR.bytes)).numElements;
    if (n > RANGE_LIST_MAX_ELEMENTS) return fail(FW_STATUS.INVALID_PARAM, `the RANGE_LIST has ${n} elements; one page holds at most ${RANGE_LIST_MAX_ELEMENTS}`);
    if (!c.memory.contains(listSpa, RANGE_LIST_HDR.bytes + n * RANGE_ENTRY.bytes)) return fail(FW_STATUS.INVALID_ADDRESS, 'the RANGE_LIST runs past the end of memory', { spa: BigInt(listSpa) });
    const list = readBytes(c.memory, listSpa + RANGE_LIST_HDR.bytes, n * RANGE_ENTRY.bytes);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = decode(RANGE_ENTRY, list.subarray(i * RANGE_ENTRY.bytes, (i + 1) * RANGE_ENTRY.bytes));
      const base = c.strip(r.base);
      total += r.pageCount;
      if (total > RANGE_LIST_MAX_PAGES) return fail(FW_STATUS.RESOURCE_LIMIT, `the RANGE_LIST names more than ${RANGE_LIST_MAX_PAGES} pages`);
      if (base % PAGE_BYTES !== 0 || !c.memory.contains(base, r.pageCount * PAGE_BYTES))
        return fail(FW_STATUS.INVALID_ADDRESS, `range ${i}: base 0x${base.toString(16)} is not 4 KB aligned or the range runs outside memory`, { index: i, spa: BigInt(base) });
      for (let k = 0; k < r.pageCount; k++) {
        const spa = base + k * PAGE_BYTES;
        const e = c.rmp.read(spa);
        if (e.immutable && (!e.assigned || e.asid === 0)) continue; // Hypervisor-Fixed already, or a firmware page
        if (e.assigned)
          return fail(FW_STATUS.INVALID_PAGE_STATE, `range ${i}: page 0x${spa.toString(16)} is assigned (ASID ${e.asid}); a range must hold hypervisor-owned or firmware pages`, { index: i, spa: BigInt(spa) });
        fixed.push(spa);
      }
    }
  }
  for (const spa of fixed) {
    if (c.rmp.rmpUpdate(spa, { assigned: false, pageSize: '4K', immutable: true }) !== RMP_RC.SUCCESS)
      return fail(FW_STATUS.INVALID_PAGE_STATE, `page 0x${spa.toString(16)} could not be made Hypervisor-Fixed`, { spa: BigInt(spa) });
  }
  c.firmware.snpInitialized = true;
  c.tio.tioEn = tioEn;
  return ok;
}

/** SNP_SHUTDOWN_EX (0x86): a live TIO device context refuses it (IN_USE); the RMP is kept. */
export function snpShutdownEx(c: CommandContext): CommandOutcome {
  if (c.tio.contexts.length > 0) return fail(FW_STATUS.IN_USE, `${c.tio.contexts.length} TIO device context(s) are live: disconnect and reclaim them first`, { deviceId: c.tio.contexts[0]?.deviceId });
  c.firmware.snpInitialized = false;
  c.firmware.tioInitialized = false;
  c.tio.tioEn = false;
  c.tio.exchange = null;
  return ok;
}

/** SNP_PLATFORM_STATUS (0x83): the 32-byte status at `address`. */
export function snpPlatformStatus(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const spa = c.strip(decode(SNP_ADDR_BUF, buf).address);
  const bad = outputPage(c, spa, SNP_STATUS_PAGE.bytes, 'the status address');
  if (bad !== null) return bad;
  const init = c.firmware.snpInitialized;
  writeBytes(
    c.memory,
    spa,
    encode(SNP_STATUS_PAGE, {
      apiMajor: c.config.apiMajor,
      apiMinor: c.config.apiMinor,
      state: init ? SNP_STATE_INIT : SNP_STATE_UNINIT,
      isRmpInitialized: init ? 1 : 0,
      buildId: c.config.buildId,
      featureFlags: SNP_STATUS_FEATURE_INFO,
      guestCount: c.guests.list().length,
      currentTcbVersion: 0n,
      reportedTcbVersion: 0n,
    }),
  );
  return ok;
}

/** SNP_FEATURE_INFO (0xCE): ecx_in 0 only; EBX bit 1 SEV-TIO, ECX bit 1 X86_SHUTDOWN. */
export function snpFeatureInfo(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const b = decode(SNP_FEATURE_INFO_BUF, buf);
  if (b.ecxIn !== 0) return fail(FW_STATUS.INVALID_PARAM, `ecx_in ${b.ecxIn}: only leaf 0 exists`);
  const spa = c.strip(b.featureInfoPaddr);
  const bad = outputPage(c, spa, SNP_FEATURE_INFO_OUT.bytes, 'feature_info_paddr');
  if (bad !== null) return bad;
  writeBytes(c.memory, spa, encode(SNP_FEATURE_INFO_OUT, { eax: 0, ebx: c.config.tioSupported ? FEATURE_EBX_SEV_TIO : 0, ecx: FEATURE_ECX_X86_SHUTDOWN, edx: 0 }));
  return ok;
}

/** SNP_DF_FLUSH (0x84, no buffer). */
export function snpDfFlush(c: CommandContext): CommandOutcome {
  return needSnp(c) ?? ok;
}

/**
 * SNP_PAGE_RECLAIM (0xC7): an immutable page (or 2 MB region) that is not a guest's:
 * a firmware page, a Hypervisor-Fixed page, or a TIO context page whose context was
 * reclaimed. Immutable clears.
 */
export function snpPageReclaim(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needSnp(c);
  if (notReady !== null) return notReady;
  const paddr = decode(SNP_ADDR_BUF, buf).address;
  const large = (paddr & PADDR_PAGE_SIZE_2M) !== 0n;
  const spa = c.strip(paddr & ~PADDR_PAGE_SIZE_2M);
  const align = large ? REGION_BYTES : PAGE_BYTES;
  if (spa % align !== 0) return fail(FW_STATUS.INVALID_ADDRESS, `paddr 0x${spa.toString(16)} is not ${large ? '2 MB' : '4 KB'} aligned`, { spa: BigInt(spa) });
  if (!c.memory.contains(spa, align)) return fail(FW_STATUS.INVALID_ADDRESS, `paddr 0x${spa.toString(16)} is outside memory`, { spa: BigInt(spa) });
  const e = c.rmp.read(spa);
  if ((e.pageSize === '2M') !== large) return fail(FW_STATUS.INVALID_PAGE_SIZE, `the RMP entry at 0x${spa.toString(16)} is ${e.pageSize}, paddr bit 0 says ${large ? '2M' : '4K'}`, { spa: BigInt(spa) });
  if (!e.immutable) return fail(FW_STATUS.INVALID_PAGE_STATE, `the page 0x${spa.toString(16)} is not immutable: nothing to reclaim`, { spa: BigInt(spa) });
  if (e.assigned && e.asid !== 0) return fail(FW_STATUS.INVALID_PAGE_STATE, `the page 0x${spa.toString(16)} belongs to ASID ${e.asid}`, { spa: BigInt(spa), asid: e.asid });
  const guest = c.guests.byContextPage(spa);
  if (guest !== undefined) return fail(FW_STATUS.INVALID_PAGE_STATE, `the page 0x${spa.toString(16)} is the context page of the live guest ASID ${guest.asid}`, { spa: BigInt(spa), asid: guest.asid });
  for (const ctx of c.tio.contexts) {
    if (ctx.pages.some((p) => p >= spa && p < spa + align)) {
      return fail(FW_STATUS.INVALID_PAGE_STATE, `the page 0x${spa.toString(16)} holds the live TIO context of device 0x${ctx.deviceId.toString(16).padStart(4, '0')} (TIO_DEV_RECLAIM first)`, {
        spa: BigInt(spa),
        deviceId: ctx.deviceId,
      });
    }
  }
  const tdi = tdiHolding(c, spa, align);
  if (tdi !== undefined)
    return fail(FW_STATUS.INVALID_PAGE_STATE, `the page 0x${spa.toString(16)} holds the live TDI context of function 0x${tdi.functionId.toString(16).padStart(4, '0')} (TIO_TDI_RECLAIM first)`, {
      spa: BigInt(spa),
      functionId: tdi.functionId,
    });
  c.rmp.clearImmutable(spa, large ? '2M' : '4K');
  return ok;
}

/** SNP_PAGE_UNSMASH (0xC8): 512 4 KB RMP entries back into one 2 MB entry (paddr bit 0 ignored). */
export function snpPageUnsmash(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needSnp(c);
  if (notReady !== null) return notReady;
  const spa = c.strip(decode(SNP_ADDR_BUF, buf).address & ~PADDR_PAGE_SIZE_2M);
  if (spa % REGION_BYTES !== 0 || !c.memory.contains(spa, PAGE_BYTES)) return fail(FW_STATUS.INVALID_ADDRESS, 'paddr must be a 2 MB-aligned address inside memory', { spa: BigInt(spa) });
  const check = c.rmp.pageUnsmash(spa);
  if (check.ok) return ok;
  const status = check.reason === 'already-2m' ? FW_STATUS.INVALID_PAGE_SIZE : check.reason === 'misaligned' ? FW_STATUS.INVALID_ADDRESS : FW_STATUS.INVALID_PAGE_STATE;
  return fail(status, check.detail, check.index !== undefined ? { index: check.index } : {});
}
