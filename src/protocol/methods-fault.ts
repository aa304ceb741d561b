/**
 * fault.* (injected faults, protocol/README.md §10) and events.* (subscriptions and
 * the `events.notify` notification). fault.add needs the names of the methods it
 * may target, so its table is built from them by methods.ts.
 */
import * as z from 'zod';
import { EVENT_TOPICS } from '../observe/event-bus.js';
import { INSTRUCTION_METHODS, TMPM_COMMAND_TARGETS, acceptsStatus, isCommandTarget } from '../platform/fault-injector.js';
import { method } from './method-spec.js';
import { intRange, noParams, ns, okResult, opaqueId } from './wire.js';

const EFFECT_KEYS = ['status', 'rpcError', 'delayNs', 'delayMs', 'close'] as const;

const faultRuleFields = {
  faultId: z.string(),
  method: z.string(),
  hits: z.int().min(0).describe('times the rule fired'),
  calls: z.int().min(0).exactOptional().describe('calls of the method seen since the rule was added'),
};

/** `targets`: every method fault.add may name (all but fault.*). */
export function faultMethods<const T extends readonly [string, ...string[]]>(targets: T) {
  const targetMethod = z
    .enum(targets, {
      error: (issue) => {
        if (typeof issue.input !== 'string') return 'must be a method name';
        if (issue.input.startsWith('fault.')) return 'fault.* methods cannot be targeted';
        return 'is not a method of this server; fix: use a name rpc.discover lists';
      },
    })
    .describe(`the method to fault (any but fault.*), or a TMPM command (${TMPM_COMMAND_TARGETS.join(', ')}) however it reaches the engine`);

  const addParams = z
    .strictObject({
      method: targetMethod,
      status: intRange(0, 0xffff_ffff)
        .exactOptional()
        .describe(`replace the call's outcome: firmware status for fw.*, rc for ${INSTRUCTION_METHODS.join(', ')}, the TMPM status (written as the engine's) for tmpm.COMMAND targets`),
      rpcError: z
        .strictObject({
          code: z.int(err0()).refine((c) => c !== 0, 'must be a non-zero integer (JSON-RPC error codes are never 0)'),
          message: z.string(),
          data: z.unknown().exactOptional(),
        })
        .exactOptional()
        .describe('answer the call with this JSON-RPC error instead'),
      delayNs: ns('virtual time added before the call runs (at most maxAdvanceNs); a fw.* command waits inside the firmware queue, so it is under way meanwhile; a TMPM command takes this much longer').exactOptional(),
      delayMs: intRange(0, 600_000).exactOptional().describe('wall-clock wait before the call runs, ms; a fw.* command waits inside the firmware queue'),
      close: z.boolean().exactOptional().describe('close the connection after the response'),
      nth: intRange(1, Number.MAX_SAFE_INTEGER).exactOptional().describe('first call (1-based) the rule fires on; default 1'),
      times: intRange(1, Number.MAX_SAFE_INTEGER).exactOptional().describe('how many times it fires; default 1 (with probability: unlimited)'),
      probability: z.number().min(0, 'must be 0..1').max(1, 'must be 0..1').exactOptional().describe('fire on each call from nth on with this seeded probability'),
    })
    .transform((p, ctx) => {
      const issue = (path: string, message: string) => ctx.issues.push({ code: 'custom', path: [path], input: p, message });
      if (!EFFECT_KEYS.some((k) => p[k] !== undefined && p[k] !== false && p[k] !== 0)) {
        issue('method', `a fault needs an effect; fix: give one of ${EFFECT_KEYS.join(', ')}`);
      }
      if (p.status !== undefined && p.rpcError !== undefined) issue('rpcError', 'give status or rpcError, not both');
      if (p.status !== undefined && !acceptsStatus(p.method)) {
        issue(
          'status',
          `applies to fw.* methods, instructions (${INSTRUCTION_METHODS.join(', ')}), TMPM commands (${TMPM_COMMAND_TARGETS.join(', ')}), PSP commands (psp.SNP_PAGE_RECLAIM, ...) and SPDM requests (spdm.GET_CERTIFICATE, ...) only; fix: use rpcError for ${p.method}`,
        );
      }
      if (isCommandTarget(p.method) && (p.rpcError !== undefined || p.delayMs !== undefined || p.close !== undefined)) {
        issue('method', `${p.method} runs inside the emulated device: only status and delayNs apply; fix: target the method that sends it (tmpm.psmashIo, fw.pageReclaim, tio.connect, ...) to fail the JSON-RPC call`);
      }
      return p;
    });

  return {
    'fault.add': method({
      summary: 'Inject a fault into a method',
      description:
        'Fires on call nth (1-based, default 1) and the times - 1 calls after it (default 1), or with probability on each call from nth on (at most times times when given). status or rpcError replaces the call (a tmpm.COMMAND target: the engine writes the injected status to the ring entry and the gctx word; a psp.COMMAND target: the firmware writes it to CMDRESP, however the command arrives; an spdm.REQUEST target: the device answers that request with SPDM ERROR, status as the error code, default 0x05); delayNs advances virtual time, delayMs waits on the wall clock; close closes the connection. Needs at least one effect.',
      params: addParams,
      result: z.looseObject({ faultId: z.string().describe('opaque id') }),
      examples: [
        {
          name: 'the next PSMASH_IO the engine runs reports RESOURCE_NOT_AVAILABLE',
          params: { method: 'tmpm.PSMASH_IO', status: 0x17 },
          result: { faultId: 'f1' },
          vary: ['faultId'],
        },
      ],
    }),
    'fault.list': method({
      summary: 'The fault rules',
      description: 'Each rule as added, with its id and how often it fired.',
      params: noParams,
      result: z.looseObject({ faults: z.array(z.looseObject(faultRuleFields)) }),
      examples: [{ name: 'none', params: {}, result: { faults: [] } }],
    }),
    'fault.remove': method({
      summary: 'Remove a fault rule',
      description: 'Unknown id: -32001.',
      params: z.strictObject({ faultId: opaqueId('faultId') }),
      result: okResult,
    }),
    'fault.clear': method({
      summary: 'Remove every fault rule',
      description: 'Returns how many there were.',
      params: noParams,
      result: z.looseObject({ ok: z.literal(true), removed: z.int().min(0) }),
    }),
  } as const;
}

function err0() {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : 'must be a non-zero integer') };
}

export const eventTopic = z.enum(EVENT_TOPICS);

export const EVENTS_METHODS = {
  'events.subscribe': method({
    summary: 'Subscribe this connection to platform events',
    description:
      'Topics: fw (command, params, result), tmpm (each TMPM command and interrupt), stall (begin and end), iommu (each logged event), rmp (each change), dma (non-ok outcomes only). Notifications `events.notify` a call causes are sent before its response. Ends with the connection.',
    params: z.strictObject({
      topics: z
        .array(eventTopic)
        .min(1, 'must name at least one topic')
        .refine((t) => new Set(t).size === t.length, 'must not repeat a topic')
        .describe(`topics: ${EVENT_TOPICS.join(', ')}`),
    }),
    result: z.looseObject({ subscriptionId: z.string().describe('opaque id, also in each notification') }),
    examples: [{ name: 'firmware and stalls', params: { topics: ['fw', 'stall'] }, result: { subscriptionId: 'sub1' }, vary: ['subscriptionId'] }],
  }),
  'events.unsubscribe': method({
    summary: 'End a subscription',
    description: 'Unknown id: -32001.',
    params: z.strictObject({ subscriptionId: opaqueId('subscriptionId') }),
    result: okResult,
  }),
} as const;

/** Server -> client notifications (JSON-RPC requests without id). */
export const NOTIFICATIONS = {
  'events.notify': {
    summary: 'A platform event for a subscription',
    description: 'Sent for each event of a subscribed topic; `data` depends on the topic.',
    params: z.looseObject({
      subscriptionId: z.string(),
      topic: eventTopic,
      atNs: z.int().min(0).describe('virtual time of the event'),
      data: z.record(z.string(), z.unknown()),
    }),
  },
} as const;
