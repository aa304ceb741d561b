/**
 * The platform's own running counts for GET /metrics, kept from its event bus (a
 * tap, so they count whoever issued the command and whether or not a client
 * subscribed): firmware and TMPM commands by command and status name, and stall
 * durations in fixed buckets. They live as long as the platform (emu.reset and
 * emu.revert do not zero them: Prometheus counters only go up).
 *
 * Keys are bounded by construction: `fw` command names are method names the
 * platform itself writes, TMPM command and status names come from the engine's code
 * tables (an unknown number is UNKNOWN_0xNN: at most 256 of them).
 */
import type { EventBus } from './event-bus.js';

/** Stall duration bucket bounds, seconds (the default model is 2 ms +/- 0.5 ms). */
export const STALL_BUCKETS_SECONDS = [0.00001, 0.0001, 0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5];

export interface CommandCount {
  /** 'fw' (the fw.* / tio.* conveniences), 'psp' (each PSP mailbox command, however issued) or 'tmpm' (the TMPM engine). */
  source: 'fw' | 'psp' | 'tmpm';
  command: string;
  statusName: string;
  count: number;
}

export class EventTally {
  /** Every count, in the order first seen (commandCounts), and source -> command -> statusName -> its count (no key string built per event). */
  private readonly list: CommandCount[] = [];
  private readonly index = { fw: new Map<string, Map<string, CommandCount>>(), psp: new Map<string, Map<string, CommandCount>>(), tmpm: new Map<string, Map<string, CommandCount>>() };
  /** Per STALL_BUCKETS_SECONDS entry, stalls at most that long and longer than the one before; the last slot is above every bound. */
  readonly stallBuckets = new Float64Array(STALL_BUCKETS_SECONDS.length + 1);
  stallSumSeconds = 0;
  stallCount = 0;
  private readonly off: () => void;

  constructor(bus: EventBus) {
    this.off = bus.tap(['fw', 'psp', 'tmpm', 'stall'], (topic, _atNs, d) => {
      if (topic === 'fw') {
        const r = d.result as { statusName?: unknown } | undefined;
        this.count('fw', String(d.command), typeof r?.statusName === 'string' ? r.statusName : 'UNKNOWN');
      } else if (topic === 'psp') {
        // An id the firmware does not serve counts as UNKNOWN (2048 possible ids would be 2048 keys).
        if (d.kind === 'command') this.count('psp', /^0x/.test(String(d.commandName)) ? 'UNKNOWN' : String(d.commandName), String(d.statusName));
      } else if (topic === 'tmpm') {
        if (d.kind === 'command') this.count('tmpm', String(d.commandName ?? d.command), String(d.statusName));
      } else if (d.phase === 'end' && typeof d.startNs === 'number' && typeof d.endNs === 'number') {
        this.stall((d.endNs - d.startNs) / 1e9);
      }
    });
  }

  commandCounts(): CommandCount[] {
    return [...this.list];
  }

  dispose(): void {
    this.off();
  }

  private count(source: 'fw' | 'psp' | 'tmpm', command: string, statusName: string): void {
    let byStatus = this.index[source].get(command);
    if (byStatus === undefined) this.index[source].set(command, (byStatus = new Map()));
    const c = byStatus.get(statusName);
    if (c !== undefined) {
      c.count++;
      return;
    }
    const fresh: CommandCount = { source, command, statusName, count: 1 };
    byStatus.set(statusName, fresh);
    this.list.push(fresh);
  }

  private stall(seconds: number): void {
    let i = 0;
    while (i < STALL_BUCKETS_SECONDS.length && seconds > (STALL_BUCKETS_SECONDS[i] as number)) i++;
    this.stallBuckets[i] = (this.stallBuckets[i] as number) + 1;
    this.stallSumSeconds += seconds;
    this.stallCount++;
  }
}
