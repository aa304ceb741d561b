/**
 * The assembled machine: every component of one platform, wired together. A
 * Platform swaps its Machine whole on emu.reset, emu.revert and emu.loadState, so
 * a rejected document leaves the running machine untouched.
 */
import { VirtualClock } from '../clock/virtual-clock.js';
import { RealtimeDriver } from '../clock/realtime-driver.js';
import type { WallClock } from '../clock/wall-clock.js';
import { HostMemory } from '../memory/host-memory.js';
import { PagePool } from '../memory/page-pool.js';
import { RmpTable } from '../rmp/rmp-table.js';
import { Iommu } from '../iommu/iommu.js';
import { DmaEngine } from '../dma/dma-engine.js';
import { Firmware } from '../firmware/firmware.js';
import { TmpmEngine } from '../tmpm/tmpm-engine.js';
import { DEFAULT_TMPM_CONFIG, type TmpmConfig } from '../tmpm/tmpm-config.js';
import { SeededRng } from '../util/rng.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { GuestTable } from '../firmware/guests.js';
import { PspDevice } from '../psp/psp-device.js';
import { DoeDevices } from '../psp/spdm-device.js';
import { DEFAULT_PSP_CONFIG, type PspConfig } from '../psp/psp-config.js';
import { TioHost } from './tio-host.js';
import { FaultInjector } from './fault-injector.js';
import type { EventBus } from '../observe/event-bus.js';
import type { Scenario } from './scenario.js';
import type { RmpSizeRule } from '../iommu/rmp-check.js';
import type { TimingOptions } from '../iommu/timing.js';
import { DEFAULT_TIMING } from '../iommu/timing.js';
import { DmaAccessPort } from '../iommu/dma-access-port.js';
import { eventView, rmpEntryView } from './views.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/**
 * The largest maxAdvanceNs a scenario or state may set: 600 s of virtual time. It
 * also bounds an injected delayNs, which runs the clock in one step.
 */
export const MAX_ADVANCE_LIMIT_NS = 600_000_000_000;

/** Settings that shape the machine but are not hardware state. */
export interface MachineSettings {
  memoryBytes: number;
  seed: number;
  eventLogEntries: number;
  serviceNs: number;
  maxAdvanceNs: number;
  /** IOTLB capacity; absent in documents written before it existed (then the default). */
  iotlbEntries?: number;
  rmpSizeRule: RmpSizeRule;
  timing: TimingOptions;
  cBit: number | null;
}

export function settingsOf(s: Scenario, cBit: number | null = s.cBit): MachineSettings {
  return {
    memoryBytes: s.memoryBytes,
    seed: s.seed,
    eventLogEntries: s.eventLogEntries,
    serviceNs: s.serviceNs,
    maxAdvanceNs: s.maxAdvanceNs,
    iotlbEntries: s.iotlbEntries,
    rmpSizeRule: s.rmpSizeRule,
    timing: { ...DEFAULT_TIMING },
    cBit,
  };
}

/** The engine settings of a scenario's `tmpm` section (without `initialised`, a build step). */
export function tmpmConfigOf(s: Scenario): TmpmConfig {
  const { initialised: _initialised, ...config } = s.tmpm;
  return { ...DEFAULT_TMPM_CONFIG, ...config };
}

/** The PSP's settings from a scenario's `psp`, `tio` and devices' `teeIo`. */
export function pspConfigOf(s: Scenario): PspConfig {
  const { supported, ...sizes } = s.tio;
  return {
    ...DEFAULT_PSP_CONFIG,
    cmdNs: s.psp.cmdNs,
    commandNs: { ...s.psp.commandNs },
    apiMajor: s.psp.apiMajor,
    apiMinor: s.psp.apiMinor,
    buildId: s.psp.buildId,
    tioSupported: supported,
    tio: sizes,
    tioDevices: s.devices.filter((d) => d.teeIo !== false).map((d) => d.deviceId),
  };
}

/**
 * The page pool's window: the top of host memory, 1/16 of it, between 4 MiB and
 * 1 GiB, 2 MiB aligned. Guest memory in scenarios must stay below it.
 */
export function poolWindow(memoryBytes: number): { baseSpa: number; endSpa: number } {
  const bytes = Math.min(GiB, Math.max(4 * MiB, Math.floor(memoryBytes / 16 / (2 * MiB)) * 2 * MiB));
  if (memoryBytes < 8 * MiB) {
    throw new EmuError(ERROR_CODES.BAD_DOCUMENT, `memory of ${memoryBytes} bytes is too small: at least 8 MiB is needed for the page pool`);
  }
  return { baseSpa: memoryBytes - bytes, endSpa: memoryBytes };
}

export class Machine {
  readonly clock = new VirtualClock();
  readonly rng: SeededRng;
  readonly memory: HostMemory;
  readonly pool: PagePool;
  readonly rmp: RmpTable;
  readonly iommu: Iommu;
  readonly guests = new GuestTable();
  readonly firmware: Firmware;
  readonly tmpm: TmpmEngine;
  /** The PSP's SEV mailbox (the firmware as a device), the devices' DOE mailboxes, and the TIO convenience's host-side buffers. */
  readonly psp: PspDevice;
  readonly doe: DoeDevices;
  readonly tioHost = new TioHost();
  readonly dma: DmaEngine;
  readonly faults: FaultInjector;
  /** The DMA engine's port (IOMMU translation + RMP check), with its IOTLB hit counts. */
  readonly port: DmaAccessPort;
  private driver: RealtimeDriver | undefined;

  constructor(
    readonly settings: MachineSettings,
    readonly bus: EventBus,
    private readonly wall: WallClock | undefined,
  ) {
    this.rng = new SeededRng(settings.seed);
    // A stall or an injected delay in virtual mode runs the clock in chunks that let the server answer meanwhile.
    if (wall !== undefined) this.clock.yieldFn = () => new Promise<void>((resolve) => wall.defer(resolve));
    this.memory = new HostMemory(settings.memoryBytes);
    const { baseSpa, endSpa } = poolWindow(settings.memoryBytes);
    this.pool = new PagePool(this.memory, baseSpa, endSpa);
    this.rmp = new RmpTable(settings.memoryBytes);
    this.iommu = new Iommu(this.memory, this.pool, { eventLogEntries: settings.eventLogEntries, cBit: settings.cBit, ...(settings.iotlbEntries === undefined ? {} : { iotlbEntries: settings.iotlbEntries }) });
    this.firmware = new Firmware(this.guests, this.clock, bus);
    this.firmware.deviceDomain = (deviceId) => this.iommu.domainOf(deviceId);
    const port = (this.port = new DmaAccessPort(this.iommu, this.rmp, this.firmware, this.clock, settings.timing, () => this.settings.rmpSizeRule));
    this.dma = new DmaEngine({ clock: this.clock, rng: this.rng, port, serviceNs: settings.serviceNs });
    this.faults = new FaultInjector(this.rng);
    this.tmpm = new TmpmEngine({
      memory: this.memory,
      rmp: this.rmp,
      iommu: this.iommu,
      dma: this.dma,
      guests: this.guests,
      clock: this.clock,
      rng: this.rng,
      cBit: settings.cBit,
      events: bus,
      snpInitialized: () => this.firmware.snpInitialized,
      commandFault: (name) => this.faults.commandFault(name),
    });
    this.psp = new PspDevice({
      memory: this.memory,
      rmp: this.rmp,
      guests: this.guests,
      firmware: this.firmware,
      clock: this.clock,
      events: bus,
      cBit: settings.cBit,
      commandFault: (name) => this.faults.pspCommandFault(name),
      rand32: () => this.rng.nextUint32(),
    });
    this.doe = new DoeDevices(
      this.rng,
      () => new Set(this.psp.config.tioDevices),
      (name) => this.faults.spdmFault(name),
    );
    this.psp.certChainOf = (deviceId) => this.doe.certificateChain(deviceId);
    this.wireEvents();
  }

  /** Forwards component hooks to the bus, building event data only when someone listens. */
  private wireEvents(): void {
    const bus = this.bus;
    this.rmp.onChange = (c) => {
      if (bus.has('rmp')) bus.emit('rmp', this.clock.nowNs, { op: c.op, spa: BigInt(c.spa), pageSize: c.pageSize, entry: rmpEntryView(this.rmp.read(c.spa)) });
    };
    this.iommu.eventLog.onLog = (e) => {
      if (bus.has('iommu')) bus.emit('iommu', e.atNs, eventView(e));
    };
    this.dma.onOutcome = (r) => {
      if (bus.has('dma')) bus.emit('dma', r.atNs, { ...r, iova: BigInt(r.iova) });
    };
  }

  /** Switches the clock mode; realtime needs the wall-clock adapter the server hands in. */
  setClockMode(mode: 'virtual' | 'realtime', speed: number): void {
    if (mode === 'realtime' && this.wall === undefined) {
      throw new EmuError(ERROR_CODES.WRONG_MODE, 'realtime mode needs a wall clock: create the platform with the `wall` option (the server does)');
    }
    this.driver?.stop();
    this.driver = undefined;
    this.clock.setMode(mode, speed);
    if (mode === 'realtime' && this.wall !== undefined) {
      this.driver = new RealtimeDriver(this.clock, this.wall);
      this.driver.start();
    }
  }

  /** In realtime mode, moves virtual time up to the wall clock (before each call). */
  syncClock(): void {
    if (this.driver?.isRunning) this.driver.catchUp();
  }

  /** How far virtual time runs behind the wall clock in realtime mode, ns (0 when keeping up, and in virtual mode). */
  clockLagNs(): number {
    return this.driver?.isRunning === true ? this.driver.lagNs() : 0;
  }

  /** Stops the realtime driver (the machine is being replaced or the server stops). */
  dispose(): void {
    this.driver?.stop();
    this.driver = undefined;
    // A call waiting on this machine's realtime clock (a stall, a held request) must
    // still answer: switching to virtual runs the old clock to what it waits for.
    if (this.clock.mode === 'realtime') this.clock.setMode('virtual', this.clock.speed);
  }
}
