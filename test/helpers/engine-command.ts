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
