/**
 * What every firmware command returns (CommandOutcome): SUCCESS, or a status with
 * the reason it was refused; and the one RMP question most commands ask of a page
 * they are handed. Shared by the SNP, TIO, TDI and device-object commands.
 */
import { FW_STATUS, type FwStatus } from '../firmware/status.js';
import type { CommandContext, CommandOutcome } from './psp-config.js';

export const ok: CommandOutcome = Object.freeze({ status: FW_STATUS.SUCCESS });
export function fail(status: FwStatus, reason: string, more: Record<string, unknown> = {}): CommandOutcome {
  return { status, detail: { reason, ...more } };
}

/** RMP Assigned, ASID 0, Immutable: a page the firmware owns (docs/sev-firmware.md §1.3). */
export function isFirmwarePage(c: CommandContext, spa: number): boolean {
  const e = c.rmp.read(spa);
  return e.assigned && e.asid === 0 && e.immutable;
}
