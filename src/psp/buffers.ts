/**
 * The command buffers of the SNP and SEV-TIO commands the PSP serves, and the pages
 * they write, as Linux v6.19 lays them out (docs/sev-firmware.md §2.4, §2.7): every
 * offset and flag bit here and nowhere else.
 */
import { field, layout } from './layout.js';

// ---- SNP (docs/sev-firmware.md §2.4) ------------------------------------------------

/** SEV PLATFORM_STATUS (0x04): `sev_user_data_status`, 12 B, written in place. */
export const SEV_USER_DATA_STATUS = layout('sev_user_data_status', 12, {
  apiMajor: field(0, 1),
  apiMinor: field(1, 1),
  state: field(2, 1),
  flags: field(3, 4),
  build: field(7, 1),
  guestCount: field(8, 4),
});

/** SNP_INIT_EX (0x85): `sev_data_snp_init_ex`, 64 B. No `length` field. */
export const SNP_INIT_EX_BUF = layout('sev_data_snp_init_ex', 64, {
  flags: field(0, 4),
  listPaddr: field(8, 8),
  maxSnpAsid: field(16, 2),
});
export const INIT_EX_INIT_RMP = 1 << 0;
export const INIT_EX_LIST_PADDR_EN = 1 << 1;
export const INIT_EX_RAPL_DIS = 1 << 2;
export const INIT_EX_CIPHERTEXT_HIDING_EN = 1 << 3;
export const INIT_EX_TIO_EN = 1 << 4;

/** The RANGE_LIST SNP_INIT_EX points at: a header, then 16-byte ranges (the kernel caps it at one page). */
export const RANGE_LIST_HDR = layout('sev_data_range_list', 8, { numElements: field(0, 4) });
export const RANGE_ENTRY = layout('sev_data_range', 16, { base: field(0, 8), pageCount: field(8, 4) });
export const RANGE_LIST_MAX_ELEMENTS = (4096 - RANGE_LIST_HDR.bytes) / RANGE_ENTRY.bytes;

/** SNP_SHUTDOWN_EX (0x86): `sev_data_snp_shutdown_ex`, 8 B. */
export const SNP_SHUTDOWN_EX_BUF = layout('sev_data_snp_shutdown_ex', 8, { length: field(0, 4), flags: field(4, 4) });
export const SHUTDOWN_EX_IOMMU_SNP_SHUTDOWN = 1 << 0;
export const SHUTDOWN_EX_X86_SNP_SHUTDOWN = 1 << 1;

/** SNP_PLATFORM_STATUS (0x83), SNP_PAGE_RECLAIM (0xC7), SNP_PAGE_UNSMASH (0xC8): `sev_data_snp_addr`, 8 B. */
export const SNP_ADDR_BUF = layout('sev_data_snp_addr', 8, { address: field(0, 8) });
/** SNP_PAGE_RECLAIM / SNP_PAGE_UNSMASH paddr bit 0: the page size (0 = 4 KB, 1 = 2 MB). */
export const PADDR_PAGE_SIZE_2M = 1n;

/** The page SNP_PLATFORM_STATUS writes: `sev_user_data_snp_status`, 32 B. */
export const SNP_STATUS_PAGE = layout('sev_user_data_snp_status', 32, {
  apiMajor: field(0, 1),
  apiMinor: field(1, 1),
  state: field(2, 1),
  isRmpInitialized: field(3, 1),
  buildId: field(4, 4),
  featureFlags: field(8, 4),
  guestCount: field(12, 4),
  currentTcbVersion: field(16, 8),
  reportedTcbVersion: field(24, 8),
});
/** SNP_STATUS_PAGE.featureFlags bit 3: SNP_FEATURE_INFO is supported. */
export const SNP_STATUS_FEATURE_INFO = 1 << 3;
export const SNP_STATE_UNINIT = 0;
export const SNP_STATE_INIT = 1;

/** SNP_FEATURE_INFO (0xCE): `sev_data_snp_feature_info`, 16 B; the output is {eax, ebx, ecx, edx}. */
export const SNP_FEATURE_INFO_BUF = layout('sev_data_snp_feature_info', 16, { length: field(0, 4), ecxIn: field(4, 4), featureInfoPaddr: field(8, 8) });
export const SNP_FEATURE_INFO_OUT = layout('snp_feature_info', 16, { eax: field(0, 4), ebx: field(4, 4), ecx: field(8, 4), edx: field(12, 4) });
/** EBX bit 1: SEV-TIO is supported. */
export const FEATURE_EBX_SEV_TIO = 1 << 1;
/** ECX bit 1: X86_SHUTDOWN (SNP_SHUTDOWN_EX.x86_snp_shutdown). */
export const FEATURE_ECX_X86_SHUTDOWN = 1 << 1;

// ---- SEV-TIO phase 1 (docs/sev-firmware.md §2.7) ---------------------------------------

/** The SPDM control inside every SPDM-capable command: four SLAs (req, resp, scratch, output). */
export const SPDM_CTRL = { req: 0, resp: 8, scratch: 16, output: 24, bytes: 32 } as const;

export const TIO_STATUS_BUF = layout('sev_data_tio_status', 16, { length: field(0, 4), statusPaddr: field(8, 8) });
export const TIO_INIT_BUF = layout('sev_data_tio_init', 16, { length: field(0, 4) });
export const TIO_DEV_CREATE_BUF = layout('sev_data_tio_dev_create', 32, {
  length: field(0, 4),
  devCtxSla: field(8, 8),
  deviceId: field(16, 2),
  rootPortId: field(18, 2),
  segmentId: field(20, 1),
});
export const TIO_DEV_CONNECT_BUF = layout('sev_data_tio_dev_connect', 80, {
  length: field(0, 4),
  reqSla: field(8 + SPDM_CTRL.req, 8),
  respSla: field(8 + SPDM_CTRL.resp, 8),
  scratchSla: field(8 + SPDM_CTRL.scratch, 8),
  outputSla: field(8 + SPDM_CTRL.output, 8),
  devCtxSla: field(48, 8),
  tcMask: field(56, 1),
  certSlot: field(57, 1),
  ideStreamIds: field(64, 8),
});
export const TIO_DEV_DISCONNECT_BUF = layout('sev_data_tio_dev_disconnect', 48, {
  length: field(0, 4),
  flags: field(4, 4),
  reqSla: field(8 + SPDM_CTRL.req, 8),
  respSla: field(8 + SPDM_CTRL.resp, 8),
  scratchSla: field(8 + SPDM_CTRL.scratch, 8),
  outputSla: field(8 + SPDM_CTRL.output, 8),
  devCtxSla: field(40, 8),
});
/** TIO_DEV_DISCONNECT flags bit 0: FORCE. */
export const DISCONNECT_FORCE = 1 << 0;
export const TIO_DEV_RECLAIM_BUF = layout('sev_data_tio_dev_reclaim', 16, { length: field(0, 4), devCtxSla: field(8, 8) });

/** The page TIO_STATUS writes: `sev_tio_status`, 64 B. */
export const TIO_STATUS_PAGE = layout('sev_tio_status', 64, {
  length: field(0, 4),
  flags: field(4, 4),
  spdmReqSizeMin: field(8, 4),
  spdmReqSizeMax: field(12, 4),
  spdmScratchSizeMin: field(16, 4),
  spdmScratchSizeMax: field(20, 4),
  spdmOutSizeMin: field(24, 4),
  spdmOutSizeMax: field(28, 4),
  spdmRspSizeMin: field(32, 4),
  spdmRspSizeMax: field(36, 4),
  devctxSize: field(40, 4),
  tdictxSize: field(44, 4),
  tioCryptoAlg: field(48, 4),
});
export const TIO_STATUS_TIO_EN = 1 << 0;
export const TIO_STATUS_TIO_INIT_DONE = 1 << 1;
