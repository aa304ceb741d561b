/**
 * trace.*: record the platform's events and export them as a Chrome/Perfetto
 * trace (ui.perfetto.dev, chrome://tracing). Virtual ns are the trace's time.
 */
import * as z from 'zod';
import { method } from './method-spec.js';
import { intRange, noParams, ns } from './wire.js';
import { TRACE_DEFAULT_MAX_EVENTS, TRACE_MAX_EVENTS, TRACE_TOPICS } from '../observe/trace-recorder.js';
import { TIMELINE_BIN_NS } from '../dma/dma-timeline.js';
import { TRACE_MAX_BINS } from '../observe/perfetto-trace.js';

const traceTopic = z.enum(TRACE_TOPICS);

export const TRACE_METHODS = {
  'trace.start': method({
    summary: 'Start recording a trace',
    description: `Records events of the topics given (default all: ${TRACE_TOPICS.join(', ')}; iommu includes IOMMU commands) from now, whether or not a client subscribed. At most maxEvents events are kept (default ${TRACE_DEFAULT_MAX_EVENTS}, at most ${TRACE_MAX_EVENTS}); later ones are counted as dropped. DMA counts per bin come from dma.timeline at export, in bins of binNs (a multiple of ${TIMELINE_BIN_NS}; default: ~2000 bins over the trace; at most ${TRACE_MAX_BINS} bins per device). A trace already recording is replaced.`,
    params: z.strictObject({
      topics: z
        .array(traceTopic)
        .min(1, 'must name at least one topic')
        .refine((t) => new Set(t).size === t.length, 'must not repeat a topic')
        .exactOptional()
        .describe(`topics: ${TRACE_TOPICS.join(', ')}`),
      maxEvents: intRange(1, TRACE_MAX_EVENTS).exactOptional().describe(`events kept at most, 1..${TRACE_MAX_EVENTS} (default ${TRACE_DEFAULT_MAX_EVENTS})`),
      binNs: ns(`counter-track bin, a multiple of ${TIMELINE_BIN_NS}`).exactOptional(),
    }),
    result: z.looseObject({ ok: z.literal(true), topics: z.array(traceTopic), maxEvents: z.int(), startNs: z.int().min(0) }),
    examples: [{ name: 'every topic', params: {}, result: { ok: true, topics: [...TRACE_TOPICS], maxEvents: TRACE_DEFAULT_MAX_EVENTS, startNs: 0 } }],
  }),

  'trace.stop': method({
    summary: 'Stop recording',
    description: 'The trace stays exportable until the next trace.start. No trace recording: -32001.',
    params: noParams,
    result: z.looseObject({ ok: z.literal(true), events: z.int().min(0), dropped: z.int().min(0), startNs: z.int().min(0), stopNs: z.int().min(0) }),
  }),

  'trace.export': method({
    summary: 'The trace as Chrome/Perfetto trace-event JSON',
    description:
      'The trace recording (up to now) or last stopped, as the JSON object format of the Chrome trace-event format: `trace` is the document to save as a .json file and open in ui.perfetto.dev or chrome://tracing (ts/dur in us of virtual time). Tracks: TMPM engine (command slices with status, DMA stalls, interrupts), SEV firmware (commands with status), IOMMU (commands, invalidations, event-log entries), one per device (DMA counters per bin, faults as instants). No trace started: -32001.',
    params: z.strictObject({ format: z.literal('perfetto-json').describe('"perfetto-json", the only format') }),
    result: z.looseObject({
      format: z.literal('perfetto-json'),
      recording: z.boolean().describe('true when exported while still recording'),
      events: z.int().min(0).describe('events recorded'),
      dropped: z.int().min(0).describe('events not kept (maxEvents reached)'),
      trace: z.looseObject({ traceEvents: z.array(z.looseObject({ name: z.string(), ph: z.string(), pid: z.int() })), displayTimeUnit: z.string(), otherData: z.record(z.string(), z.unknown()) }),
    }),
  }),
} as const;
