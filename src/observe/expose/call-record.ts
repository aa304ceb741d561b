/**
 * What the envelope tells the /metrics exposition about each answered call: the
 * record's shape and the two labels that keep the method label bounded. Defined
 * here, beside the metrics that read it, so the envelope (rpc/) imports down.
 */

/** One finished call, for metrics. */
export interface CallRecord {
  /** The method name when it is in the table, else METHOD_LABEL_UNKNOWN or METHOD_LABEL_INVALID. */
  method: string;
  /**
   * 'ok'; 'status' when the result carries a statusName or rcName other than
   * SUCCESS (an emulated failure: the firmware, the TMPM or an instruction said no);
   * or the error code answered (also for notifications, which get no answer).
   */
  outcome: 'ok' | 'status' | number;
  /** The result's statusName (or rcName) when it has one. */
  statusName?: string;
  /** Wall time spent in the handler, in seconds (0 when no handler ran). */
  seconds: number;
}

/** Method label for a name that is not in the table: keeps metric labels bounded. */
export const METHOD_LABEL_UNKNOWN = '(unknown)';
/** Method label for a frame or member that is not a valid request at all. */
export const METHOD_LABEL_INVALID = '(invalid)';
