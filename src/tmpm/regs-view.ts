/**
 * tmpm.regs: every mailbox register, raw and decoded (registers.ts owns the bits),
 * and what the engine is doing, read from the engine's state.
 */
import type { TmpmEngine } from './tmpm-engine.js';
import { CDATA_PAGES_MASK, decodeRbctl, decodeStatus, ringBaseOf, TMPM_REG } from './registers.js';

export function tmpmRegsView(engine: TmpmEngine) {
  const s = engine.getState();
  const status = engine.readReg(TMPM_REG.STATUS);
  return {
    RBCTL: { offset: TMPM_REG.RBCTL, value: s.regs.rbctl, ...decodeRbctl(s.regs.rbctl) },
    RBTAIL: { offset: TMPM_REG.RBTAIL, value: engine.readReg(TMPM_REG.RBTAIL), tail: s.ring.tail },
    RBHEAD: { offset: TMPM_REG.RBHEAD, value: 0, writeOnly: true },
    CDATA: { offset: TMPM_REG.CDATA, value: s.regs.cdata, ringPages: s.regs.cdata & CDATA_PAGES_MASK },
    RBLOW: { offset: TMPM_REG.RBLOW, value: s.regs.rblow },
    RBHIGH: { offset: TMPM_REG.RBHIGH, value: s.regs.rbhigh, ringBase: BigInt(ringBaseOf(s.regs.rblow, s.regs.rbhigh)) },
    THRESH: { offset: TMPM_REG.THRESH, value: s.regs.thresh },
    STATUS: { offset: TMPM_REG.STATUS, value: status, ...decodeStatus(status) },
    engine: {
      initialised: s.applied.init,
      paused: s.applied.pause,
      stopped: s.stopped,
      ringSpa: BigInt(s.ring.baseSpa),
      ringEntries: s.ring.entries,
      head: s.ring.head,
      lastHeadWritten: s.ring.lastHead,
      pending: engine.pendingEntries(),
      running: s.running === null ? null : { index: s.running.index, commandName: s.running.commandName, startNs: s.running.startNs, endNs: s.running.endNs },
      pendingControlWrites: s.pendingCtl.length,
      heldControlWrites: s.heldCtl?.length ?? 0,
      interrupts: s.interrupts,
      commands: s.commands,
    },
  };
}
