import { describe, expect, it } from 'vitest';
import { formatEvent, ms } from '../../src/cli/watch-format.js';

describe('formatEvent (smash-emu watch)', () => {
  it('decodes a TMPM command (topic tmpm) with its status name and number and its length', () => {
    expect(formatEvent('tmpm', 7_401_027, { kind: 'command', index: 3, command: 5, commandName: 'PSMASH_IO', status: 0xf0, statusName: 'SUCCESS', startNs: 5_000_000, endNs: 7_401_027 })).toBe(
      '[     7.401027 ms] tmpm   #3 PSMASH_IO (0x05) -> SUCCESS (0xf0), 2.401027 ms',
    );
    expect(formatEvent('tmpm', 10, { kind: 'interrupt', reason: 'WPTR_ERR' })).toBe('[     0.000010 ms] tmpm   interrupt: WPTR_ERR');
  });

  it('decodes PSP mailbox commands, SPDM steps, DOE exchanges and interrupts (topic psp)', () => {
    expect(
      formatEvent('psp', 30_000, {
        kind: 'command',
        seq: 3,
        command: 0xc7,
        commandName: 'SNP_PAGE_RECLAIM',
        status: 0x1a,
        statusName: 'INVALID_PAGE_STATE',
        startNs: 20_000,
        endNs: 30_000,
        cmdresp: 0x80c7001a,
        detail: { reason: 'not immutable' },
      }),
    ).toBe('[     0.030000 ms] psp    SNP_PAGE_RECLAIM (0xc7) -> INVALID_PAGE_STATE (0x1a), CMDRESP 0x80c7001a, 0.010000 ms, not immutable');
    expect(formatEvent('psp', 0, { kind: 'spdm', command: 'TIO_DEV_CONNECT', deviceId: 0x200, phase: 'request', request: 'GET_CERTIFICATE', secured: false })).toBe(
      '[     0.000000 ms] psp    SPDM TIO_DEV_CONNECT device 02:00.0 -> GET_CERTIFICATE',
    );
    expect(formatEvent('psp', 0, { kind: 'spdm', command: 'TIO_DEV_CONNECT', deviceId: 0x200, phase: 'response', request: 'GET_CERTIFICATE', ok: false, why: 'SPDM ERROR 0x5' })).toBe(
      '[     0.000000 ms] psp    SPDM TIO_DEV_CONNECT device 02:00.0 <- answer to GET_CERTIFICATE: SPDM ERROR 0x5',
    );
    expect(formatEvent('psp', 0, { kind: 'interrupt', intsts: 2, command: 0x84, commandName: 'SNP_DF_FLUSH' })).toBe('[     0.000000 ms] psp    interrupt SEV_CMD_COMPLETE (SNP_DF_FLUSH), INTSTS 0x02');
  });

  it('says a stall begin and end with their duration and scope', () => {
    const d = { command: 'PSMASH_IO', domainId: 1, iova: '0x200000', scope: 'iommu', policy: 'abort', startNs: 1_000, endNs: 2_001_000 };
    expect(formatEvent('stall', 1_000, { ...d, phase: 'begin' })).toBe('[     0.001000 ms] stall  begin: DMA of the whole IOMMU stalled by PSMASH_IO (policy abort) for 2.000000 ms, iova 0x200000');
    expect(formatEvent('stall', 2_001_000, { ...d, phase: 'end' })).toBe('[     2.001000 ms] stall  end:   DMA of the whole IOMMU resumes after 2.000000 ms by PSMASH_IO');
  });

  it('decodes firmware results, RMP changes and DMA outcomes, and prints unknown shapes as JSON', () => {
    expect(formatEvent('fw', 0, { command: 'fw.init', params: {}, result: { status: 1, statusName: 'INVALID_PLATFORM_STATE', detail: { reason: 'already initialised' } } })).toBe(
      '[     0.000000 ms] fw     fw.init -> INVALID_PLATFORM_STATE (0x01), already initialised',
    );
    expect(formatEvent('rmp', 0, { op: 'psmash', spa: '0x100200000', pageSize: '2M', entry: { assigned: true, asid: 1, gpa: '0x200000', pageSize: '4K', validated: true, immutable: false } })).toBe(
      '[     0.000000 ms] rmp    psmash 0x100200000 2M: now 4K assigned to ASID 1 at GPA 0x200000, validated',
    );
    expect(formatEvent('dma', 5, { deviceId: 0x100, streamId: 's1', iova: 4096, write: false, outcome: 'timeout', latencyNs: 50_000_000 })).toBe(
      '[     0.000005 ms] dma    timeout device 01:00.0 stream s1 iova 0x1000 read, 50000000 ns',
    );
    expect(formatEvent('tmpm', 0, { kind: 'other' })).toBe('[     0.000000 ms] tmpm   {"kind":"other"}');
    expect(ms(1)).toBe('0.000001 ms');
  });
});
