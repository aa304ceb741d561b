/**
 * The machine a Platform runs and where it came from (protocol/README.md §12): built
 * from a scenario, replaced whole by emu.reset, emu.revert and emu.loadState, so a
 * rejected document leaves the running machine untouched; and the snapshots
 * emu.snapshot keeps of it. The Platform (platform.ts) answers every other method
 * on whichever machine is here now.
 */
import type { WallClock } from '../clock/wall-clock.js';
import type { EventBus } from '../observe/event-bus.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { buildScenario } from './build-scenario.js';
import { Machine, settingsOf } from './machine.js';
import { decodeMemorySliced, dumpMachine, loadMachine, type PlatformState } from './platform-state.js';
import type { Scenario } from './scenario.js';
import { SnapshotStore, type SnapshotBudget, type SnapshotLimits } from './snapshot-store.js';

/** How machines are built: the platform's options that shape them and bound the snapshots. */
export interface SlotOptions {
  wall?: WallClock;
  cBit?: number | null;
  snapshotLimits?: SnapshotLimits;
  snapshotBudget?: SnapshotBudget;
}

export class MachineSlot {
  private current: Machine;
  /** What emu.reset without a scenario rebuilds. */
  private scenario: Scenario;
  /** The scenario the current state came from (a loaded state carries its own). */
  private name: string;
  private readonly snapshots: SnapshotStore;

  constructor(
    scenario: Scenario,
    private readonly bus: EventBus,
    private readonly options: SlotOptions,
  ) {
    this.scenario = scenario;
    this.name = scenario.name;
    this.snapshots = new SnapshotStore(options.snapshotLimits, options.snapshotBudget);
    this.current = this.build(scenario);
  }

  /** The machine running now. */
  get machine(): Machine {
    return this.current;
  }

  /** The name of the scenario the running state came from. */
  get scenarioName(): string {
    return this.name;
  }

  private build(scenario: Scenario): Machine {
    const cBit = this.options.cBit === undefined ? scenario.cBit : this.options.cBit;
    const m = new Machine(settingsOf(scenario, cBit), this.bus, this.options.wall);
    buildScenario(m, scenario);
    if (scenario.clock.mode === 'realtime') m.setClockMode('realtime', scenario.clock.speed);
    return m;
  }

  private swap(next: Machine, scenarioName: string): void {
    this.current.dispose();
    this.current = next;
    this.name = scenarioName;
  }

  /** Rebuilds from `scenario` (default: the one in use); a bad one changes nothing. */
  reset(scenario?: Scenario): { ok: true; scenario: string } {
    const s = scenario ?? this.scenario;
    this.swap(this.build(s), s.name);
    this.scenario = s;
    return { ok: true, scenario: s.name };
  }

  /**
   * Stores the state in memory; refused with EMU_LIMIT past the snapshot limits.
   * Memory pages are shared with the running machine and other snapshots until
   * one of them writes the page (copy-on-write).
   */
  snapshot(): { snapshotId: string } {
    const m = this.current;
    const pages = m.memory.sharePages();
    const state = dumpMachine(m, this.name, false);
    return { snapshotId: this.snapshots.add(state, pages) };
  }

  /** Restores a snapshot; it stays usable, newer ones are dropped (anvil's evm_revert). */
  revert(snapshotId: string): { ok: true; snapshotId: string } {
    const snap = this.snapshots.get(snapshotId);
    if (snap === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, `no snapshot ${JSON.stringify(snapshotId)}`, { snapshotId });
    this.swap(loadMachine(snap.state, this.bus, this.options.wall, snap.pages), snap.state.scenarioName);
    this.snapshots.dropAfter(snapshotId);
    return { ok: true, snapshotId };
  }

  /** Snapshots held and the bytes they take together (distinct pages counted once). */
  snapshotUsage(): { snapshots: number; bytes: number } {
    return this.snapshots.usage();
  }

  dumpState(): { state: PlatformState } {
    return { state: dumpMachine(this.current, this.name) };
  }

  /**
   * loadState for a large document: its memory is decoded in slices (`yieldFn`
   * between them) before the machine is built; the platform changes only at the end.
   */
  async loadStateSliced(state: unknown, yieldFn: () => Promise<void>, sliceMs: number): Promise<{ ok: true }> {
    const pages = await decodeMemorySliced(state, yieldFn, sliceMs);
    this.swap(loadMachine(state, this.bus, this.options.wall, pages), (state as PlatformState).scenarioName);
    return { ok: true };
  }

  /** Loads a state document; a bad one throws BAD_DOCUMENT and the old state is kept. */
  loadState(state: unknown): { ok: true } {
    this.swap(loadMachine(state, this.bus, this.options.wall), (state as PlatformState).scenarioName);
    return { ok: true };
  }

  /** Drops the snapshots and stops the machine's timers. */
  dispose(): void {
    this.snapshots.clear();
    this.current.dispose();
  }
}
