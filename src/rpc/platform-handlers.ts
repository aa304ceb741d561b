/**
 * The method table bound to one Platform: every handler validates its params with
 * the method's schema (-32602 with data.issues), applies injected faults
 * (fault.add), calls the platform and returns its result (bigints become hex on
 * the wire). The protocol is the table in src/protocol/methods.ts; this file only
 * says which platform method answers each name.
 */
import type { Platform } from '../platform/platform.js';
import { METHODS, parseParams, type MethodName, type MethodParams } from '../protocol/methods.js';
import { openRpcDocument } from '../protocol/openrpc.js';
import { fwStatusName } from '../firmware/status.js';
import { rmpRcName } from '../rmp/return-codes.js';
import { acceptsStatus } from '../platform/fault-injector.js';
import type { FaultDecision } from '../platform/fault-injector.js';
import type { WallClock } from '../clock/wall-clock.js';
import { RpcError, type RpcCallContext, type RpcHandler } from './method-table.js';
import { SubscriptionRegistry } from './subscriptions.js';
import { EmuError, ERROR_CODES } from '../util/emu-error.js';
import { CallJournal } from './call-journal.js';
import { tapHandlers, untapped, type TappedCall } from './call-tap.js';
import { toWire } from './to-wire.js';
import { toJsonSliced } from './sliced-json.js';
import { DEFAULT_SLICE_MS } from './envelope.js';

type Impl<M extends MethodName> = (p: MethodParams<M>, ctx: RpcCallContext) => unknown;
type Impls = { [M in MethodName]: Impl<M> };

/** What emu.platforms and emu.deletePlatform act on: the server's platforms (src/rpc/app.ts). */
export interface PlatformAdmin {
  list(): Array<{ name: string; createdAt: string; lastUsedAt: string; connections: number; nowNs: number }>;
  delete(name: string, ctx: RpcCallContext): Promise<{ ok: true; name: string; closedConnections: number }>;
}

export interface HandlerOptions {
  wall: WallClock;
  /** The server's platforms; absent (a Platform used without the server): the two methods say so. */
  admin?: PlatformAdmin;
  /** Check every result against its schema (tests): a mismatch is an internal error. */
  validateResults?: boolean;
  /** Hears every answered call but journal.* and emu.record (the recorders). */
  onCall?: (call: TappedCall) => void;
  /** emu.record: starts (file) or stops (null) recording this platform; default: refused. */
  record?: (file: string | null) => Promise<{ recording: boolean; file: string | null; calls: number }>;
}

const recordRefused = (): never => {
  throw new EmuError(ERROR_CODES.WRONG_MODE, 'recording over the wire is off: start the server with --record-dir DIR to allow emu.record (it writes files inside DIR only)');
};

const yieldToServer = (wall: WallClock) => () => new Promise<void>((resolve) => wall.defer(resolve));

/**
 * A large result as JSON text written in slices of DEFAULT_SLICE_MS (the envelope
 * splices it in). Typed as the result itself: what the client receives is the same.
 */
function sliced<T>(result: T, wall: WallClock): Promise<T> {
  return toJsonSliced(result, yieldToServer(wall), DEFAULT_SLICE_MS) as unknown as Promise<T>;
}

function impls(p: Platform, subs: SubscriptionRegistry, wall: WallClock, journal: CallJournal, opts: HandlerOptions): Impls {
  const admin = opts.admin;
  const served = (): PlatformAdmin => {
    if (admin === undefined) throw new EmuError(ERROR_CODES.WRONG_MODE, 'this platform is not served by startApp: there is no list of platforms to read or change');
    return admin;
  };
  return {
    'rpc.discover': () => openRpcDocument(),
    'emu.info': () => p.info(),
    'emu.reset': (q) => p.reset(q.scenario),
    // A full IOTLB lists 2^19 entries: the state methods work in slices, so the server
    // answers others meanwhile; the platform's own calls wait (Platform.whenFree).
    'emu.snapshot': () => p.snapshotSliced(yieldToServer(wall), DEFAULT_SLICE_MS),
    'emu.revert': (q) => p.revertSliced(q.snapshotId, yieldToServer(wall), DEFAULT_SLICE_MS),
    'emu.dumpState': () => p.dumpStateSliced(yieldToServer(wall), DEFAULT_SLICE_MS, (dump) => sliced(dump, wall)),
    'emu.loadState': (q) => p.loadStateSliced(q.state, yieldToServer(wall), DEFAULT_SLICE_MS),
    'emu.audit': () => p.audit(),
    'emu.platforms': () => ({ platforms: served().list() }),
    'emu.deletePlatform': (q, ctx) => served().delete(q.name, ctx),
    'clock.now': () => p.clockNow(),
    'clock.advance': (q, ctx) => p.clockAdvance(q.ns, yieldToServer(wall), () => ctx.signal?.aborted === true),
    'clock.setMode': (q) => p.clockSetMode(q.mode, q.speed),
    'mem.alloc': (q) => p.memAlloc(q.pages),
    'mem.free': (q) => p.memFree(q.spa, q.pages),
    'mem.read64': (q) => p.memRead64(q.spa, q.count),
    'mem.write64': (q) => p.memWrite64(q.spa, q.values),
    'rmp.read': (q) => p.rmpRead(q.spa),
    'rmp.update': (q) => p.rmpUpdate(q.spa, q),
    'rmp.psmash': (q) => p.rmpPsmash(q.spa),
    'guest.pvalidate': (q) => p.guestPvalidate(q),
    'fw.platformStatus': () => p.fwPlatformStatus(),
    'fw.init': () => p.fwInit(),
    'fw.shutdown': () => p.fwShutdown(),
    'fw.tdiBind': (q) => p.fwTdiBind(q.deviceId, q.asid),
    'fw.tdiUnbind': (q) => p.fwTdiUnbind(q.deviceId, q.force),
    'fw.pageUnsmash': (q) => p.fwPageUnsmash(q.spa),
    'fw.pageReclaim': (q) => p.fwPageReclaim(q.spa, q.pageSize),
    'psp.readReg': (q) => p.pspReadReg(q.offset),
    'psp.writeReg': (q) => p.pspWriteReg(q.offset, q.value),
    'psp.regs': () => p.pspRegs(),
    'pci.doe': (q) => p.pciDoe(q.deviceId, q.feature, q.request),
    'tio.connect': (q) => p.tioConnect(q.deviceId),
    'tio.disconnect': (q) => p.tioDisconnect(q.deviceId, q.force),
    'tio.fenceStatus': (q) => p.tioFenceStatus(q.deviceId, q.asid),
    'tio.fenceClear': (q) => p.tioFenceClear(q.deviceId, q.asid),
    'tmpm.readReg': (q) => p.tmpmReadReg(q.offset),
    'tmpm.writeReg': (q) => p.tmpmWriteReg(q.offset, q.value),
    'tmpm.regs': () => p.tmpmRegs(),
    'tmpm.submit': (q) => p.tmpmSubmit(q),
    'tmpm.psmashIo': (q) => p.tmpmPsmashIo({ srcPgSpa: q.srcPgSpa, smashHpteSpa: q.smashHpteSpa, srcHpmdSpa: q.srcHpmdSpa, gctxSpa: q.gctxSpa }),
    'tmpm.punsmashIo': (q) => p.tmpmPunsmashIo(q),
    'tmpm.preparePsmash': (q) => p.tmpmPreparePsmash(q.domainId, q.iova),
    'tmpm.getCapabilities': () => p.tmpmGetCapabilities(),
    'tmpm.getStallModel': () => p.tmpmGetStallModel(),
    'tmpm.setStallModel': (q) => p.tmpmSetStallModel(q),
    'iommu.setDte': (q) => p.iommuSetDte(q.deviceId, 'qwords' in q ? { qwords: q.qwords } : { fields: q.fields }),
    'iommu.readDte': (q) => p.iommuReadDte(q.deviceId),
    'iommu.walk': (q) => p.iommuWalk(q.deviceId, q.iova, q.write),
    'iommu.command': (q) => p.iommuCommand(q.qwords[0] as bigint, q.qwords[1] as bigint),
    'iommu.events': (q) => p.iommuEvents(q),
    'iommu.map': (q) => p.iommuMap(q),
    'iommu.unmap': (q) => p.iommuUnmap(q),
    'iommu.iotlb': (q) => p.iommuIotlb(q.domainId),
    'dma.issue': (q) => p.dmaIssue(q),
    'dma.startStream': (q) => p.dmaStartStream(q),
    'dma.stopStream': (q) => p.dmaStopStream(q.streamId),
    'dma.stats': (q) => p.dmaStats(q),
    'dma.resetStats': () => p.dmaResetStats(),
    'dma.histogram': (q) => p.dmaHistogram(q),
    'dma.timeline': (q) => p.dmaTimeline(q),
    'trace.start': (q) => p.traceStart(q),
    'trace.stop': () => p.traceStop(),
    'trace.export': (q) => sliced(p.traceExport(q.format), wall),
    'fault.add': (q) => p.faultAdd(q),
    'fault.list': () => p.faultList(),
    'fault.remove': (q) => p.faultRemove(q.faultId),
    'fault.clear': () => p.faultClear(),
    'events.subscribe': (q, ctx) => ({ subscriptionId: subs.subscribe(q.topics, ctx) }),
    'events.unsubscribe': (q, ctx) => {
      subs.unsubscribe(q.subscriptionId, ctx);
      return { ok: true };
    },
    'session.attach': (q, ctx) => {
      if (ctx.attach === undefined) throw new EmuError(ERROR_CODES.WRONG_MODE, 'session.attach is for the line transport (serve --unix); this call belongs to no connection');
      ctx.attach(q.platform);
      return { ok: true, platform: q.platform };
    },
    'journal.find': (q) => journal.find(q),
    'journal.count': (q) => journal.count(q),
    'emu.record': (q) => (opts.record ?? recordRefused)(q.file),
  };
}

export function buildHandlers(p: Platform, opts: HandlerOptions): { handlers: Map<string, RpcHandler>; subscriptions: SubscriptionRegistry; journal: CallJournal } {
  const subs = new SubscriptionRegistry(p.bus);
  const journal = new CallJournal();
  const table = impls(p, subs, opts.wall, journal, opts);
  const handlers = new Map<string, RpcHandler>();
  for (const name of Object.keys(METHODS) as MethodName[]) {
    const impl = table[name] as Impl<MethodName>;
    const faultable = !name.startsWith('fault.') && !untapped(name);
    const outsideQueue = !name.startsWith('fw.') && !name.startsWith('tio.');
    // Not `async`: when no fault fires and the method's implementation is synchronous
    // (clock.now, rmp.read, most of the table), the result is returned as a plain value
    // and the transport answers without a microtask hop (~1 us a call at 32
    // in flight). A throw here is answered exactly like a rejection would be.
    handlers.set(name, (raw, ctx) => {
      const parsed = parseParams(name, raw);
      if (!parsed.ok) throw new RpcError(-32602, 'Invalid params', { issues: parsed.issues });
      // While a sliced emu.snapshot / revert / dumpState / loadState holds the platform, its calls wait.
      return p.whenFree(() => {
        p.syncClock();
        const decision = faultable ? p.faultOnCall(name) : null;
        if (decision !== null) return callWithFault(p, name, decision, raw, ctx, opts, outsideQueue, () => p.whenFree(() => impl(parsed.params, ctx)));
        const result = impl(parsed.params, ctx);
        if (isThenable(result)) return opts.validateResults ? Promise.resolve(result).then((r) => checked(name, r)) : result;
        return opts.validateResults ? checked(name, result) : result;
      });
    });
  }
  // The journal and the recorders see each call as answered, injected faults included.
  const onCall = opts.onCall;
  tapHandlers(handlers, () => p.nowNs, onCall === undefined ? (c) => journal.add(c) : (c) => (journal.add(c), onCall(c)));
  return { handlers, subscriptions: subs, journal };
}

/** A call for which fault.add's rules fired: the injected delays and close, then the replacing result or the call itself. */
async function callWithFault(p: Platform, name: MethodName, d: FaultDecision, raw: unknown, ctx: RpcCallContext, opts: HandlerOptions, outsideQueue: boolean, call: () => unknown): Promise<unknown> {
  const { injected, queuedDelay } = await applyFault(p, name, d, raw, ctx, opts.wall, outsideQueue);
  // Handed over right before the call, synchronously, so no other command can take it.
  if (queuedDelay !== undefined) p.fwDelayNextCommand(queuedDelay);
  const result = injected ?? (await call());
  return opts.validateResults ? checked(name, result) : result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** `result` once checked against the method's schema (validateResults). */
function checked(name: MethodName, result: unknown): unknown {
  checkResult(name, result);
  return result;
}

/**
 * Applies an injected fault's delays and close; returns the replacing result, if
 * any. A firmware command that goes through the firmware queue is delayed inside it
 * (`outsideQueue` false; the delay is returned as `queuedDelay`): a slow firmware
 * command is under way while it waits.
 */
async function applyFault(p: Platform, method: MethodName, d: FaultDecision, raw: unknown, ctx: RpcCallContext, wall: WallClock, outsideQueue: boolean): Promise<{ injected: unknown; queuedDelay?: Promise<void> }> {
  let queuedDelay: Promise<void> | undefined;
  if (d.close) ctx.closeAfterResponse();
  const replaced = d.rpcError !== undefined || (d.status !== undefined && acceptsStatus(method));
  // Checked before anything waits: a delay past the clock's end is refused (-32003).
  if (d.delayNs > 0) p.checkClockRoom(d.delayNs, `an injected delayNs of ${d.delayNs} ns`);
  if (d.delayNs > 0 || d.delayMs > 0) {
    const delay = (async () => {
      if (d.delayNs > 0) await p.clockWait(d.delayNs);
      if (d.delayMs > 0) await new Promise<void>((resolve) => wall.setTimer(resolve, d.delayMs));
    })();
    if (outsideQueue || replaced) await delay;
    else queuedDelay = delay;
  }
  if (d.rpcError !== undefined) throw new RpcError(d.rpcError.code, d.rpcError.message, d.rpcError.data);
  if (d.status === undefined || !acceptsStatus(method)) return queuedDelay === undefined ? { injected: undefined } : { injected: undefined, queuedDelay };
  if (method.startsWith('fw.') || method.startsWith('tio.')) {
    const result = { status: d.status, statusName: fwStatusName(d.status), detail: { injected: true, faultIds: d.faultIds } };
    if (p.bus.has('fw')) p.bus.emit('fw', p.nowNs, { command: method, params: raw ?? {}, result });
    return { injected: result };
  }
  return { injected: { rc: d.status, rcName: rmpRcName(d.status), injected: true } };
}

function checkResult(name: MethodName, result: unknown): void {
  const r = METHODS[name].result.safeParse(toWire(result));
  if (!r.success) throw new Error(`result of ${name} does not match its schema: ${JSON.stringify(r.error.issues)}`);
}
