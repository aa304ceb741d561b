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
} as const;
export type PspCommandName = keyof typeof PSP_COMMAND;
export const PSP_COMMAND_NAMES = Object.keys(PSP_COMMAND) as PspCommandName[];
