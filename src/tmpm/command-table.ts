/**
 * The TMPM's command table (docs/hardware.md §2.4; protocol/README.md §4.3.4): one
 * record per command with its number and name, the support_reg capability bit that
 * says the engine runs it (and the scenario setting behind the bit), whether its
 * command page carries a gctx word, its budget check and the function that runs it.
 * The engine (tmpm-engine.ts) finds an entry's command here; GET_CAPABILITIES'
 * support_reg, the refusal of a command whose bit is off and the fault targets
 * (`tmpm.NAME`, platform/fault-injector.ts) come from it. The same shape as the PSP
 * mailbox's table (psp/commands.ts): the numbers with the layouts in commands.ts,
 * the records here, each command's work in its own file (psmash-io.ts).
 */
import type { HostMemory } from '../memory/host-memory.js';
import { encodeCapabilities, SUPPORT_PSMASH, SUPPORT_PUNSMASH, TMPM_COMMAND, TMPM_STATUS, versionReg, type Capabilities, type TmpmCommandName } from './commands.js';
import type { PsmashIo, SmashOutcome } from './psmash-io.js';
import { stallBudget, type BudgetCheck } from './stall-budget.js';
import { SPEC_MAJOR, SPEC_MINOR, type TmpmConfig } from './tmpm-config.js';

/** What a command's run may use: the engine's parts (config read when it runs: a state load replaces it). */
export interface TmpmRunContext {
  readonly memory: HostMemory;
  readonly smash: PsmashIo;
  readonly config: TmpmConfig;
}

/** What a command did when it ran: its status, how long until the engine writes it, a smash's outcome. */
export interface CommandRun {
  status: number;
  detail?: Record<string, unknown> | undefined;
  durationNs: number;
  outcome?: SmashOutcome;
}

/** The engine's on/off settings (a capability's switch). */
type Switch = { [K in keyof TmpmConfig]: TmpmConfig[K] extends boolean ? K : never }[keyof TmpmConfig];

export interface TmpmCommandSpec {
  /** The command's number in cmd_reg (for PUNSMASH_IO ours, and `renumberedBy` replaces it). */
  id: number;
  name: TmpmCommandName;
  /** The support_reg bit GET_CAPABILITIES reports and the setting that turns it on (off: INVALID_COMMAND); absent: always run. */
  capability?: { bit: number; setting: Switch };
  /** The setting that holds the number this engine answers to instead of `id`. */
  renumberedBy?: 'punsmashCommand';
  /** Its command page ends in the gctx word the engine writes the statuses into. */
  gctx: boolean;
  /** Why the emulator could not afford it now (stall-budget.ts): asked after its own checks, before its effect. */
  budget?: BudgetCheck;
  /** Runs it; `budget` is the record's check, or null when it was asked for this entry already. */
  run: (t: TmpmRunContext, listSpa: number, budget: BudgetCheck | null) => CommandRun;
}

/** GET_CAPABILITIES' four registers under `config`: support_reg has the bit of every command switched on. */
export function capabilitiesOf(config: TmpmConfig): Capabilities {
  let supportReg = 0;
  for (const c of TMPM_COMMANDS) if (c.capability !== undefined && config[c.capability.setting]) supportReg |= c.capability.bit;
  return { capReg: 0, fwReg: versionReg(config.fwMajor, config.fwMinor), specReg: versionReg(SPEC_MAJOR, SPEC_MINOR), supportReg };
}

/** A smash's outcome as a run: it takes its stall when it succeeds, no time when a check refused it. */
function smashRun(o: SmashOutcome): CommandRun {
  return { status: o.status, detail: o.detail, durationNs: o.status === TMPM_STATUS.SUCCESS ? o.stallNs : 0, outcome: o };
}

export const TMPM_COMMANDS: readonly TmpmCommandSpec[] = [
  {
    id: TMPM_COMMAND.GET_CAPABILITIES,
    name: 'GET_CAPABILITIES',
    gctx: false,
    run: (t, listSpa) => {
      t.memory.writeWords(listSpa, encodeCapabilities(capabilitiesOf(t.config)));
      return { status: TMPM_STATUS.SUCCESS, durationNs: t.config.commandNs };
    },
  },
  { id: TMPM_COMMAND.NOOP, name: 'NOOP', gctx: false, run: (t) => ({ status: TMPM_STATUS.SUCCESS, durationNs: t.config.commandNs }) },
  {
    id: TMPM_COMMAND.PSMASH_IO,
    name: 'PSMASH_IO',
    capability: { bit: SUPPORT_PSMASH, setting: 'psmash' },
    gctx: true,
    budget: stallBudget,
    run: (t, listSpa, budget) => smashRun(t.smash.psmash(listSpa, budget)),
  },
  {
    id: TMPM_COMMAND.PUNSMASH_IO,
    name: 'PUNSMASH_IO',
    capability: { bit: SUPPORT_PUNSMASH, setting: 'punsmash' },
    renumberedBy: 'punsmashCommand',
    gctx: true,
    budget: stallBudget,
    run: (t, listSpa, budget) => smashRun(t.smash.punsmash(listSpa, budget)),
  },
];

const BY_ID = new Map<number, TmpmCommandSpec>(TMPM_COMMANDS.filter((c) => c.renumberedBy === undefined).map((c) => [c.id, c]));
const RENUMBERED = TMPM_COMMANDS.filter((c) => c.renumberedBy !== undefined);

/** The command `id` names under `config` (a renumbered command's setting first), or undefined. */
export function tmpmCommand(id: number, config: TmpmConfig): TmpmCommandSpec | undefined {
  for (const c of RENUMBERED) if (config[c.renumberedBy as 'punsmashCommand'] === id) return c;
  return BY_ID.get(id);
}

/** Whether the engine runs `c` under `config` (its capability bit is on). */
export function isSupported(c: TmpmCommandSpec, config: TmpmConfig): boolean {
  return c.capability === undefined || config[c.capability.setting];
}
