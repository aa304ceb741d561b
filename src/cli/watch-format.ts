/**
 * One readable line per platform event for `smash-emu watch`: virtual time, topic,
 * and what happened, with statuses decoded (name and number) and stalls with their
 * durations. Takes the wire form (hex strings for addresses) as notifications carry it.
 *
 * Topic tmpm has {kind: "command", index, command, commandName, status, statusName,
 * startNs, endNs} or {kind: "interrupt", reason}; any other shape is printed as JSON.
 */

type Data = Record<string, unknown>;

/** Virtual ns as milliseconds with ns precision: "2.401027 ms". */
export function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(6)} ms`;
}

function hex2(n: unknown): string {
  return typeof n === 'number' ? `0x${n.toString(16).padStart(2, '0')}` : '?';
}

function status(name: unknown, code: unknown): string {
  return `${String(name ?? 'UNKNOWN')} (${hex2(code)})`;
}

function device(id: unknown): string {
  if (typeof id !== 'number') return 'device ?';
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `device ${h(id >> 8, 2)}:${h((id >> 3) & 0x1f, 2)}.${id & 7}`;
}

function isRecord(v: unknown): v is Data {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(topic: string, d: Data): string {
  switch (topic) {
    case 'stall': {
      const scope = d.scope === 'iommu' ? 'the whole IOMMU' : `domain ${String(d.domainId)}`;
      const dur = typeof d.startNs === 'number' && typeof d.endNs === 'number' ? d.endNs - d.startNs : undefined;
      const by = d.command === undefined ? '' : ` by ${String(d.command)}`;
      if (d.phase === 'begin') return `begin: DMA of ${scope} stalled${by} (policy ${String(d.policy)}) for ${dur === undefined ? '?' : ms(dur)}${d.iova === undefined ? '' : `, iova ${String(d.iova)}`}`;
      return `end:   DMA of ${scope} resumes after ${dur === undefined ? '?' : ms(dur)}${by}`;
    }
    case 'fw': {
      const r = isRecord(d.result) ? d.result : {};
      const parts = [`${String(d.command)} -> ${status(r.statusName, r.status)}`];
      if (typeof r.stallNs === 'number') parts.push(`stall ${ms(r.stallNs)}`);
      if (typeof r.dmaHeld === 'number') parts.push(`${r.dmaHeld} held`);
      if (isRecord(r.detail) && typeof r.detail.reason === 'string') parts.push(r.detail.reason);
      else if (isRecord(r.detail) && r.detail.injected === true) parts.push('injected');
      return parts.join(', ');
    }
    case 'tmpm': {
      if (d.kind === 'interrupt') return `interrupt${d.reason === undefined ? '' : `: ${String(d.reason)}`}${typeof d.why === 'string' ? ` (${d.why})` : ''}`;
      if (d.kind === 'command') {
        const parts = [`#${String(d.index)} ${String(d.commandName ?? d.command)} (${hex2(d.command)}) -> ${status(d.statusName, d.status)}`];
        if (typeof d.startNs === 'number' && typeof d.endNs === 'number') parts.push(ms(d.endNs - d.startNs));
        if (typeof d.stallNs === 'number' && d.stallNs > 0) parts.push(`stall ${ms(d.stallNs)}`, `${String(d.dmaHeld ?? 0)} held`);
        if (isRecord(d.detail) && typeof d.detail.reason === 'string') parts.push(d.detail.reason);
        return parts.join(', ');
      }
      if (d.kind === 'control') {
        const flags = [d.driverInit === true ? 'DRIVER_INIT' : '', d.rbErr === true ? 'RB_ERR' : ''].filter((x) => x !== '').join(' ');
        return `RBCTL ${hex2(d.rbctl)} applied (INIT ${d.init === true ? 1 : 0}, PAUSE ${d.pause === true ? 1 : 0}), TOGGLE ${d.toggle === true ? 1 : 0}${flags === '' ? '' : `, ${flags}`}`;
      }
      return JSON.stringify(d);
    }
    case 'psp': {
      if (d.kind === 'command') {
        const parts = [`${String(d.commandName ?? d.command)} (${hex2(d.command)}) -> ${status(d.statusName, d.status)}, CMDRESP ${hex2(d.cmdresp)}`];
        if (typeof d.startNs === 'number' && typeof d.endNs === 'number') parts.push(ms(d.endNs - d.startNs));
        if (isRecord(d.detail) && typeof d.detail.reason === 'string') parts.push(d.detail.reason);
        else if (isRecord(d.detail) && d.detail.injected === true) parts.push('injected');
        return parts.join(', ');
      }
      if (d.kind === 'start') return `start ${String(d.commandName ?? d.command)} (${hex2(d.command)}), buffer ${String(d.bufferSpa)}${d.ioc === true ? ', IOC' : ''}`;
      if (d.kind === 'spdm') {
        const what = d.phase === 'request' ? `-> ${String(d.request)}${d.secured === true ? ' (secured)' : ''}` : `<- answer to ${String(d.request)}${d.ok === false ? `: ${String(d.why)}` : ''}`;
        return `SPDM ${String(d.command)} ${device(d.deviceId)} ${what}`;
      }
      if (d.kind === 'doe') return `DOE ${device(d.deviceId)} ${String(d.feature)}: ${String(d.request).slice(0, 16)}... -> ${String(d.response).slice(0, 16)}...`;
      if (d.kind === 'interrupt') return `interrupt SEV_CMD_COMPLETE (${String(d.commandName)}), INTSTS ${hex2(d.intsts)}`;
      if (d.kind === 'ignored') return `CMDRESP write ${hex2(d.value)} ignored: ${String(d.running)} is running`;
      return JSON.stringify(d);
    }
    case 'iommu': {
      const dom = d.domainId === null || d.domainId === undefined ? '' : ` domain ${String(d.domainId)}`;
      const flags = typeof d.rmpFlags === 'number' ? ` rmp flags ${hex2(d.rmpFlags)}` : '';
      return `event log #${String(d.seq)} ${String(d.typeName)} (${hex2(d.type)}) ${device(d.deviceId)}${dom} address ${String(d.address)}${d.write === true ? ' write' : ' read'}${flags}`;
    }
    case 'rmp': {
      const e = isRecord(d.entry) ? d.entry : {};
      const owner = e.assigned === true ? `assigned to ASID ${String(e.asid)} at GPA ${String(e.gpa)}` : 'hypervisor';
      return `${String(d.op)} ${String(d.spa)} ${String(d.pageSize)}: now ${String(e.pageSize)} ${owner}${e.validated === true ? ', validated' : ''}${e.immutable === true ? ', immutable' : ''}`;
    }
    case 'dma': {
      const iova = typeof d.iova === 'number' ? `0x${d.iova.toString(16)}` : String(d.iova);
      return `${String(d.outcome)} ${device(d.deviceId)}${d.streamId === null || d.streamId === undefined ? '' : ` stream ${String(d.streamId)}`} iova ${iova} ${d.write === true ? 'write' : 'read'}, ${String(d.latencyNs)} ns`;
    }
    default:
      return JSON.stringify(d);
  }
}

/** `[   2.401027 ms] stall  begin: ...` */
export function formatEvent(topic: string, atNs: number, data: Data): string {
  return `[${ms(atNs).padStart(16)}] ${topic.padEnd(5)}  ${describe(topic, data)}`;
}
