/**
 * Label values for status metrics, bounded by construction (hostile clients cannot
 * grow a series per request): status names come from the code tables, method names
 * from the closed method table, TMPM command names from the engine's table
 * (an unknown command number is OTHER).
 * Anything else is counted under OTHER.
 */
import { FW_STATUS } from '../../firmware/status.js';
import { RMP_RC } from '../../rmp/return-codes.js';
import { METHODS } from '../../protocol/methods.js';
import { TMPM_COMMAND, TMPM_STATUS } from '../../tmpm/commands.js';
import { PSP_COMMAND_NAMES as PSP_NAMES } from '../../psp/command-ids.js';

/** SEV firmware statuses, instruction return codes and the TMPM's statuses. */
const STATUS_NAMES: ReadonlySet<string> = new Set<string>([...Object.keys(FW_STATUS), ...Object.keys(RMP_RC), ...Object.keys(TMPM_STATUS)]);
const TMPM_COMMAND_NAMES: ReadonlySet<string> = new Set(Object.keys(TMPM_COMMAND));
const METHOD_NAMES: ReadonlySet<string> = new Set(Object.keys(METHODS));
const PSP_COMMAND_NAMES: ReadonlySet<string> = new Set(PSP_NAMES);

export const OTHER_LABEL = 'OTHER';

export function statusLabel(name: string): string {
  return STATUS_NAMES.has(name) ? name : OTHER_LABEL;
}

/** A command of an engine event: a method name of the table (topic fw) or a command-table name (topic tmpm). */
export function commandLabel(source: 'fw' | 'psp' | 'tmpm', name: string): string {
  if (source === 'fw') return METHOD_NAMES.has(name) ? name : OTHER_LABEL;
  if (source === 'psp') return PSP_COMMAND_NAMES.has(name) ? name : OTHER_LABEL;
  return TMPM_COMMAND_NAMES.has(name) ? name : OTHER_LABEL;
}
