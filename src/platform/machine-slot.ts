/**
 * The machine a Platform runs and where it came from (protocol/README.md §12): built
 * from a scenario, replaced whole by emu.reset, emu.revert and emu.loadState, so a
 * rejected document leaves the running machine untouched; and the snapshots
 * emu.snapshot keeps of it. The Platform (platform.ts) answers every other method
 * on whichever machine is here now.
 *
 * Snapshot, revert, dump and load are each one generator of bounded steps
 * (util/steps.ts), run in one go or in slices that yield to the server between
 * them (protocol/README.md §1.3); both give the same bytes. While a sliced one runs
 * the slot is held: the platform's other calls wait (whenFree), so each is atomic
 * to them.
 */
import type { WallClock } from '../clock/wall-clock.js';
import type { EventBus } from '../observe/event-bus.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { jsonCharsSteps } from '../util/json-bounds.js';
import { runSteps, runStepsSliced, type Steps } from '../util/steps.js';
import { buildScenario } from './build-scenario.js';
import { Machine, settingsOf } from './machine.js';
import { dumpSteps, loadSteps, type PlatformState } from './platform-state.js';
import type { Scenario } from './scenario.js';
import { packIotlbSteps, snapshotStateSteps, SnapshotStore, type SnapshotBudget, type SnapshotLimits } from './snapshot-store.js';

/** How machines are built: the platform's options that shape them and bound the snapshots. */
export interface SlotOptions {
  /** The platform's name, for errors. */
  name?: string;
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
  /**
   * Set while a sliced state operation (snapshotSliced, revertSliced,
   * dumpStateSliced, loadStateSliced) runs: the platform's other calls wait for it
   * (whenFree), so each is atomic to them. Resolves when it ends.
   */
  private exclusive: Promise<void> | undefined = undefined;
  private disposed = false;

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

  /** swap at the end of a sliced load or revert: refused (the new machine dropped) when the platform went away meanwhile. */
  private install(next: Machine, scenarioName: string): void {
    if (this.disposed) {
      next.dispose();
      throw new EmuError(ERROR_CODES.NOT_FOUND, 'the platform was deleted while its state was being loaded', { platform: this.options.name ?? '' });
    }
    this.swap(next, scenarioName);
  }

  // ---- holding the slot ----------------------------------------------------

  /** True while a sliced state operation holds the platform (calls wait: whenFree). */
  get busy(): boolean {
    return this.exclusive !== undefined;
  }

  /** Resolves once no sliced state operation holds the platform. */
  async free(): Promise<void> {
    while (this.exclusive !== undefined) await this.exclusive;
  }

  /**
   * Runs `call` now, or, while a sliced state operation holds the platform, once it
   * has ended (then in the order the calls came). The server routes every call of
   * the platform through this.
   */
  whenFree<T>(call: () => T): T | Promise<T> {
    if (this.exclusive === undefined) return call();
    return this.exclusive.then(() => this.whenFree(call));
  }

  /** Holds the platform for `work`: the platform's other calls wait until it settles. */
  private async exclusively<T>(work: () => Promise<T>): Promise<T> {
    await this.free();
    let release = (): void => undefined;
    this.exclusive = new Promise<void>((resolve) => (release = resolve));
    try {
      return await work();
    } finally {
      this.exclusive = undefined;
      release();
    }
  }

  /**
   * Runs state work in slices (`yieldFn` between them). Work that reads the running
   * machine (`reads`) runs at once in realtime mode: the realtime driver moves the
   * machine between turns, and a document must be of one instant.
   */
  private sliced<T>(steps: Steps<T>, yieldFn: () => Promise<void>, sliceMs: number, reads: boolean): Promise<T> {
    if (reads && this.current.clock.mode === 'realtime') return Promise.resolve(runSteps(steps));
    return runStepsSliced(steps, yieldFn, sliceMs);
  }

  // ---- emu.* lifecycle -------------------------------------------------------

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
    return runSteps(this.snapshotSteps());
  }

  /** snapshot in slices (`yieldFn` between them); the platform's other calls wait meanwhile. */
  snapshotSliced(yieldFn: () => Promise<void>, sliceMs: number): Promise<{ snapshotId: string }> {
    return this.exclusively(() => this.sliced(this.snapshotSteps(), yieldFn, sliceMs, true));
  }

  private *snapshotSteps(): Steps<{ snapshotId: string }> {
    const m = this.current;
    const pages = m.memory.sharePages();
    const state = yield* dumpSteps(m, this.name, false);
    const docBytes = yield* jsonCharsSteps(state);
    const packed = yield* packIotlbSteps(state);
    if (this.disposed) throw new EmuError(ERROR_CODES.NOT_FOUND, 'the platform was deleted while the snapshot was being taken', { platform: this.options.name ?? '' });
    return { snapshotId: this.snapshots.add(state, pages, docBytes, packed) };
  }

  /** Restores a snapshot; it stays usable, newer ones are dropped (anvil's evm_revert). */
  revert(snapshotId: string): { ok: true; snapshotId: string } {
    return runSteps(this.revertSteps(snapshotId));
  }

  /** revert with the machine built in slices; the platform's other calls wait meanwhile, and it changes only at the end. */
  revertSliced(snapshotId: string, yieldFn: () => Promise<void>, sliceMs: number): Promise<{ ok: true; snapshotId: string }> {
    return this.exclusively(() => this.sliced(this.revertSteps(snapshotId), yieldFn, sliceMs, false));
  }

  private *revertSteps(snapshotId: string): Steps<{ ok: true; snapshotId: string }> {
    const snap = this.snapshots.get(snapshotId);
    if (snap === undefined) throw new EmuError(ERROR_CODES.NOT_FOUND, `no snapshot ${JSON.stringify(snapshotId)}`, { snapshotId });
    this.install(yield* loadSteps(yield* snapshotStateSteps(snap), this.bus, this.options.wall, snap.pages), snap.state.scenarioName);
    this.snapshots.dropAfter(snapshotId);
    return { ok: true, snapshotId };
  }

  /** Snapshots held and the bytes they take together (distinct pages counted once). */
  snapshotUsage(): { snapshots: number; bytes: number } {
    return this.snapshots.usage();
  }

  dumpState(): { state: PlatformState } {
    return runSteps(this.dumpStateSteps());
  }

  /**
   * dumpState built in slices, then handed to `write` (the server writes it as JSON
   * in slices); the platform's other calls wait until `write` settles.
   */
  dumpStateSliced<R>(yieldFn: () => Promise<void>, sliceMs: number, write: (dump: { state: PlatformState }) => Promise<R>): Promise<R> {
    return this.exclusively(async () => write(await this.sliced(this.dumpStateSteps(), yieldFn, sliceMs, true)));
  }

  private *dumpStateSteps(): Steps<{ state: PlatformState }> {
    return { state: yield* dumpSteps(this.current, this.name) };
  }

  /**
   * loadState for a large document: the machine is built in slices (`yieldFn`
   * between them) while the platform's other calls wait; the platform changes only
   * at the end, and a bad document changes nothing.
   */
  loadStateSliced(state: unknown, yieldFn: () => Promise<void>, sliceMs: number): Promise<{ ok: true }> {
    return this.exclusively(() => this.sliced(this.loadStateSteps(state), yieldFn, sliceMs, false));
  }

  /** Loads a state document; a bad one throws BAD_DOCUMENT and the old state is kept. */
  loadState(state: unknown): { ok: true } {
    return runSteps(this.loadStateSteps(state));
  }

  private *loadStateSteps(state: unknown): Steps<{ ok: true }> {
    this.install(yield* loadSteps(state, this.bus, this.options.wall), (state as PlatformState).scenarioName);
    return { ok: true };
  }

  /** Drops the snapshots and stops the machine's timers; a sliced operation still running is refused at its end. */
  dispose(): void {
    this.disposed = true;
    this.snapshots.clear();
    this.current.dispose();
  }
}
