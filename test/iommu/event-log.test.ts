import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';
import { toHex, toHex32 } from '../../src/util/hex.js';
import type { IommuEvent, LoggedEvent } from '../../src/iommu/event-log.js';
import { decodeEvent, encodeEvent, EVENT_TYPE, EventLog, eventTypeName } from '../../src/iommu/event-log.js';

interface EventVector {
  name: string;
  words: [string, string, string, string];
  decoded: Record<string, unknown> & { type: number; address: string };
}

/** Numbers and bigints that the vectors write as hex strings. */
function hexFields(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  for (const k of keys) {
    const v = out[k];
    if (typeof v === 'number' || typeof v === 'bigint') out[k] = toHex(v);
  }
  return out;
}

function fault(deviceId: number, iova: bigint): IommuEvent {
  return { type: EVENT_TYPE.IO_PAGE_FAULT, deviceId, domainId: 2, address: iova, write: true };
}

describe('EventLog', () => {
  it('numbers events from 1 and reads those after `since`, up to `max`', () => {
    const log = new EventLog(8);
    expect(log.log(fault(1, 0x1000n), 10)).toBe(1);
    expect(log.log(fault(2, 0x2000n), 20)).toBe(2);
    expect(log.log(fault(3, 0x3000n), 30)).toBe(3);
    const all = log.read();
    expect(all.overflow).toBe(false);
    expect(all.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(all.events[0]).toMatchObject({ type: 2, typeName: 'IO_PAGE_FAULT', deviceId: 1, domainId: 2, address: 0x1000n, write: true, atNs: 10 });
    expect(all.events[0]?.words).toEqual([1, 0x20200002, 0x1000, 0]);
    expect(log.read({ since: 1, max: 1 }).events.map((e) => e.seq)).toEqual([2]);
    expect(log.read({ since: 3 }).events).toEqual([]);
    expect(log.length).toBe(3);
  });

  it('drops events when full: they take no seq and set overflow', () => {
    const log = new EventLog(2);
    log.log(fault(1, 0n), 1);
    log.log(fault(1, 0n), 2);
    expect(log.log(fault(1, 0n), 3)).toBeUndefined();
    expect(log.overflow).toBe(true);
    const r = log.read();
    expect(r.overflow).toBe(true);
    expect(r.events.map((e) => e.seq)).toEqual([1, 2]);
    // A non-consuming read leaves overflow set.
    expect(log.read().overflow).toBe(true);
  });

  it('frees what a consuming read returned and reports overflow as it was, then clears it', () => {
    const log = new EventLog(2);
    log.log(fault(1, 0n), 1);
    log.log(fault(1, 0n), 2);
    log.log(fault(1, 0n), 3);
    const first = log.read({ consume: true, max: 1 });
    expect(first.events.map((e) => e.seq)).toEqual([1]);
    expect(first.overflow).toBe(true);
    expect(log.overflow).toBe(false);
    expect(log.log(fault(1, 0n), 4)).toBe(3);
    const rest = log.read({ consume: true });
    expect(rest).toMatchObject({ overflow: false });
    expect(rest.events.map((e) => e.seq)).toEqual([2, 3]);
    expect(log.length).toBe(0);
  });

  it('calls onLog for each logged event, not for dropped ones', () => {
    const log = new EventLog(1);
    const seen: LoggedEvent[] = [];
    log.onLog = (e) => seen.push(e);
    log.log(fault(1, 0n), 1);
    log.log(fault(1, 0n), 2);
    expect(seen.map((e) => e.seq)).toEqual([1]);
  });

  it('keeps RMP fault fields and the domain it was given', () => {
    const log = new EventLog();
    log.log({ type: EVENT_TYPE.RMP_PAGE_FAULT, deviceId: 0x100, domainId: 1, address: 0xa01000n, write: true, rmpFlags: 0x20, vmgTag: 1 }, 5);
    const [e] = log.read().events;
    expect(e).toMatchObject({ typeName: 'RMP_PAGE_FAULT', domainId: 1, rmpFlags: 0x20, vmgTag: 1, words: [0x00200100, 0xd0200001, 0x00a01000, 0] });
  });

  it('saves and restores its state exactly through JSON', () => {
    const log = new EventLog(3);
    log.log(fault(1, 0x1234_5678_9000n), 1);
    log.log({ type: EVENT_TYPE.RMP_PAGE_FAULT, deviceId: 0x100, domainId: 4, address: 0xa01000n, write: false, rmpFlags: 1, vmgTag: 2 }, 2);
    log.log(fault(1, 0n), 3);
    log.log(fault(1, 0n), 4);
    log.read({ consume: true, max: 1 });
    log.log(fault(9, 0n), 5);
    const copy = new EventLog();
    copy.setState(JSON.parse(JSON.stringify(log.getState())));
    expect(copy.read()).toEqual(log.read());
    expect(copy.capacity).toBe(3);
    expect(copy.log(fault(1, 0n), 6)).toBeUndefined();
    copy.read({ consume: true });
    expect(copy.log(fault(1, 0n), 7)).toBe(5);
  });
});

describe('event entries (event-log.ts)', () => {
  const { vectors } = loadVectors<EventVector>('iommu-events');

  it.each(vectors.map((v) => [v.name, v] as const))('decodes "%s" bit-exactly', (_name, v) => {
    const d = decodeEvent(v.words.map((w) => Number(BigInt(w))));
    expect(hexFields({ ...d }, ['address'])).toMatchObject(v.decoded);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('encodes "%s" bit-exactly', (_name, v) => {
    const d = v.decoded as Record<string, unknown>;
    const words = encodeEvent({
      type: v.decoded.type,
      deviceId: d.deviceId as number,
      domainId: (d.domainId as number | undefined) ?? 0,
      address: BigInt(v.decoded.address),
      write: d.write as boolean,
      present: d.present === true,
      permission: d.permission === true,
      ...(d.rmpFlags !== undefined ? { rmpFlags: d.rmpFlags as number } : {}),
      ...(d.vmgTag !== undefined ? { vmgTag: d.vmgTag as number } : {}),
    });
    expect(words.map(toHex32)).toEqual(v.words);
  });

  it('names every event type of hardware.md §4.3', () => {
    expect(Object.keys(EVENT_TYPE)).toHaveLength(13);
    expect(eventTypeName(0xd)).toBe('RMP_PAGE_FAULT');
    expect(eventTypeName(0xa)).toBe('RESERVED_0xa');
  });

  it('carries a 20-bit domain ID across w0[19:16] and w1[15:0]', () => {
    const words = encodeEvent({ type: 2, deviceId: 1, domainId: 0xabcde, address: 0n, write: false });
    expect(words[0]).toBe(0x000a0001);
    expect(words[1] & 0xffff).toBe(0xbcde);
    expect(decodeEvent(words).domainId).toBe(0xabcde);
  });
});
