/**
 * The TMPM's bit layouts against test/vectors/tmpm.json: register offsets and bits,
 * commands, statuses, PTE errors, ring entries, gctx words, the capability page and
 * the driver's PTE pre-fill.
 */
import { describe, it, expect } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';
import { RBCTL_INIT, RBCTL_PAUSE, STATUS_DRIVER_INIT, STATUS_ENGINE_READY, STATUS_RB_ERR, STATUS_TOGGLE, STATUS_WPTR_ERR, TMPM_REG, decodeStatus, encodeStatus } from '../../src/tmpm/registers.js';
import { decodeRingEntry, encodeRingEntry, withRingStatus, circSpace } from '../../src/tmpm/ring.js';
import {
  decodeCapabilities,
  decodeGctxWord,
  encodeCapabilities,
  encodeGctxWord,
  gctxWithOutputs,
  PTE_ERROR,
  SUPPORT_PSMASH,
  SUPPORT_PUNSMASH,
  SUPPORT_RELOAD,
  TMPM_COMMAND,
  TMPM_STATUS,
  tmpmStatusName,
} from '../../src/tmpm/commands.js';
import { smashPrefillPte } from '../../src/iommu/pte.js';

interface TmpmVector {
  name: string;
  qwords?: string[];
  value?: string;
  old?: string;
  index?: number;
  decoded?: Record<string, unknown>;
}

const file = loadVectors<TmpmVector>('tmpm');
const tables = file.tables as Record<string, Record<string, number>>;
const big = (s: string) => BigInt(s);

describe('TMPM tables (tmpm.json "tables")', () => {
  it('register offsets', () => {
    expect({ ...TMPM_REG }).toEqual(tables['registers']);
  });

  it('RBCTL, STATUS and support_reg bits', () => {
    const bits = tables['bits']!;
    expect(RBCTL_PAUSE).toBe(bits['RBCTL_PAUSE']);
    expect(RBCTL_INIT).toBe(bits['RBCTL_INIT']);
    expect(STATUS_ENGINE_READY).toBe(bits['STATUS_ENGINE_READY']);
    expect(STATUS_DRIVER_INIT).toBe(bits['STATUS_DRIVER_INIT']);
    expect(STATUS_RB_ERR).toBe(bits['STATUS_RB_ERR']);
    expect(STATUS_WPTR_ERR).toBe(bits['STATUS_WPTR_ERR']);
    expect(STATUS_TOGGLE).toBe(bits['STATUS_TOGGLE']);
    expect(SUPPORT_RELOAD).toBe(bits['SUPPORT_RELOAD']);
    expect(SUPPORT_PSMASH).toBe(bits['SUPPORT_PSMASH']);
    expect(SUPPORT_PUNSMASH).toBe(bits['SUPPORT_PUNSMASH']);
  });

  it('commands, statuses and PTE errors, names and numbers', () => {
    expect({ ...TMPM_COMMAND }).toEqual(tables['commands']);
    expect({ ...TMPM_STATUS }).toEqual(tables['statuses']);
    const { NONE: _none, ...errors } = PTE_ERROR;
    expect(errors).toEqual(tables['pteErrors']);
    for (const [name, value] of Object.entries(tables['statuses']!)) expect(tmpmStatusName(value)).toBe(name);
  });

  it('STATUS encodes and decodes every bit, TOGGLE as an unsigned 2^31', () => {
    const all = { engineReady: true, driverInit: true, rbErr: true, wptrErr: true, toggle: true };
    expect(encodeStatus(all)).toBe(0x8600_0003);
    expect(decodeStatus(0x8600_0003)).toEqual(all);
    expect(decodeStatus(STATUS_ENGINE_READY)).toEqual({ engineReady: true, driverInit: false, rbErr: false, wptrErr: false, toggle: false });
  });
});

describe('TMPM structures (tmpm.json "vectors")', () => {
  for (const v of file.vectors) {
    it(v.name, () => {
      if (v.name.startsWith('ring entry') || v.name.startsWith('the same entry')) {
        const [q0, q1] = (v.qwords as string[]).map(big) as [bigint, bigint];
        const d = v.decoded as { listPaddr: string; command: number; pages: number; status: number };
        expect(decodeRingEntry(q0, q1)).toEqual({ listPaddr: big(d.listPaddr), command: d.command, pages: d.pages, status: d.status });
        expect(encodeRingEntry({ listPaddr: big(d.listPaddr), command: d.command, pages: d.pages, status: d.status })).toEqual([q0, q1]);
        if (d.status !== 0) {
          const [, asSubmitted] = encodeRingEntry({ listPaddr: big(d.listPaddr), command: d.command, pages: d.pages, status: 0 });
          expect(withRingStatus(asSubmitted, d.status)).toBe(q1);
        }
      } else if (v.name.startsWith('gctx word')) {
        const d = v.decoded as { gctxPage: string; status: number; subStatus: number; pteSubError: number; pteError: number };
        const decoded = { gctxPage: big(d.gctxPage), status: d.status, subStatus: d.subStatus, pteSubError: d.pteSubError, pteError: d.pteError };
        expect(decodeGctxWord(big(v.value as string))).toEqual(decoded);
        expect(encodeGctxWord(decoded)).toBe(big(v.value as string));
        const { gctxPage, ...outputs } = decoded;
        expect(gctxWithOutputs(gctxPage, outputs)).toBe(big(v.value as string));
      } else if (v.name.startsWith('capability page')) {
        const [q0, q1] = (v.qwords as string[]).map(big) as [bigint, bigint];
        expect(decodeCapabilities(q0, q1)).toEqual(v.decoded);
        expect(encodeCapabilities(v.decoded as never)).toEqual([q0, q1]);
      } else if (v.name.startsWith('PTE pre-fill')) {
        expect(smashPrefillPte(big(v.old as string), v.index as number)).toBe(big(v.value as string));
      } else {
        throw new Error(`no check for vector ${v.name}`);
      }
    });
  }

  it('CIRC_SPACE leaves one slot unused, as Linux counts it', () => {
    expect(circSpace(0, 0, 256)).toBe(255);
    expect(circSpace(255, 0, 256)).toBe(0);
    expect(circSpace(10, 11, 256)).toBe(0);
    expect(circSpace(5, 3, 256)).toBe(253);
  });
});
