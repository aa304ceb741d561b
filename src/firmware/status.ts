/**
 * SEV firmware status codes (hardware.md §2.3, from include/uapi/linux/psp-sev.h and
 * Kardashevskiy's "Assign numbers to all status codes" patch). Firmware commands
 * return these as values; they are never JSON-RPC errors.
 */
export const FW_STATUS = {
  SUCCESS: 0x00,
  INVALID_PLATFORM_STATE: 0x01,
  INVALID_GUEST_STATE: 0x02,
  INVALID_CONFIG: 0x03,
  INVALID_LEN: 0x04,
  ALREADY_OWNED: 0x05,
  INVALID_CERTIFICATE: 0x06,
  POLICY_FAILURE: 0x07,
  INACTIVE: 0x08,
  INVALID_ADDRESS: 0x09,
  BAD_SIGNATURE: 0x0a,
  BAD_MEASUREMENT: 0x0b,
  ASID_OWNED: 0x0c,
  INVALID_ASID: 0x0d,
  WBINVD_REQUIRED: 0x0e,
  DFFLUSH_REQUIRED: 0x0f,
  INVALID_GUEST: 0x10,
  INVALID_COMMAND: 0x11,
  ACTIVE: 0x12,
  HWSEV_RET_PLATFORM: 0x13,
  HWSEV_RET_UNSAFE: 0x14,
  UNSUPPORTED: 0x15,
  INVALID_PARAM: 0x16,
  RESOURCE_LIMIT: 0x17,
  SECURE_DATA_INVALID: 0x18,
  INVALID_PAGE_SIZE: 0x19,
  INVALID_PAGE_STATE: 0x1a,
  INVALID_MDATA_ENTRY: 0x1b,
  INVALID_PAGE_OWNER: 0x1c,
  AEAD_OFLOW: 0x1d,
  EXIT_RING_BUFFER: 0x1f,
  RMP_INIT_REQUIRED: 0x20,
  BAD_SVN: 0x21,
  BAD_VERSION: 0x22,
  SHUTDOWN_REQUIRED: 0x23,
  UPDATE_FAILED: 0x24,
  RESTORE_REQUIRED: 0x25,
  RMP_INITIALIZATION_FAILED: 0x26,
  INVALID_KEY: 0x27,
  SHUTDOWN_INCOMPLETE: 0x28,
  INCORRECT_BUFFER_LENGTH: 0x30,
  EXPAND_BUFFER_LENGTH_REQUEST: 0x31,
  SPDM_REQUEST: 0x32,
  SPDM_ERROR: 0x33,
  ERR_IN_DEV_CONN: 0x35,
  INVALID_DEV_CTX: 0x36,
  INVALID_TDI_CTX: 0x37,
  INVALID_TDI: 0x38,
  RECLAIM_REQUIRED: 0x39,
  IN_USE: 0x3a,
  INVALID_DEV_STATE: 0x3b,
  INVALID_TDI_STATE: 0x3c,
  DEV_CERT_CHANGED: 0x3d,
  RESYNC_REQ: 0x3e,
  RESPONSE_TOO_LARGE: 0x3f,
} as const;

export type FwStatus = (typeof FW_STATUS)[keyof typeof FW_STATUS];

const NAMES = new Map<number, string>(Object.entries(FW_STATUS).map(([k, v]) => [v, k]));

export function fwStatusName(status: number): string {
  return NAMES.get(status) ?? `UNKNOWN_0x${status.toString(16)}`;
}

/** What every firmware command returns: the status and, on failure, what was wrong. */
export interface FwResult {
  status: number;
  statusName: string;
  detail?: Record<string, unknown>;
}

export function fwOk<T extends object>(extra: T): FwResult & T {
  return { status: FW_STATUS.SUCCESS, statusName: 'SUCCESS', ...extra };
}

export function fwFail(status: FwStatus, detail: Record<string, unknown>): FwResult {
  return { status, statusName: fwStatusName(status), detail };
}
