/**
 * One ring entry as the TMPM engine runs it (docs/hardware.md §2.4; protocol/README.md
 * §4.3.3-4.3.4): the checks every command gets before it runs, the record of the entry
 * while it runs (kept in state documents), and what its end reports (the outcome a
 * convenience call gets, the `tmpm` and `stall` topic payloads). The engine
 * (tmpm-engine.ts) owns the registers, the ring and the clock.
 */
import { PAGE_BYTES } from '../memory/host-memory.js';
import { toHex } from '../util/hex.js';
import { tmpmStatusName, TMPM_STATUS } from './commands.js';
import { isSupported, type TmpmCommandSpec } from './command-table.js';
import type { RingEntry } from './ring.js';
import type { SmashOutcome, StallBegun } from './psmash-io.js';
import type { EntryOutcome, TmpmConfig } from './tmpm-config.js';
import type { StallModel } from './stall-model.js';

/** The entry the engine is running: its outcome so far and where its statuses go. */
export interface Running extends Omit<EntryOutcome, 'statusName' | 'dmaHeld'> {
  /** Where the gctx word is written back (-1: not for this command) and its input value (hex in state documents). */
  gctxSpa: number;
  gctxInput: bigint;
  seq: number;
  outcome?: SmashOutcome;
}

/**
 * The checks of every entry, before its command runs: a known command whose
 * capability bit is on, no pages (cmd_reg 27:16), a 4 KB-aligned list page inside
 * memory. The first that fails, with its status and detail, or null.
 */
export function entryRefusal(e: RingEntry, spec: TmpmCommandSpec | undefined, listSpa: number, config: TmpmConfig, memoryBytes: number): { status: number; detail: Record<string, unknown> } | null {
  if (spec === undefined || !isSupported(spec, config)) {
    return {
      status: TMPM_STATUS.INVALID_COMMAND,
      detail: { reason: spec === undefined ? `command ${toHex(e.command)} is not one this engine knows` : `${spec.name}'s capability bit is off (GET_CAPABILITIES support_reg)`, command: e.command },
    };
  }
  if (e.pages !== 0) return { status: TMPM_STATUS.INVALID_NUM_PAGES, detail: { reason: `cmd_reg bits 27:16 give ${e.pages} pages; these commands take 0`, pages: e.pages } };
  if (listSpa % PAGE_BYTES !== 0 || listSpa + PAGE_BYTES > memoryBytes) {
    return { status: TMPM_STATUS.INVALID_TMPM_LIST_ADDR, detail: { reason: 'list_paddr must be 4 KB aligned and inside memory', listPaddr: e.listPaddr } };
  }
  return null;
}

export function newRunning(
  index: number,
  command: number,
  commandName: string,
  listSpa: number,
  startNs: number,
  endNs: number,
  status: number,
  detail: Record<string, unknown> | undefined,
  outcome: SmashOutcome | undefined,
  gctxSpa: number,
  gctxInput: bigint,
): Running {
  // Every successful smash and unsmash: one literal, keys in the order below (state documents keep it).
  if (detail === undefined && outcome !== undefined) {
    const stallNs = status === TMPM_STATUS.SUCCESS ? outcome.stallNs : 0;
    if (outcome.hpteSpa === undefined) {
      return {
        index,
        command,
        commandName,
        listSpa,
        status,
        subStatus: outcome.subStatus,
        pteError: outcome.pteError,
        pteSubError: outcome.pteSubError,
        startNs,
        endNs,
        stallNs,
        rmpChanged: outcome.rmpChanged,
        gctxSpa,
        gctxInput,
        seq: -1,
        outcome,
      };
    }
    return {
      index,
      command,
      commandName,
      listSpa,
      status,
      subStatus: outcome.subStatus,
      pteError: outcome.pteError,
      pteSubError: outcome.pteSubError,
      startNs,
      endNs,
      stallNs,
      rmpChanged: outcome.rmpChanged,
      hpteSpa: outcome.hpteSpa,
      gctxSpa,
      gctxInput,
      seq: -1,
      outcome,
    };
  }
  return {
    index,
    command,
    commandName,
    listSpa,
    status,
    subStatus: outcome?.subStatus ?? 0,
    pteError: outcome?.pteError ?? 0,
    pteSubError: outcome?.pteSubError ?? 0,
    ...(detail !== undefined ? { detail } : {}),
    startNs,
    endNs,
    stallNs: status === TMPM_STATUS.SUCCESS ? (outcome?.stallNs ?? 0) : 0,
    rmpChanged: outcome?.rmpChanged ?? false,
    ...(outcome?.hpteSpa !== undefined ? { hpteSpa: outcome.hpteSpa } : {}),
    gctxSpa,
    gctxInput,
    seq: -1,
    ...(outcome !== undefined ? { outcome } : {}),
  };
}

/** What a finished entry reports to the call that submitted it. */
export function entryOutcome(r: Running, dmaHeld: number): EntryOutcome {
  if (r.detail === undefined) {
    const statusName = tmpmStatusName(r.status);
    if (r.hpteSpa === undefined) {
      return {
        index: r.index,
        command: r.command,
        commandName: r.commandName,
        listSpa: r.listSpa,
        status: r.status,
        statusName,
        subStatus: r.subStatus,
        pteError: r.pteError,
        pteSubError: r.pteSubError,
        startNs: r.startNs,
        endNs: r.endNs,
        stallNs: r.stallNs,
        dmaHeld,
        rmpChanged: r.rmpChanged,
      };
    }
    return {
      index: r.index,
      command: r.command,
      commandName: r.commandName,
      listSpa: r.listSpa,
      status: r.status,
      statusName,
      subStatus: r.subStatus,
      pteError: r.pteError,
      pteSubError: r.pteSubError,
      startNs: r.startNs,
      endNs: r.endNs,
      stallNs: r.stallNs,
      dmaHeld,
      rmpChanged: r.rmpChanged,
      hpteSpa: r.hpteSpa,
    };
  }
  return {
    index: r.index,
    command: r.command,
    commandName: r.commandName,
    listSpa: r.listSpa,
    status: r.status,
    statusName: tmpmStatusName(r.status),
    subStatus: r.subStatus,
    pteError: r.pteError,
    pteSubError: r.pteSubError,
    ...(r.detail !== undefined ? { detail: r.detail } : {}),
    startNs: r.startNs,
    endNs: r.endNs,
    stallNs: r.stallNs,
    dmaHeld,
    rmpChanged: r.rmpChanged,
    ...(r.hpteSpa !== undefined ? { hpteSpa: r.hpteSpa } : {}),
  };
}

/** Topic `tmpm`, kind command: a finished entry. */
export function commandEvent(o: EntryOutcome): Record<string, unknown> {
  return {
    kind: 'command',
    index: o.index,
    command: o.command,
    commandName: o.commandName,
    listSpa: BigInt(o.listSpa),
    status: o.status,
    statusName: o.statusName,
    startNs: o.startNs,
    endNs: o.endNs,
    stallNs: o.stallNs,
    dmaHeld: o.dmaHeld,
    ...(o.detail !== undefined ? { detail: o.detail } : {}),
  };
}

/** Topic `stall`: a PSMASH_IO / PUNSMASH_IO stall beginning or ending. */
export function stallEvent(phase: 'begin' | 'end', r: { index: number; commandName: string }, o: StallBegun, model: StallModel): Record<string, unknown> {
  const first = o.reaches[0];
  const domains: Array<{ domainId: number; iova: bigint }> = [];
  for (const x of o.reaches) domains.push({ domainId: x.domainId, iova: x.iova });
  return {
    phase,
    command: `tmpm.${r.commandName}`,
    index: r.index,
    domainId: first?.domainId ?? null,
    iova: first?.iova ?? null,
    domains,
    srcPgSpa: BigInt(o.srcPgSpa),
    scope: model.scope,
    policy: model.policy,
    startNs: o.startNs,
    endNs: o.endNs,
  };
}
