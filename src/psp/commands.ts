/**
 * The command table (docs/sev-firmware.md §2.1-§2.2, §2.7): each command's id, name,
 * buffer length (what Linux's sev_cmd_buffer_len / sev_tio_cmd_buffer_len give; 0 =
 * no buffer), whether its layout has a `length` field at offset 0 (a value other
 * than the layout's size is INVALID_LEN), and the function that runs it.
 */
import { PSP_COMMAND, type PspCommandName } from './command-ids.js';
import type { CommandContext, CommandOutcome } from './psp-config.js';
import {
  SEV_USER_DATA_STATUS,
  SNP_ADDR_BUF,
  SNP_FEATURE_INFO_BUF,
  SNP_INIT_EX_BUF,
  SNP_SHUTDOWN_EX_BUF,
  TIO_DEV_CONNECT_BUF,
  TIO_DEV_CREATE_BUF,
  TIO_DEV_DISCONNECT_BUF,
  TIO_DEV_RECLAIM_BUF,
  TIO_INIT_BUF,
  TIO_STATUS_BUF,
} from './buffers.js';
import { sevPlatformStatus, snpDfFlush, snpFeatureInfo, snpInit, snpInitEx, snpPageReclaim, snpPageUnsmash, snpPlatformStatus, snpShutdownEx } from './snp-commands.js';
import { TDI_COMMANDS } from './tdi-table.js';
import { tioDevConnect, tioDevCreate, tioDevDisconnect, tioDevReclaim, tioInit, tioStatus } from './tio-commands.js';

export interface PspCommandSpec {
  id: number;
  name: PspCommandName;
  bufferBytes: number;
  lengthField: boolean;
  /** A SEV-TIO command: INVALID_COMMAND when the platform does not support TIO. */
  tio: boolean;
  run: (c: CommandContext, buf: Uint8Array, bufSpa: number) => CommandOutcome;
}

const spec = (name: PspCommandName, bufferBytes: number, lengthField: boolean, run: PspCommandSpec['run']): PspCommandSpec => ({
  id: PSP_COMMAND[name],
  name,
  bufferBytes,
  lengthField,
  tio: name.startsWith('TIO_'),
  run,
});

export const PSP_COMMANDS: readonly PspCommandSpec[] = [
  spec('PLATFORM_STATUS', SEV_USER_DATA_STATUS.bytes, false, sevPlatformStatus),
  spec('SNP_INIT', 0, false, snpInit),
  spec('SNP_PLATFORM_STATUS', SNP_ADDR_BUF.bytes, false, snpPlatformStatus),
  spec('SNP_DF_FLUSH', 0, false, snpDfFlush),
  spec('SNP_INIT_EX', SNP_INIT_EX_BUF.bytes, false, snpInitEx),
  spec('SNP_SHUTDOWN_EX', SNP_SHUTDOWN_EX_BUF.bytes, true, snpShutdownEx),
  spec('SNP_PAGE_RECLAIM', SNP_ADDR_BUF.bytes, false, snpPageReclaim),
  spec('SNP_PAGE_UNSMASH', SNP_ADDR_BUF.bytes, false, snpPageUnsmash),
  spec('SNP_FEATURE_INFO', SNP_FEATURE_INFO_BUF.bytes, true, snpFeatureInfo),
  spec('TIO_STATUS', TIO_STATUS_BUF.bytes, true, tioStatus),
  spec('TIO_INIT', TIO_INIT_BUF.bytes, true, tioInit),
  spec('TIO_DEV_CREATE', TIO_DEV_CREATE_BUF.bytes, true, tioDevCreate),
  spec('TIO_DEV_RECLAIM', TIO_DEV_RECLAIM_BUF.bytes, true, tioDevReclaim),
  spec('TIO_DEV_CONNECT', TIO_DEV_CONNECT_BUF.bytes, true, tioDevConnect),
  spec('TIO_DEV_DISCONNECT', TIO_DEV_DISCONNECT_BUF.bytes, true, tioDevDisconnect),
  ...TDI_COMMANDS.map(([name, bytes, run]) => spec(name, bytes, true, run)),
];

const BY_ID = new Map<number, PspCommandSpec>(PSP_COMMANDS.map((s) => [s.id, s]));

export function pspCommand(id: number): PspCommandSpec | undefined {
  return BY_ID.get(id);
}

export function pspCommandByName(name: string): PspCommandSpec | undefined {
  return PSP_COMMANDS.find((s) => s.name === name);
}

export { PSP_COMMAND, type PspCommandName };
