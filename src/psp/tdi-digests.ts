/**
 * The 48-byte digests DEV_STATUS and TDI_INFO report (docs/sev-firmware.md §2.8:
 * certs_digest, meas_digest, interface_report_digest). What the firmware hashes is
 * not public; our choice (protocol/README.md §4.7.1): SHA-384, the hash the
 * firmware reports in its algorithm bytes, over the bytes the firmware itself read
 * from the device: the certificate chain of DEV_CONNECT (SPDM format, as data object
 * 4 carries it), the measurement record of the last DEV_MEASUREMENTS (object 5), the
 * TDI's last interface report (object 6). A digest of nothing read yet stays zero.
 */
import { createHash } from 'node:crypto';
import type { DevCtx, TdiCtx } from './psp-config.js';

export const DIGEST_BYTES = 48;

/** SHA-384 of hex bytes, or null for none. */
export function digestOf(hex: string | undefined): Uint8Array | null {
  if (hex === undefined || hex === '') return null;
  return new Uint8Array(createHash('sha384').update(Buffer.from(hex, 'hex')).digest());
}

/** A device context's certificate and measurement digests (null: not read). */
export function deviceDigests(ctx: DevCtx): { certs: Uint8Array | null; meas: Uint8Array | null } {
  return { certs: ctx.state === 'connected' ? digestOf(ctx.certChain) : null, meas: ctx.state === 'connected' ? digestOf(ctx.measurements) : null };
}

/** A TDI's interface report digest (null: no report read). */
export function reportDigest(t: TdiCtx): Uint8Array | null {
  return digestOf(t.report);
}

/** Writes `digest` (when there is one) into `page` at `offset`. */
export function putDigest(page: Uint8Array, offset: number, digest: Uint8Array | null): void {
  if (digest !== null) page.set(digest, offset);
}
