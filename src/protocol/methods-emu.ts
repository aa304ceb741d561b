/**
 * rpc.discover, emu.* (the platform as a whole: info, reset, snapshots, state files,
 * audit) and clock.* (protocol/README.md §12, §9).
 */
import * as z from 'zod';
import { method, nowNsOut } from './method-spec.js';
import { SCENARIO_BASES } from './default-scenario.js';
import { baseScenario, scenarioDocument } from './scenario-schema.js';
import { hexOut, noParams, ns, okResult, opaqueId } from './wire.js';

const clockMode = z.enum(['virtual', 'realtime']);
const stateObject = z.record(z.string(), z.unknown());

export const EMU_METHODS = {
  'rpc.discover': method({
    summary: 'The OpenRPC document of this server',
    description: 'Returns the OpenRPC 1.2.6 document generated from the method table (also checked in as protocol/openrpc.json and served as GET /openrpc.json).',
    params: noParams,
    result: z.looseObject({ openrpc: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), methods: z.array(z.looseObject({ name: z.string() })) }),
  }),

  'emu.info': method({
    summary: 'Version, configuration, device table and clock of this platform',
    description: 'Read-only. `platform` is "" for the default platform at "/", else NAME of "/platforms/NAME".',
    params: noParams,
    result: z.looseObject({
      version: z.string().describe('smash-emu version'),
      platform: z.string().describe('"" for "/", else the NAME of /platforms/NAME'),
      scenario: z.string().describe('name of the scenario the platform was built from'),
      deviceTableSpa: hexOut.describe('SPA of the IOMMU device table (65536 x 32-byte DTEs)'),
      clockMode: clockMode,
      speed: z.number().describe('realtime speed factor'),
      nowNs: nowNsOut,
      config: z.looseObject({
        memoryBytes: hexOut,
        seed: z.int(),
        rmpSizeRule: z.enum(['equal', 'not-larger']),
        eventLogEntries: z.int(),
        serviceNs: z.int(),
        maxAdvanceNs: z.int(),
      }),
      guests: z
        .array(z.looseObject({ asid: z.int(), gctxSpa: hexOut.nullable().describe('its guest context page (RMP Assigned 1, Immutable 1, ASID 0): the gctx word of PSMASH_IO names it') }))
        .describe('the SNP guests'),
      tmpm: z
        .looseObject({
          deviceId: z.int().describe("the engine's requester ID (its DTE, its IO_PAGE_FAULTs)"),
          domainId: z.int().describe("the IOMMU domain of the engine's DTE"),
          pdeAccess: z.enum(['direct', 'iommu']),
          initialised: z.boolean().describe('STATUS.DRIVER_INIT'),
          ringSpa: hexOut.nullable().describe('the ring base (C-bit stripped) while initialised'),
          ringEntries: z.int(),
          punsmashCommand: z.int().describe("PUNSMASH_IO's command number (ours; not public)"),
        })
        .describe('the TMPM engine'),
    }),
  }),

  'emu.reset': method({
    summary: 'Rebuild the platform from a scenario',
    description:
      'Discards all state (memory, RMP, IOMMU, streams, stats, fault rules) and builds the platform again from `scenario`, or from the scenario in use when absent (the server\'s, or the last one given here). A document is merged key by key onto its `base`: "default" (the default scenario, examples/scenarios/default.json; the default) or "empty" (default settings, no guests, devices, RMP updates or streams); so `{"stallModel": {"baseNs": 1000}}` is the default platform with a shorter stall. The strings "default" and "empty" build that base alone. Subscriptions and snapshots stay (emu.revert can go back to before the reset). A scenario that cannot be built changes nothing (-32602 naming the key, and the nearest known key for a misspelt one).',
    params: z.strictObject({
      scenario: z
        .union([z.enum(SCENARIO_BASES).transform((base) => baseScenario(base)), scenarioDocument], {
          error: 'must be "default", "empty" or a scenario document (a JSON object); fix: e.g. {"scenario": "default"}',
        })
        .exactOptional()
        .describe('"default", "empty", or a scenario document merged onto its base; absent = the scenario in use'),
    }),
    result: z.looseObject({ ok: z.literal(true), scenario: z.string().exactOptional().describe('name of the scenario built') }),
    examples: [{ name: 'back to the default scenario', params: { scenario: 'default' }, result: { ok: true, scenario: 'default' } }],
  }),

  'emu.snapshot': method({
    summary: 'Take a snapshot of the whole platform state',
    description: 'Snapshots live in memory until the platform goes away; they are not part of emu.dumpState.',
    params: noParams,
    result: z.looseObject({ snapshotId: z.string().describe('opaque id for emu.revert'), nowNs: nowNsOut.exactOptional() }),
    examples: [{ name: 'snapshot', params: {}, result: { snapshotId: 'snap-1' }, vary: ['snapshotId'] }],
  }),

  'emu.revert': method({
    summary: 'Return to a snapshot',
    description: 'The snapshot stays usable after the revert (revert to it again at will); snapshots taken after it are dropped. Unknown id: -32001.',
    params: z.strictObject({ snapshotId: opaqueId('snapshotId') }),
    result: z.looseObject({ ok: z.literal(true), snapshotId: z.string().exactOptional() }),
  }),

  'emu.dumpState': method({
    summary: 'The complete platform state as a JSON document',
    description: 'Compact (runs of equal RMP regions); includes the IOTLB (stale entries too), event log, stall model, streams, fault rules and PRNG, not snapshots. Feed it to emu.loadState or --state.',
    params: noParams,
    result: z.looseObject({ state: stateObject.describe('opaque state document') }),
  }),

  'emu.loadState': method({
    summary: 'Replace the platform state with a dumped one',
    description: 'Validates the whole document first; a bad document changes nothing (-32602 naming the key).',
    params: z.strictObject({ state: stateObject.describe('a document from emu.dumpState') }),
    result: okResult,
  }),

  'emu.audit': method({
    summary: 'Check the platform invariants',
    description:
      'Lists violations: internal invariants (should never happen) and what a VMM did wrong, e.g. `stale-iotlb`: a cached translation whose SPA, permissions or leaf size differ from a fresh walk. An empty list means all is consistent.',
    params: noParams,
    result: z.looseObject({
      violations: z.array(z.looseObject({ kind: z.string().describe('e.g. stale-iotlb'), message: z.string().exactOptional() })),
    }),
    examples: [{ name: 'fresh default platform', params: {}, result: { violations: [] } }],
  }),

  'emu.platforms': method({
    summary: 'The platforms this server holds',
    description:
      'Every platform that exists, the default one ("") included: its name, when it was created and last used (now while a connection is open, else when the last one closed; ISO 8601 UTC), its open connections and its virtual time. Named platforms are created on first use of /platforms/NAME and kept until emu.deletePlatform, HTTP DELETE /platforms/NAME, idle expiry (--platform-idle-ms) or the end of the server.',
    params: noParams,
    result: z.looseObject({
      platforms: z.array(
        z.looseObject({
          name: z.string().describe('"" for the default platform at "/", else NAME of /platforms/NAME'),
          createdAt: z.string().describe('ISO 8601 UTC'),
          lastUsedAt: z.string().describe('ISO 8601 UTC: now while a connection is open, else when the last one closed'),
          connections: z.int().min(0).describe('open connections: WebSockets on its path, and line-transport connections attached to it'),
          nowNs: nowNsOut,
        }),
      ),
    }),
  }),

  'emu.deletePlatform': method({
    summary: 'Delete a named platform',
    description:
      'Frees /platforms/NAME: its connections are closed with 1001 "platform deleted" (a caller on that platform after this answer), its state is dropped (not saved to --state) and its series leave GET /metrics; the next connection to the path builds a new platform from the scenario. Same as HTTP DELETE /platforms/NAME. No such platform: -32001; the default platform "": -32602 (emu.reset rebuilds it).',
    params: z.strictObject({ name: z.string().describe('NAME of /platforms/NAME') }),
    result: z.looseObject({ ok: z.literal(true), name: z.string(), closedConnections: z.int().min(0).describe("connections closed, the caller's own included") }),
  }),

  'clock.now': method({
    summary: 'Current virtual time',
    description:
      'In realtime mode this follows the wall clock times `speed`. When the simulation cannot keep up (a stream faster than it can process), the clock runs late and keeps serving: lagNs says by how much (0 when keeping up and in virtual mode).',
    params: noParams,
    result: z.looseObject({
      nowNs: nowNsOut,
      lagNs: z.int().min(0).exactOptional().describe('realtime: virtual ns the clock runs behind the wall clock times speed; 0 when keeping up and in virtual mode (always sent by this server)'),
    }),
    examples: [{ name: 'fresh platform', params: {}, result: { nowNs: 0, mode: 'virtual', speed: 1, lagNs: 0 } }],
  }),

  'clock.advance': method({
    summary: 'Advance virtual time, processing everything due',
    description: 'Virtual mode only (realtime: -32002). At most maxAdvanceNs (default 10 s) per call (-32003 beyond). Runs DMA streams and completions due in the interval.',
    params: z.strictObject({ ns: ns('time to advance') }),
    result: z.looseObject({ nowNs: nowNsOut }),
    examples: [{ name: 'advance 1 ms on a fresh platform', params: { ns: 1_000_000 }, result: { nowNs: 1_000_000 } }],
  }),

  'clock.setMode': method({
    summary: 'Switch between virtual and realtime clock',
    description: 'Keeps nowNs. `speed` (realtime; default 1) is virtual ns per wall ns. realtime needs the server (it hands the platform the wall clock).',
    params: z.strictObject({
      mode: clockMode.describe('virtual (time moves only by clock.advance and TMPM stalls) or realtime'),
      speed: z.number().gt(0, 'must be > 0').max(1e6, 'must be <= 1e6').exactOptional().describe('realtime speed factor, > 0'),
    }),
    result: z.looseObject({ mode: clockMode, speed: z.number(), nowNs: nowNsOut }),
  }),
} as const;
