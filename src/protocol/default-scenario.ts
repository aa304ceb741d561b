/**
 * The default scenario is a file users can read and copy:
 * examples/scenarios/default.json. This module is where the code takes it from
 * (the server builds every platform from it unless --scenario names another file;
 * a partial scenario is merged onto it; `emu.reset {scenario: "default"}` rebuilds
 * it). DEFAULT_SCENARIO in src/platform/scenario.ts is the same platform for
 * library users who build one without the protocol layer; a test checks the two
 * are equal.
 */
import doc from '../../examples/scenarios/default.json' with { type: 'json' };

/** What a partial scenario document is merged onto (`base`). */
export const SCENARIO_BASES = ['default', 'empty'] as const;
export type ScenarioBase = (typeof SCENARIO_BASES)[number];

export const DEFAULT_SCENARIO_NAME = 'default';

/** A fresh copy of examples/scenarios/default.json as parsed JSON (callers may change it). */
export function defaultScenarioDocument(): Record<string, unknown> {
  return structuredClone(doc) as Record<string, unknown>;
}
