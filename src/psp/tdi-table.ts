/** The TDI commands' rows of the command table (commands.ts): name, buffer length, run. */
import type { PspCommandName } from './command-ids.js';
import type { CommandContext, CommandOutcome } from './psp-config.js';
import {
  TIO_ASID_FENCE_CLEAR_BUF,
  TIO_ASID_FENCE_STATUS_BUF,
  TIO_DEV_CERTIFICATES_BUF,
  TIO_DEV_MEASUREMENTS_BUF,
  TIO_DEV_STATUS_BUF,
  TIO_GUEST_REQUEST_BUF,
  TIO_TDI_BIND_BUF,
  TIO_TDI_CREATE_BUF,
  TIO_TDI_INFO_BUF,
  TIO_TDI_RECLAIM_BUF,
  TIO_TDI_REPORT_BUF,
  TIO_TDI_STATUS_BUF,
  TIO_TDI_UNBIND_BUF,
} from './tdi-buffers.js';
import { tioDevCertificates, tioDevMeasurements } from './dev-objects.js';
import { tioGuestRequestUnsupported, tioTdiBind, tioTdiCreate, tioTdiReclaim, tioTdiReport, tioTdiUnbind } from './tdi-commands.js';
import { tioAsidFenceClear, tioAsidFenceStatus, tioDevStatus, tioTdiInfo, tioTdiStatus } from './tdi-status-commands.js';

type Run = (c: CommandContext, buf: Uint8Array) => CommandOutcome;

export const TDI_COMMANDS: ReadonlyArray<readonly [PspCommandName, number, Run]> = [
  ['TIO_DEV_STATUS', TIO_DEV_STATUS_BUF.bytes, tioDevStatus],
  ['TIO_DEV_MEASUREMENTS', TIO_DEV_MEASUREMENTS_BUF.bytes, tioDevMeasurements],
  ['TIO_DEV_CERTIFICATES', TIO_DEV_CERTIFICATES_BUF.bytes, tioDevCertificates],
  ['TIO_TDI_CREATE', TIO_TDI_CREATE_BUF.bytes, tioTdiCreate],
  ['TIO_TDI_RECLAIM', TIO_TDI_RECLAIM_BUF.bytes, tioTdiReclaim],
  ['TIO_TDI_BIND', TIO_TDI_BIND_BUF.bytes, tioTdiBind],
  ['TIO_TDI_UNBIND', TIO_TDI_UNBIND_BUF.bytes, tioTdiUnbind],
  ['TIO_TDI_REPORT', TIO_TDI_REPORT_BUF.bytes, tioTdiReport],
  ['TIO_TDI_STATUS', TIO_TDI_STATUS_BUF.bytes, tioTdiStatus],
  ['TIO_GUEST_REQUEST', TIO_GUEST_REQUEST_BUF.bytes, tioGuestRequestUnsupported],
  ['TIO_ASID_FENCE_CLEAR', TIO_ASID_FENCE_CLEAR_BUF.bytes, tioAsidFenceClear],
  ['TIO_ASID_FENCE_STATUS', TIO_ASID_FENCE_STATUS_BUF.bytes, tioAsidFenceStatus],
  ['TIO_TDI_INFO', TIO_TDI_INFO_BUF.bytes, tioTdiInfo],
];
