/**
 * The TMPM's command table (protocol/README.md §4.3.4; ARCHITECTURE.md "Add a device
 * command"): one record per command gives its number, name, capability bit, budget
 * check and run; the engine's lookup, GET_CAPABILITIES' support_reg, the refusal of a
 * command whose bit is off and the fault targets all come from it. The budget check
 * of a smash is asked once per entry: by the convenience method before anything is
 * written, or by the engine when the entry starts.
 */
import { describe, expect, it, vi } from 'vitest';
import { createPlatform, type Platform } from '../../src/platform/platform.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';
import { capabilitiesOf, TMPM_COMMANDS, tmpmCommand } from '../../src/tmpm/command-table.js';
import { TMPM_COMMAND } from '../../src/tmpm/commands.js';
import { DEFAULT_TMPM_CONFIG } from '../../src/tmpm/tmpm-config.js';
import { TMPM_COMMAND_TARGETS } from '../../src/platform/fault-injector.js';
import { METHODS } from '../../src/protocol/methods.js';
import { psmashArgs } from '../helpers/smash.js';

const TEE_DEV = 0x0100;
const REGION_IOVA = 0x20_0000n;
const RBHEAD = 0x08;

/** Writes one ring entry at the head and rings RBHEAD, as a driver does. */
function ringEntry(p: Platform, listSpa: bigint, command: number): number {
  const ring = Number(p.info().tmpm.ringSpa);
  const head = p.tmpmRegs().engine.lastHeadWritten;
  p.memWrite64(ring + head * 16, [listSpa, BigInt(command)]);
  p.tmpmWriteReg(RBHEAD, head + 1);
  return head;
}

/** The smash's four addresses written into a fresh command page. */
function commandPage(p: Platform): bigint {
  const a = psmashArgs(p, TEE_DEV, REGION_IOVA);
  const { spa } = p.memAlloc(1);
  p.memWrite64(Number(spa), [a.srcPgSpa, a.smashHpteSpa, a.srcHpmdSpa, a.gctxSpa]);
  return spa;
}

describe('the TMPM command table', () => {
  it('holds one record per command number, and the fault targets are its names', () => {
    expect(TMPM_COMMANDS.map((c) => [c.name, c.id])).toEqual(Object.entries(TMPM_COMMAND));
    expect(TMPM_COMMAND_TARGETS).toEqual(['tmpm.GET_CAPABILITIES', 'tmpm.NOOP', 'tmpm.PSMASH_IO', 'tmpm.PUNSMASH_IO']);
    // fault.add's method schema takes every target.
    const params = METHODS['fault.add'].params;
    for (const method of TMPM_COMMAND_TARGETS) expect(params.safeParse({ method, status: 0x17 }).success, method).toBe(true);
  });

  it('finds PUNSMASH_IO under the number the settings give it, before any fixed number', () => {
    expect(tmpmCommand(0x06, DEFAULT_TMPM_CONFIG)?.name).toBe('PUNSMASH_IO');
    expect(tmpmCommand(0x05, DEFAULT_TMPM_CONFIG)?.name).toBe('PSMASH_IO');
    expect(tmpmCommand(0x02, DEFAULT_TMPM_CONFIG)).toBeUndefined();
    const renumbered = { ...DEFAULT_TMPM_CONFIG, punsmashCommand: 0x20 };
    expect(tmpmCommand(0x20, renumbered)?.name).toBe('PUNSMASH_IO');
    expect(tmpmCommand(0x06, renumbered)).toBeUndefined();
    expect(tmpmCommand(0x05, { ...DEFAULT_TMPM_CONFIG, punsmashCommand: 0x05 })?.name).toBe('PUNSMASH_IO');
  });

  it("sets support_reg from the records' capability bits and their switches", async () => {
    expect(capabilitiesOf(DEFAULT_TMPM_CONFIG).supportReg).toBe((1 << 6) | (1 << 7));
    expect(capabilitiesOf({ ...DEFAULT_TMPM_CONFIG, punsmash: false }).supportReg).toBe(1 << 6);
    const p = createPlatform({ ...DEFAULT_SCENARIO, tmpm: { ...DEFAULT_SCENARIO.tmpm, psmash: false } });
    expect(await p.tmpmGetCapabilities()).toMatchObject({ supportReg: 1 << 7, psmash: false, punsmash: true });
    // A command whose bit is off is INVALID_COMMAND, through the ring as through the convenience method.
    const r = await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(r).toMatchObject({ status: 0x0b, detail: { reason: "PSMASH_IO's capability bit is off (GET_CAPABILITIES support_reg)" } });
  });
});

describe("a smash's budget check", () => {
  /** Counts the budget checks: each reads the running streams' rate once. */
  function counted(p: Platform) {
    return vi.spyOn(p.m.dma, 'activeStreamRatePerSec');
  }

  it('runs once per convenience smash: before anything is written, not again when the entry starts at once', async () => {
    const p = createPlatform();
    const spy = counted(p);
    const r = await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(r.status).toBe(0xf0);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockClear();
    expect((await p.tmpmSubmit({ command: TMPM_COMMAND.NOOP, listSpa: p.memAlloc(1).spa })).statusName).toBe('SUCCESS');
    expect(spy).not.toHaveBeenCalled();
  });

  it('runs once for an entry a driver writes itself, when the engine starts it', async () => {
    const p = createPlatform();
    const spy = counted(p);
    const head = ringEntry(p, commandPage(p), TMPM_COMMAND.PSMASH_IO);
    expect(spy).toHaveBeenCalledTimes(1);
    await p.clockAdvance(5_000_000);
    expect(p.m.tmpm.getState().ring.tail).toBe(head + 1);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('is asked again when the entry waits behind another: the streams may have changed by its turn', async () => {
    const p = createPlatform();
    // A NOOP a driver rang runs for commandNs; the smash queues behind it.
    ringEntry(p, p.memAlloc(1).spa, TMPM_COMMAND.NOOP);
    const spy = counted(p);
    const r = await p.tmpmPsmashIo(psmashArgs(p, TEE_DEV, REGION_IOVA));
    expect(r).toMatchObject({ status: 0xf0, startNs: 1000 });
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it("refuses at the entry's turn with RESOURCE_NOT_AVAILABLE when the streams grew meanwhile", async () => {
    const p = createPlatform();
    p.tmpmSetStallModel({ baseNs: 20_000_000, jitter: { dist: 'none' } });
    ringEntry(p, p.memAlloc(1).spa, TMPM_COMMAND.NOOP);
    const head = ringEntry(p, commandPage(p), TMPM_COMMAND.PSMASH_IO);
    // Too many poisson requests for one stall: 1e9/s over 20 ms.
    p.dmaStartStream({ deviceId: TEE_DEV, iovaBase: REGION_IOVA, length: 0x20_0000, ratePerSec: 1e9, accessBytes: 64, writeRatio: 0, arrival: 'poisson' });
    await p.clockAdvance(1000);
    const ring = Number(p.info().tmpm.ringSpa);
    expect(p.memRead64(ring + head * 16 + 8, 1).values[0]).toBe(0x17_0000_0005n);
  });
});
