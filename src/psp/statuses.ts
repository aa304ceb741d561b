/**
 * SEV_RET_* (docs/sev-firmware.md §2.3): the statuses the PSP writes to CMDRESP
 * bits 15:0. The one `as const` table lives in firmware/status.ts (the firmware's
 * results share it); this is its name on the mailbox side.
 */
export { FW_STATUS as SEV_RET, fwStatusName as sevRetName } from '../firmware/status.js';
