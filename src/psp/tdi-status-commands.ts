/**
 * The TIO commands that report or lift what the TDI commands (tdi-commands.ts) set,
 * exchanging nothing with the device (docs/sev-firmware.md §2.8 for the layouts,
 * protocol/README.md §4.7 for the rules): TIO_DEV_STATUS, TIO_TDI_STATUS,
 * TIO_TDI_INFO, TIO_ASID_FENCE_STATUS and TIO_ASID_FENCE_CLEAR.
 */
import { FW_STATUS } from '../firmware/status.js';
import { writeBytes } from './bytes.js';
import { decode, encode } from './layout.js';
import {
  ALGOS,
  DEV_CTX_STATE,
  DEV_STATUS_CERTS_DIGEST,
  DEV_STATUS_MEAS_DIGEST,
  DEV_STATUS_P2_MEAS_DIGEST_VALID,
  DMA_FENCE,
  FENCE_STATUS_PAGE,
  MMIO_FENCE_SHIFT,
  TDI_INFO_CERTS_DIGEST,
  TDI_INFO_MEAS_DIGEST,
  TDI_INFO_P1_MEAS_DIGEST_VALID,
  TDI_INFO_P1_STATUS_SHIFT,
  TDI_INFO_REPORT_DIGEST,
  TIO_ASID_FENCE_CLEAR_BUF,
  TIO_ASID_FENCE_STATUS_BUF,
  TIO_DEV_STATUS_BUF,
  TIO_DEV_STATUS_PAGE,
  TIO_TDI_INFO_BUF,
  TIO_TDI_INFO_PAGE,
  TIO_TDI_STATUS_BUF,
  TIO_TDI_STATUS_PAGE,
} from './tdi-buffers.js';
import type { CommandContext, CommandOutcome, DevCtx } from './psp-config.js';
import { fail, ok } from './command-outcome.js';
import { deviceDigests, putDigest, reportDigest } from './tdi-digests.js';
import { TDISP_STATE } from './tdisp.js';
import { devCtxOf, isOutcome, needTio, outputPage, tdiOf } from './tdi-commands.js';
/** TIO_DEV_STATUS (0xD6): the 160-byte device status to a firmware page. */
export function tioDevStatus(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_DEV_STATUS_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const spa = outputPage(c, b.statusPaddr, TIO_DEV_STATUS_PAGE.bytes, 'status_paddr');
  if (isOutcome(spa)) return spa;
  const tdis = c.tio.tdis.filter((t) => t.ctxDeviceId === ctx.deviceId);
  const digests = deviceDigests(ctx);
  const page = encode(TIO_DEV_STATUS_PAGE, {
    length: TIO_DEV_STATUS_PAGE.bytes,
    ctxState: DEV_CTX_STATE[ctx.state],
    deviceId: ctx.deviceId,
    segmentId: 0,
    tcMask: ctx.state === 'connected' ? 1 : 0,
    p2: digests.meas !== null ? DEV_STATUS_P2_MEAS_DIGEST_VALID : 0,
    ideStreamId: BigInt(ctx.ideStreamId),
    tdiCount: tdis.length,
    boundTdiCount: tdis.filter((t) => t.state !== 'CONFIG_UNLOCKED').length,
    ...(ctx.state === 'connected' ? { algoDhe: ALGOS.dhe, algoAead: ALGOS.aead, algoAsym: ALGOS.asym, algoHash: ALGOS.hash, algoKeySched: ALGOS.keySched } : {}),
  });
  putDigest(page, DEV_STATUS_CERTS_DIGEST, digests.certs);
  putDigest(page, DEV_STATUS_MEAS_DIGEST, digests.meas);
  writeBytes(c.memory, spa, page);
  return ok;
}

/** TIO_TDI_STATUS (0xDF): the TDI's TDISP state to a firmware page (the firmware's own record: nothing exchanged). */
export function tioTdiStatus(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_STATUS_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const t = tdiOf(c, ctx, b.tdiCtxSla);
  if (isOutcome(t)) return t;
  const spa = outputPage(c, b.statusPaddr, TIO_TDI_STATUS_PAGE.bytes, 'status_paddr');
  if (isOutcome(spa)) return spa;
  writeBytes(c.memory, spa, encode(TIO_TDI_STATUS_PAGE, { length: TIO_TDI_STATUS_PAGE.bytes, tdispState: TDISP_STATE[t.state] }));
  return { status: FW_STATUS.SUCCESS, detail: { functionId: t.functionId, tdispState: t.state } };
}

/** TIO_TDI_INFO (0xE3): the 200-byte TDI info to a firmware page. */
export function tioTdiInfo(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_TDI_INFO_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const t = tdiOf(c, ctx, b.tdiCtxSla);
  if (isOutcome(t)) return t;
  const spa = outputPage(c, b.statusPaddr, TIO_TDI_INFO_PAGE.bytes, 'status_paddr');
  if (isOutcome(spa)) return spa;
  const digests = deviceDigests(ctx);
  const page = encode(TIO_TDI_INFO_PAGE, {
    length: TIO_TDI_INFO_PAGE.bytes,
    functionId: t.functionId,
    p1: (TDISP_STATE[t.state] << TDI_INFO_P1_STATUS_SHIFT) | (digests.meas !== null ? TDI_INFO_P1_MEAS_DIGEST_VALID : 0),
    p2: t.lockFlags,
    algoDhe: ALGOS.dhe,
    algoAead: ALGOS.aead,
    algoAsym: ALGOS.asym,
    algoHash: ALGOS.hash,
    algoKeySched: ALGOS.keySched,
    intfReportCounter: BigInt(t.reportCounter),
    asid: t.asid ?? 0,
    tdiId: BigInt(t.guestDeviceId),
  });
  putDigest(page, TDI_INFO_CERTS_DIGEST, digests.certs);
  putDigest(page, TDI_INFO_MEAS_DIGEST, digests.meas);
  putDigest(page, TDI_INFO_REPORT_DIGEST, reportDigest(t));
  writeBytes(c.memory, spa, page);
  return ok;
}

/** TIO_ASID_FENCE_STATUS (0xE2): the u64 fence status of the device's functions for an ASID. */
export function tioAsidFenceStatus(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_ASID_FENCE_STATUS_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  if (!c.guests.has(b.asid)) return fail(FW_STATUS.INVALID_ASID, `no SNP guest with ASID ${b.asid}`, { asid: b.asid });
  const spa = outputPage(c, b.statusPaddr, FENCE_STATUS_PAGE.bytes, 'status_pa');
  if (isOutcome(spa)) return spa;
  const fenced = functionsOf(c, ctx).some((f) => c.firmware.fencedAsid(f) === b.asid);
  const value = fenced ? BigInt(DMA_FENCE.DEFAULT | (3 << MMIO_FENCE_SHIFT)) : 0n;
  writeBytes(c.memory, spa, encode(FENCE_STATUS_PAGE, { value }));
  return { status: FW_STATUS.SUCCESS, detail: { asid: b.asid, dmaFence: fenced ? DMA_FENCE.DEFAULT : DMA_FENCE.NONE } };
}

/** TIO_ASID_FENCE_CLEAR (0xE1): lifts the fence of the device's functions from the guest's ASID. */
export function tioAsidFenceClear(c: CommandContext, buf: Uint8Array): CommandOutcome {
  const notReady = needTio(c);
  if (notReady !== null) return notReady;
  const b = decode(TIO_ASID_FENCE_CLEAR_BUF, buf);
  const ctx = devCtxOf(c, b.devCtxSla);
  if (isOutcome(ctx)) return ctx;
  const guest = c.guests.byContextPage(c.strip(b.gctxPaddr));
  if (guest === undefined) return fail(FW_STATUS.INVALID_GUEST, "gctx_paddr is not a live guest's context page");
  const cleared: number[] = [];
  for (const f of functionsOf(c, ctx)) {
    if (c.firmware.fencedAsid(f) === guest.asid) {
      c.firmware.setFence(f, null);
      cleared.push(f);
    }
  }
  return { status: FW_STATUS.SUCCESS, detail: { asid: guest.asid, cleared } };
}

/** The functions a device context speaks for: its own RID and its TDIs'. */
function functionsOf(c: CommandContext, ctx: DevCtx): number[] {
  const s = new Set<number>([ctx.deviceId]);
  for (const t of c.tio.tdis) if (t.ctxDeviceId === ctx.deviceId) s.add(t.functionId);
  for (const f of c.firmware.fences.keys()) if (f >>> 3 === ctx.deviceId >>> 3) s.add(f);
  return [...s];
}
