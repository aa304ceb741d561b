/**
 * The one place tests of traces, the dashboard, `watch` and /metrics run the smash
 * engine over the wire. Today that is iommu.prepareSmash + fw.smashIopde; when the
 * engine becomes the TMPM, this becomes tmpm.preparePsmash + tmpm.psmashIo and the
 * rest of those tests stay as they are (they read `status`, `statusName`,
 * `startNs`, `endNs`, `stallNs` and `dmaHeld`, which both results carry).
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
export const ENGINE_METHOD = 'fw.smashIopde';
/** The topic that reports the engine's commands. */
export const ENGINE_TOPIC = 'fw';
/** How smash_emu_commands_total labels the engine command (TMPM: source "tmpm", command "PSMASH_IO"). */
export const ENGINE_COMMAND_LABELS = { source: 'fw', command: 'fw.smashIopde' } as const;
/** The name of the engine command's slice in a trace and its row in the dashboard (TMPM: "PSMASH_IO", "#N PSMASH_IO"). */
export const ENGINE_SLICE_NAME = 'fw.smashIopde';

/** The line `smash-emu watch` prints for the engine command's own event (TMPM: `tmpm   #N PSMASH_IO (0x05) -> SUCCESS (0xf0), X ms`). */
export function engineWatchLine(r: EngineResult): RegExp {
  const ms = (ns: number) => (ns / 1e6).toFixed(6).replace('.', '\\.');
  const status = `${r.statusName} \\(0x${r.status.toString(16).padStart(2, '0')}\\)`;
  return r.statusName === 'SUCCESS'
    ? new RegExp(`fw     fw\\.smashIopde -> ${status}, stall ${ms(r.stallNs!)} ms, ${r.dmaHeld} held$`)
    : new RegExp(`fw     fw\\.smashIopde -> ${status}, .+$`);
}

type Untyped = (method: string, params: unknown) => Promise<any>;

/** Smashes the 2 MB region at `iova` of `domainId` (prepared as a VMM would). */
export async function smashOverWire(client: SmashEmuClient, domainId = 1, iova = '0x200000'): Promise<EngineResult> {
  const call = (client.call as unknown as Untyped).bind(client);
  const prep = await call('iommu.prepareSmash', { domainId, iova });
  return call('fw.smashIopde', { domainId, iova, iopdeSpa: prep.iopdeSpa, tableSpa: prep.tableSpa });
}

/** The same smash again: the table page is now live, so the engine refuses it with a status. */
export async function smashAgainOverWire(client: SmashEmuClient, domainId = 1, iova = '0x200000'): Promise<EngineResult> {
  const call = (client.call as unknown as Untyped).bind(client);
  const walk = await call('iommu.walk', { deviceId: 0x100, iova });
  const l2 = walk.steps.find((s: { level: number }) => s.level === 2);
  const tableSpa = '0x' + (BigInt(l2.value) & 0x000f_ffff_ffff_f000n).toString(16);
  return call('fw.smashIopde', { domainId, iova, iopdeSpa: l2.entrySpa, tableSpa });
}
