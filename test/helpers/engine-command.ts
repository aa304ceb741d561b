/**
 * The one place tests of traces, the dashboard, `watch` and /metrics run the smash
 * engine over the wire: tmpm.preparePsmash + tmpm.psmashIo (the TMPM's PSMASH_IO).
 * Those tests read `status`, `statusName`, `startNs`, `endNs`, `stallNs` and
 * `dmaHeld`.
 */
import type { SmashEmuClient } from '../../src/client/smash-emu-client.js';

export interface EngineResult {
  status: number;
  statusName: string;
  stallNs?: number;
  dmaHeld?: number;
  startNs?: number;
  endNs?: number;
  [key: string]: unknown;
}

/** The method name the engine command has on the wire (for metrics and the fw/tmpm event it causes). */
export const ENGINE_METHOD = 'tmpm.psmashIo';
/** The topic that reports the engine's commands. */
export const ENGINE_TOPIC = 'tmpm';
/** How smash_emu_commands_total labels the engine command. */
export const ENGINE_COMMAND_LABELS = { source: 'tmpm', command: 'PSMASH_IO' } as const;
/** The name of the engine command's slice in a trace and its row in the dashboard. */
export const ENGINE_SLICE_NAME = 'PSMASH_IO';

/** The line `smash-emu watch` prints for the engine command's own event. */
export function engineWatchLine(r: EngineResult): RegExp {
  const ms = (ns: number) => (ns / 1e6).toFixed(6).replace('.', '\\.');
  const status = `${r.statusName} \\(0x${r.status.toString(16).padStart(2, '0')}\\)`;
  return r.statusName === 'SUCCESS'
    ? new RegExp(`tmpm   #\\d+ PSMASH_IO \\(0x05\\) -> ${status}, ${ms(r.endNs! - r.startNs!)} ms, stall ${ms(r.stallNs!)} ms, ${r.dmaHeld} held$`)
    : new RegExp(`tmpm   #\\d+ PSMASH_IO \\(0x05\\) -> ${status}, .+$`);
}

type Untyped = (method: string, params: unknown) => Promise<any>;

/** Smashes the 2 MB region at `iova` of `domainId` (prepared as a VMM would). */
export async function smashOverWire(client: SmashEmuClient, domainId = 1, iova = '0x200000'): Promise<EngineResult> {
  const call = (client.call as unknown as Untyped).bind(client);
  const prep = await call('tmpm.preparePsmash', { domainId, iova });
  return call('tmpm.psmashIo', { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa });
}

/** The same smash again: the entry is now a table pointer (its PTE page live), so the engine refuses it with a status. */
export async function smashAgainOverWire(client: SmashEmuClient, iova = '0x200000'): Promise<EngineResult> {
  const call = (client.call as unknown as Untyped).bind(client);
  const walk = await call('iommu.walk', { deviceId: 0x100, iova });
  const l2 = walk.steps.find((s: { level: number }) => s.level === 2);
  const hpte = '0x' + (BigInt(l2.value) & 0x000f_ffff_ffff_f000n).toString(16);
  const info = await call('emu.info', {});
  const srcPgSpa = '0x' + (0x1_0000_0000n + BigInt(iova)).toString(16);
  return call('tmpm.psmashIo', { srcPgSpa, smashHpteSpa: hpte, srcHpmdSpa: l2.entrySpa, gctxSpa: info.guests[0].gctxSpa });
}
