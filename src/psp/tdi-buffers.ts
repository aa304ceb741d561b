/**
 * The command buffers and output pages of the SEV-TIO TDI commands (phase 2), as
 * AMD's tree lays them out at e06462b9 (docs/sev-firmware.md §2.8): every offset and
 * flag bit of those commands here and nowhere else.
 */
import { field, layout } from './layout.js';
import { SPDM_CTRL } from './buffers.js';

const ctrl = {
  reqSla: field(8 + SPDM_CTRL.req, 8),
  respSla: field(8 + SPDM_CTRL.resp, 8),
  scratchSla: field(8 + SPDM_CTRL.scratch, 8),
  outputSla: field(8 + SPDM_CTRL.output, 8),
};

export const TIO_DEV_STATUS_BUF = layout('sev_data_tio_dev_status', 32, { length: field(0, 4), devCtxSla: field(8, 8), statusPaddr: field(16, 8) });
export const TIO_DEV_MEASUREMENTS_BUF = layout('sev_data_tio_dev_meas', 80, { length: field(0, 4), flags: field(4, 4), ...ctrl, devCtxSla: field(40, 8) });
/** TIO_DEV_MEASUREMENTS meas_nonce: 32 bytes at 48. */
export const MEAS_NONCE = { offset: 48, bytes: 32 } as const;
/** TIO_DEV_MEASUREMENTS flags bit 0: RAW_BITSTREAM. */
export const MEAS_RAW_BITSTREAM = 1 << 0;
export const TIO_DEV_CERTIFICATES_BUF = layout('sev_data_tio_dev_certs', 48, { length: field(0, 4), ...ctrl, devCtxSla: field(40, 8) });

export const TIO_TDI_CREATE_BUF = layout('sev_data_tio_tdi_create', 48, { length: field(0, 4), devCtxSla: field(8, 8), tdiCtxSla: field(16, 8), functionId: field(24, 4) });
export const TIO_TDI_RECLAIM_BUF = layout('sev_data_tio_tdi_reclaim', 32, { length: field(0, 4), devCtxSla: field(8, 8), tdiCtxSla: field(16, 8) });
export const TIO_TDI_BIND_BUF = layout('sev_data_tio_tdi_bind', 80, {
  length: field(0, 4),
  ...ctrl,
  devCtxSla: field(40, 8),
  tdiCtxSla: field(48, 8),
  gctxPaddr: field(56, 8),
  guestDeviceId: field(64, 2),
  tdispLockIfFlags: field(66, 2),
  runFlags: field(68, 2),
  queueId: field(70, 2),
  hostDomainId: field(72, 2),
});
/** TIO_TDI_BIND run_flags bit 0: RUN_FORCE (START_INTERFACE after the lock). */
export const BIND_RUN_FORCE = 1 << 0;
/** tdisp_lock_if_flags: NO_FW_UPDATE, LOCK_MSIX, BIND_P2P, ALL_REQUEST_REDIRECT. */
export const LOCK_IF = { NO_FW_UPDATE: 1 << 0, LOCK_MSIX: 1 << 2, BIND_P2P: 1 << 3, ALL_REQUEST_REDIRECT: 1 << 4 } as const;
export const TIO_TDI_UNBIND_BUF = layout('sev_data_tio_tdi_unbind', 64, { length: field(0, 4), flags: field(4, 4), ...ctrl, devCtxSla: field(40, 8), tdiCtxSla: field(48, 8), gctxPaddr: field(56, 8) });
/** TIO_TDI_UNBIND flags bit 0: FORCE (nothing is exchanged with the device). */
export const UNBIND_FORCE = 1 << 0;
export const TIO_TDI_REPORT_BUF = layout('sev_data_tio_tdi_report', 64, { length: field(0, 4), ...ctrl, devCtxSla: field(40, 8), tdiCtxSla: field(48, 8), gctxPaddr: field(56, 8) });
export const TIO_TDI_STATUS_BUF = layout('sev_data_tio_tdi_status', 64, { length: field(0, 4), ...ctrl, devCtxSla: field(40, 8), tdiCtxSla: field(48, 8), statusPaddr: field(56, 8) });
export const TIO_TDI_INFO_BUF = layout('sev_data_tio_tdi_info', 48, { length: field(0, 4), version: field(4, 1), devCtxSla: field(8, 8), tdiCtxSla: field(16, 8), statusPaddr: field(24, 8) });
export const TIO_GUEST_REQUEST_BUF = layout('sev_data_tio_guest_request', 80, {
  length: field(0, 4),
  ...ctrl,
  devCtxSla: field(40, 8),
  tdiCtxSla: field(48, 8),
  gctxPaddr: field(56, 8),
  reqPaddr: field(64, 8),
  resPaddr: field(72, 8),
});
export const TIO_ASID_FENCE_CLEAR_BUF = layout('sev_data_tio_asid_fence_clear', 32, { length: field(0, 4), devCtxSla: field(8, 8), gctxPaddr: field(16, 8) });
/** status_pa sits at offset 20, unaligned, as in AMD's struct. */
export const TIO_ASID_FENCE_STATUS_BUF = layout('sev_data_tio_asid_fence_status', 32, { length: field(0, 4), devCtxSla: field(8, 8), asid: field(16, 4), statusPaddr: field(20, 8) });

/** DEV_STATUS output (160 B). */
export const TIO_DEV_STATUS_PAGE = layout('sev_tio_dev_status', 160, {
  length: field(0, 4),
  ctxState: field(4, 1),
  p1: field(6, 1),
  certsSlot: field(7, 1),
  deviceId: field(8, 2),
  segmentId: field(10, 1),
  tcMask: field(11, 1),
  p2: field(28, 1),
  ideStreamId: field(32, 8),
  tdiCount: field(144, 4),
  boundTdiCount: field(148, 4),
  algoDhe: field(152, 1),
  algoAead: field(153, 1),
  algoAsym: field(154, 1),
  algoHash: field(155, 1),
  algoKeySched: field(156, 1),
});
export const DEV_STATUS_CERTS_DIGEST = 48;
export const DEV_STATUS_MEAS_DIGEST = 96;
/** DEV_STATUS p2 (byte 28): bit 0 meas_digest_valid (bit 1 no_fw_update). */
export const DEV_STATUS_P2_MEAS_DIGEST_VALID = 1 << 0;
/** DEV_STATUS ctx_state: our values (0 created, 1 connected). */
export const DEV_CTX_STATE = { created: 0, connected: 1 } as const;

/** TDI_INFO output (200 B at e06462b9). */
export const TIO_TDI_INFO_PAGE = layout('sev_tio_tdi_info', 200, {
  length: field(0, 4),
  functionId: field(4, 4),
  p1: field(16, 4),
  p2: field(20, 4),
  algoDhe: field(24, 1),
  algoAead: field(25, 1),
  algoAsym: field(26, 1),
  algoHash: field(27, 1),
  algoKeySched: field(28, 1),
  intfReportCounter: field(176, 8),
  asid: field(184, 4),
  tdiId: field(192, 8),
});
export const TDI_INFO_CERTS_DIGEST = 32;
export const TDI_INFO_MEAS_DIGEST = 80;
export const TDI_INFO_REPORT_DIGEST = 128;
/** TDI_INFO p1: bit 0 meas_digest_valid, bit 1 meas_digest_fresh, bits 3:2 tdi_status. */
export const TDI_INFO_P1_STATUS_SHIFT = 2;
export const TDI_INFO_P1_MEAS_DIGEST_VALID = 1 << 0;

/** TDI_STATUS output (16 B): tdisp_state at 4. */
export const TIO_TDI_STATUS_PAGE = layout('sev_tio_tdi_status', 16, { length: field(0, 4), tdispState: field(4, 1) });

/** ASID_FENCE_STATUS output: a u64; bits 1:0 DMA fence (0 none, 1 error-fenced, 3 default-fenced), bits 3:2 MMIO fence (3 fenced). */
export const FENCE_STATUS_PAGE = layout('asid_fence_status', 8, { value: field(0, 8) });
export const DMA_FENCE = { NONE: 0, ERROR: 1, DEFAULT: 3 } as const;
export const MMIO_FENCE_SHIFT = 2;

/** The algorithm bytes the firmware reports (our choice: DHE secp384r1, AEAD AES-256-GCM, ECDSA P-384, SHA-384, key schedule SPDM). */
export const ALGOS = { dhe: 0x10, aead: 0x02, asym: 0x80, hash: 0x02, keySched: 0x01 } as const;
