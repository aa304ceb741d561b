/**
 * dma.*: simulated device DMA (protocol/README.md §8): single requests, streams at a
 * rate, and the statistics experiments read. Outcomes (faults, timeouts, aborts)
 * are results, never JSON-RPC errors.
 */
import * as z from 'zod';
import { method } from './method-spec.js';
import { accessBytes, ratePerSec, streamArrival, streamPattern, writeRatio } from './scenario-schema.js';
import { PAGE_4K, deviceId, hex64, hexLength, hexOut, noParams, ns, okResult, opaqueId, positiveInt } from './wire.js';
import { TIMELINE_BIN_NS, TIMELINE_KINDS, TIMELINE_MAX_BINS, TIMELINE_MAX_CHUNKS } from '../dma/dma-timeline.js';

export const DMA_OUTCOMES = ['ok', 'io_page_fault', 'rmp_fault', 'timeout', 'aborted'] as const;

const issueParams = z
  .strictObject({
    deviceId,
    iova: hex64('0x1000').describe('IOVA of the first byte (the guest GPA for a TEE-IO device)'),
    bytes: positiveInt(PAGE_4K, 'bytes to transfer; may not cross a 4 KB boundary'),
    write: z.boolean().describe('true: device writes memory'),
  })
  .transform((p, ctx) => {
    if ((p.iova & 0xfffn) + BigInt(p.bytes) > BigInt(PAGE_4K)) {
      ctx.issues.push({ code: 'custom', path: ['bytes'], input: p.bytes, message: 'the request crosses a 4 KB boundary; fix: split it at the page boundary' });
    }
    return p;
  });

const streamParams = z
  .strictObject({
    deviceId,
    iovaBase: hex64('0x0').describe('start of the IOVA range, aligned to accessBytes'),
    length: hexLength('0x200000').describe('bytes of the range, a multiple of accessBytes'),
    ratePerSec,
    accessBytes,
    writeRatio,
    pattern: streamPattern.default('random'),
    arrival: streamArrival.default('fixed'),
  })
  .transform((p, ctx) => {
    if (p.iovaBase % BigInt(p.accessBytes) !== 0n) ctx.issues.push({ code: 'custom', path: ['iovaBase'], input: p.iovaBase, message: `must be aligned to accessBytes (${p.accessBytes})` });
    if (p.length % p.accessBytes !== 0) ctx.issues.push({ code: 'custom', path: ['length'], input: p.length, message: `must be a multiple of accessBytes (${p.accessBytes})` });
    return p;
  });

const latencyNs = z.number().min(0);

const statsFilter = z
  .strictObject({ deviceId: deviceId.exactOptional(), streamId: opaqueId('streamId').exactOptional() })
  .refine((p) => p.deviceId === undefined || p.streamId === undefined, { error: 'give deviceId or streamId, not both', path: ['streamId'] });

export const DMA_METHODS = {
  'dma.issue': method({
    summary: 'Issue one DMA request and wait for its outcome',
    description:
      'Translated (IOTLB hit 50 ns, else a walk at 100 ns per level read), RMP-checked, then serviced (serviceNs, default 500). During a stall in scope it is held (policy hold) or aborted; a hold longer than completionTimeoutNs is a timeout. Faults are logged in the event log.',
    params: issueParams,
    result: z.looseObject({
      outcome: z.enum(DMA_OUTCOMES),
      latencyNs: z.int().min(0).describe('translation + service + any wait, ns'),
      spa: z.union([hexOut, z.null()]).describe('translated SPA; null when translation failed'),
      reason: z.union([z.string(), z.null()]).describe('why it failed (the walk fault reason or RMP check flags); "" when ok'),
    }),
    examples: [
      {
        name: 'device 01:00.0 reads 64 bytes at IOVA 0x1000 on the default platform: walk of 2 levels (2 MB leaf) + service',
        params: { deviceId: 256, iova: '0x1000', bytes: 64, write: false },
        result: { outcome: 'ok', latencyNs: 700, spa: '0x100001000', reason: '' },
      },
    ],
  }),

  'dma.startStream': method({
    summary: 'Start a stream of DMA requests at a rate',
    description: 'Requests aligned to accessBytes over [iovaBase, iovaBase + length), random (default) or sequential, fixed (default) or poisson inter-arrival; runs as virtual time advances.',
    params: streamParams,
    result: z.looseObject({ streamId: z.string().describe('opaque id') }),
    examples: [
      {
        name: '1 M requests/s of 64 bytes over the first 2 MB of device 01:00.0',
        params: { deviceId: 256, iovaBase: '0x0', length: '0x200000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 },
        result: { streamId: 's1' },
        vary: ['streamId'],
      },
    ],
  }),

  'dma.stopStream': method({
    summary: 'Stop a stream',
    description: 'Requests in flight complete; its statistics stay readable by streamId. Unknown id: -32001.',
    params: z.strictObject({ streamId: opaqueId('streamId') }),
    result: okResult,
  }),

  'dma.stats': method({
    summary: 'DMA statistics',
    description:
      'All requests, or those of one device or one stream (give at most one). issued = completed + ioPageFaults + rmpFaults + timeouts + aborted + inFlight; held counts every request that waited. Counters never drop; latency percentiles are of completed requests (0 when none).',
    params: statsFilter,
    result: z.looseObject({
      issued: z.int().min(0),
      completed: z.int().min(0),
      held: z.int().min(0),
      ioPageFaults: z.int().min(0),
      rmpFaults: z.int().min(0),
      timeouts: z.int().min(0),
      aborted: z.int().min(0),
      inFlight: z.int().min(0),
      iotlbMisses: z.int().min(0).describe('requests whose translation missed the IOTLB and walked the tables (a bounded IOTLB: scenario iotlbEntries)'),
      latencyNs: z.looseObject({ p50: latencyNs, p90: latencyNs, p99: latencyNs, p999: latencyNs, max: latencyNs }),
      stalls: z.array(z.looseObject({ startNs: z.int().min(0), endNs: z.int().min(0).describe('when DMA resumes (known when the stall begins)') })),
    }),
    examples: [
      {
        name: 'fresh platform',
        params: {},
        result: { issued: 0, completed: 0, held: 0, ioPageFaults: 0, rmpFaults: 0, timeouts: 0, aborted: 0, inFlight: 0, iotlbMisses: 0, latencyNs: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }, stalls: [] },
      },
    ],
  }),

  'dma.histogram': method({
    summary: 'The full latency histogram of completed DMA requests',
    description:
      'The HDR histogram behind dma.stats percentiles (integer ns, 3 significant digits), for all requests, one device or one stream (give at most one): every bucket that holds values, ascending, as {fromNs, valueNs, count} (values in [fromNs, valueNs]; valueNs clamped to the exact max). Zeroed by dma.resetStats.',
    params: statsFilter,
    result: z.looseObject({
      count: z.int().min(0).describe('completed requests recorded'),
      maxNs: z.int().min(0).describe('exact maximum latency, ns'),
      significantDigits: z.int(),
      buckets: z.array(z.looseObject({ fromNs: z.int().min(0), valueNs: z.int().min(0), count: z.int().min(1) })),
    }),
    examples: [{ name: 'fresh platform', params: {}, result: { count: 0, maxNs: 0, significantDigits: 3, buckets: [] } }],
  }),

  'dma.timeline': method({
    summary: 'DMA counts per time bin',
    description: `Requests per bin of binNs (a multiple of ${TIMELINE_BIN_NS} ns) over [startNs, endNs) of virtual time, for all devices or one: issued (arrived), held (began waiting on a stall), completed, ioPageFaults, rmpFaults, timeouts, aborted, each an array of count numbers. startNs defaults to the earliest bin held, endNs to now; startNs is rounded down to a bin. The platform keeps 10 us bins in 10.24 ms chunks per device, at most ${TIMELINE_MAX_CHUNKS} chunks (the oldest are dropped: retainedFromNs says where the record starts); more than ${TIMELINE_MAX_BINS} bins in one call: -32003. Cleared by dma.resetStats, emu.reset, emu.revert, emu.loadState.`,
    params: z.strictObject({
      binNs: positiveInt(Number.MAX_SAFE_INTEGER, `bin width, ns, a multiple of ${TIMELINE_BIN_NS}`),
      startNs: ns('start of the window, virtual ns').exactOptional(),
      endNs: ns('end of the window, virtual ns').exactOptional(),
      deviceId: deviceId.exactOptional(),
    }),
    result: z.looseObject({
      binNs: z.int(),
      startNs: z.int().min(0),
      endNs: z.int().min(0),
      count: z.int().min(1),
      retainedFromNs: z.union([z.int().min(0), z.null()]),
      nowNs: z.int().min(0),
      ...Object.fromEntries(TIMELINE_KINDS.map((k) => [k, z.array(z.int().min(0))])),
    }),
    examples: [
      {
        name: 'fresh platform, 100 us bins',
        params: { binNs: 100000 },
        result: { binNs: 100000, startNs: 0, endNs: 100000, count: 1, retainedFromNs: null, nowNs: 0, issued: [0], held: [0], completed: [0], ioPageFaults: [0], rmpFaults: [0], timeouts: [0], aborted: [0] },
      },
    ],
  }),

  'dma.resetStats': method({
    summary: 'Zero the DMA statistics',
    description: 'Counters, histograms and the stall list; requests in flight still count when they finish.',
    params: noParams,
    result: okResult,
  }),
} as const;
