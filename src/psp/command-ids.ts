/**
 * The command ids the PSP serves (docs/sev-firmware.md §2.1, §2.2; Linux v6.19
 * include/linux/psp-sev.h): the number a host writes to CMDRESP bits 26:16.
 */
export const PSP_COMMAND = {
  PLATFORM_STATUS: 0x04,
  SNP_INIT: 0x81,
  SNP_PLATFORM_STATUS: 0x83,
  SNP_DF_FLUSH: 0x84,
  SNP_INIT_EX: 0x85,
  SNP_SHUTDOWN_EX: 0x86,
  SNP_PAGE_RECLAIM: 0xc7,
  SNP_PAGE_UNSMASH: 0xc8,
  SNP_FEATURE_INFO: 0xce,
  TIO_STATUS: 0xd0,
  TIO_INIT: 0xd1,
  TIO_DEV_CREATE: 0xd2,
  TIO_DEV_RECLAIM: 0xd3,
  TIO_DEV_CONNECT: 0xd4,
  TIO_DEV_DISCONNECT: 0xd5,
  // Phase 2 (AMD's tree, psp-sev.h at 192c61b3; docs/sev-firmware.md §2.2). 0xE4-0xE9 stay INVALID_COMMAND.
  TIO_DEV_STATUS: 0xd6,
  TIO_DEV_MEASUREMENTS: 0xd7,
  TIO_DEV_CERTIFICATES: 0xd8,
  TIO_TDI_CREATE: 0xda,
  TIO_TDI_RECLAIM: 0xdb,
  TIO_TDI_BIND: 0xdc,
  TIO_TDI_UNBIND: 0xdd,
  TIO_TDI_REPORT: 0xde,
  TIO_TDI_STATUS: 0xdf,
  TIO_GUEST_REQUEST: 0xe0,
  TIO_ASID_FENCE_CLEAR: 0xe1,
  TIO_ASID_FENCE_STATUS: 0xe2,
  TIO_TDI_INFO: 0xe3,
} as const;
export type PspCommandName = keyof typeof PSP_COMMAND;
export const PSP_COMMAND_NAMES = Object.keys(PSP_COMMAND) as PspCommandName[];
