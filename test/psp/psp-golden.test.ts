/**
 * The mailbox, the SLA and buffer-header encodings and every command buffer against
 * test/psp/psp-golden.json, a file written from the reference layouts
 * (docs/sev-firmware.md §1-§2) independently of src/psp: field by field, then byte
 * by byte.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as buffers from '../../src/psp/buffers.js';
import * as sla from '../../src/psp/sla.js';
import * as tdiBuffers from '../../src/psp/tdi-buffers.js';
import { PSP_REG, encodeCmdrespDone, encodeCmdrespWrite, decodeCmdresp, SEV_CMD_COMPLETE, FEATURE_SEV } from '../../src/psp/registers.js';
import { PSP_COMMANDS } from '../../src/psp/commands.js';
import { encode, decode, type Layout } from '../../src/psp/layout.js';

interface Golden {
  registers: Record<string, string>;
  cmdresp: Array<{ command: string; ioc?: boolean; status?: string; word: string }>;
  interrupt: Record<string, string>;
  sla: Array<{ spa?: string; scatter?: boolean; value: string }>;
  layouts: Record<string, { bytes: number; fields: Record<string, [number, number]> }>;
  bits: Record<string, string>;
  commands: Record<string, [string, number]>;
  buffers: Array<{ what: string; struct: string; values: Record<string, string>; hex: string }>;
}

const golden = JSON.parse(readFileSync(new URL('./psp-golden.json', import.meta.url), 'utf8')) as Golden;

const isLayout = (v: unknown): v is Layout => typeof v === 'object' && v !== null && 'struct' in v && 'fields' in v;
const layouts = new Map<string, Layout>();
for (const v of [...Object.values(buffers), ...Object.values(sla), ...Object.values(tdiBuffers)] as unknown[]) if (isLayout(v)) layouts.set(v.struct, v);

describe('PSP golden values (test/psp/psp-golden.json)', () => {
  it('has the SEV mailbox registers at the sevv2 offsets', () => {
    for (const [name, off] of Object.entries(golden.registers)) expect(PSP_REG[name as keyof typeof PSP_REG], name).toBe(Number(off));
    expect(SEV_CMD_COMPLETE).toBe(Number(golden.interrupt['SEV_CMD_COMPLETE']));
    expect(FEATURE_SEV).toBe(Number(golden.interrupt['FEATURE_SEV']));
  });

  it('encodes and decodes CMDRESP words', () => {
    for (const c of golden.cmdresp) {
      const word = Number(c.word);
      if (c.status === undefined) expect(encodeCmdrespWrite(Number(c.command), c.ioc === true), c.word).toBe(word);
      else {
        expect(encodeCmdrespDone(Number(c.command), Number(c.status)), c.word).toBe(word);
        expect(decodeCmdresp(word)).toEqual({ command: Number(c.command), status: Number(c.status), ioc: (Number(c.status) & 1) === 1, resp: true });
      }
    }
  });

  it('encodes SLAs (DATA, SCATTER, the C-bit kept) and SLA_EOL', () => {
    for (const s of golden.sla) {
      if (s.spa === undefined) expect(sla.SLA_EOL).toBe(BigInt(s.value));
      else expect(sla.encodeSla(BigInt(s.spa), s.scatter === true)).toBe(BigInt(s.value));
    }
  });

  it('lays out every structure field by field as the reference does', () => {
    for (const [struct, g] of Object.entries(golden.layouts)) {
      const l = layouts.get(struct);
      expect(l, struct).toBeDefined();
      expect(l!.bytes, struct).toBe(g.bytes);
      const ours = Object.fromEntries(Object.entries(l!.fields).map(([k, f]) => [k, [f.off, f.size]]));
      expect(ours, struct).toEqual(g.fields);
    }
  });

  it('names each flag bit as the reference does', () => {
    for (const [name, v] of Object.entries(golden.bits)) {
      const ours = (buffers as Record<string, unknown>)[name];
      expect(typeof ours === 'bigint' ? ours : BigInt(ours as number), name).toBe(BigInt(v));
    }
  });

  it('gives each command its id and buffer length', () => {
    const ours = Object.fromEntries(PSP_COMMANDS.map((c) => [c.name, [`0x${c.id.toString(16).padStart(2, '0')}`, c.bufferBytes]]));
    expect(ours).toEqual(golden.commands);
  });

  it.each(golden.buffers.map((b) => [b.what, b] as const))('encodes %s byte for byte', (_what, b) => {
    const g = golden.layouts[b.struct]!;
    // The golden bytes from the golden layout alone.
    const bytes = new Uint8Array(g.bytes);
    for (const [k, v] of Object.entries(b.values)) {
      const [off, size] = g.fields[k]!;
      let x = BigInt(v);
      for (let i = 0; i < size; i++, x >>= 8n) bytes[off + i] = Number(x & 0xffn);
    }
    expect(Buffer.from(bytes).toString('hex')).toBe(b.hex);
    const l = layouts.get(b.struct)!;
    const values = Object.fromEntries(Object.entries(b.values).map(([k, v]) => [k, l.fields[k]!.size === 8 ? BigInt(v) : Number(v)]));
    expect(Buffer.from(encode(l, values as Parameters<typeof encode>[1])).toString('hex')).toBe(b.hex);
    expect(decode(l, bytes)).toMatchObject(values);
  });
});
