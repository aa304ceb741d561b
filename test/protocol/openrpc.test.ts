import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateOpenRPCDocument } from '@open-rpc/schema-utils-js';
import { describe, expect, it } from 'vitest';
import { METHOD_NAMES } from '../../src/protocol/methods.js';
import { buildOpenRpcDocument, openRpcDocument, renderOpenRpcJson } from '../../src/protocol/openrpc.js';

interface Descriptor {
  name: string;
  required?: boolean;
  schema: Record<string, unknown>;
}
interface Method {
  name: string;
  paramStructure: string;
  params: Descriptor[];
  result: Descriptor;
  examples?: Array<{ name: string; params: Array<{ name: string; value: unknown }>; result: { value: unknown; 'x-compare'?: string; 'x-vary'?: string[] } }>;
}

const doc = buildOpenRpcDocument() as { openrpc: string; info: { title: string; version: string }; methods: Method[]; 'x-notifications': Method[] };
const byName = new Map(doc.methods.map((m) => [m.name, m]));

/** Values at a dotted path with `*` for any index. */
function at(value: unknown, path: string[]): unknown[] {
  if (path.length === 0) return [value];
  const [head, ...rest] = path as [string, ...string[]];
  if (value === null || typeof value !== 'object') return [];
  const obj = value as Record<string, unknown>;
  const keys = head === '*' ? Object.keys(obj) : [head];
  return keys.filter((k) => k in obj).flatMap((k) => at(obj[k], rest));
}

describe('protocol/openrpc.json', () => {
  it('is up to date with the method table', () => {
    const file = fileURLToPath(new URL('../../protocol/openrpc.json', import.meta.url));
    const onDisk = readFileSync(file, 'utf8');
    // A failure here means the method table changed: run `npm run protocol` and commit the file.
    expect(onDisk === renderOpenRpcJson(), 'protocol/openrpc.json is stale: run npm run protocol').toBe(true);
  });
});

describe('buildOpenRpcDocument', () => {
  it('is a valid OpenRPC document', () => {
    const result = validateOpenRPCDocument(doc as never);
    expect(result === true ? true : result.message).toBe(true);
  });

  it('names the server and its version', () => {
    expect(doc.openrpc).toBe('1.2.6');
    expect(doc.info.title).toBe('smash-emu');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('describes every method by name, params as one descriptor per key', () => {
    expect(doc.methods.map((m) => m.name)).toEqual(METHOD_NAMES);
    for (const m of doc.methods) expect(m.paramStructure, m.name).toBe('by-name');
    const smash = byName.get('tmpm.psmashIo')!;
    expect(smash.params.map((p) => [p.name, p.required])).toEqual([
      ['srcPgSpa', true],
      ['smashHpteSpa', true],
      ['srcHpmdSpa', true],
      ['gctxSpa', true],
      ['entry', false],
      ['asid', false],
    ]);
    expect(smash.params[1]!.schema).toMatchObject({ type: 'string', pattern: '^0[xX][0-9a-fA-F]+$' });
    const walk = byName.get('iommu.walk')!;
    expect(walk.params.find((p) => p.name === 'write')).toMatchObject({ required: false, schema: { type: 'boolean', default: false } });
  });

  it('describes results as the wire sends them', () => {
    const read = byName.get('rmp.read')!.result.schema as { properties: Record<string, { type?: unknown; enum?: unknown }>; required: string[] };
    expect(read.properties.pageSize!.enum).toEqual(['4K', '2M']);
    expect(read.properties.raw!.type).toBe('string');
    expect(read.required).toEqual(expect.arrayContaining(['entrySpa', 'assigned', 'pageSize', 'immutable', 'validated', 'vmsa', 'asid', 'gpa', 'raw']));
  });

  it('lists events.notify as a notification', () => {
    expect(doc['x-notifications'].map((n) => n.name)).toEqual(['events.notify']);
    expect(doc['x-notifications'][0]!.params.map((p) => p.name)).toEqual(['subscriptionId', 'topic', 'atNs', 'data']);
  });

  it('carries examples for the key methods, shape-only where values vary', () => {
    for (const name of ['tmpm.psmashIo', 'rmp.read', 'iommu.walk', 'mem.alloc', 'clock.advance', 'dma.issue']) {
      expect(byName.get(name)!.examples?.length ?? 0, name).toBeGreaterThan(0);
    }
    expect(byName.get('rmp.read')!.examples![0]!.result['x-compare']).toBeUndefined();
    expect(byName.get('mem.alloc')!.examples![0]!.result).toMatchObject({ 'x-compare': 'shape', 'x-vary': ['spa'] });
    for (const m of doc.methods) {
      for (const ex of m.examples ?? []) {
        for (const path of ex.result['x-vary'] ?? []) {
          expect(at(ex.result.value, path.split('.')).length, `${m.name} ${ex.name}: ${path}`).toBeGreaterThan(0);
        }
      }
    }
  });

  it('is built once for rpc.discover', () => {
    expect(openRpcDocument()).toBe(openRpcDocument());
    expect(openRpcDocument()).toEqual(buildOpenRpcDocument());
  });
});

describe('code tables and event data in the document', () => {
  const full = buildOpenRpcDocument() as unknown as {
    components: { schemas: Record<string, { type: string; enum: unknown[]; 'x-enum-varnames'?: string[] }> };
    methods: Method[];
    'x-notifications': Array<{ params: Descriptor[]; 'x-topic-data': Record<string, { properties?: Record<string, unknown> }> }>;
  };

  it('enumerates every SEV status and RMP return code, names and numbers, from the code tables', async () => {
    const { FW_STATUS } = await import('../../src/firmware/status.js');
    const { RMP_RC } = await import('../../src/rmp/return-codes.js');
    for (const [name, table] of [
      ['SevStatus', FW_STATUS],
      ['RmpReturnCode', RMP_RC],
    ] as const) {
      const values = full.components.schemas[name]!;
      expect(values.type).toBe('integer');
      expect(values.enum).toEqual(Object.values(table));
      expect(values['x-enum-varnames']).toEqual(Object.keys(table));
      expect(full.components.schemas[`${name}Name`]!.enum).toEqual(Object.keys(table));
    }
    expect(full.components.schemas.SevStatus!['x-enum-varnames']![full.components.schemas.SevStatus!.enum.indexOf(0x3a)]).toBe('IN_USE');
  });

  it('points every status and rc field at its table, and describes detail', () => {
    const json = JSON.stringify(full.methods);
    const tdi = byName.get('fw.tdiBind')!.result.schema as { properties: Record<string, { anyOf?: Array<{ $ref?: string }>; properties?: Record<string, unknown> }> };
    expect(tdi.properties.status!.anyOf![0]!.$ref).toBe('#/components/schemas/SevStatus');
    expect(tdi.properties.statusName!.anyOf![0]!.$ref).toBe('#/components/schemas/SevStatusName');
    expect(Object.keys(tdi.properties.detail!.properties!)).toEqual(expect.arrayContaining(['reason', 'injected', 'index', 'expected', 'actual']));
    const psmash = byName.get('rmp.psmash')!.result.schema as { properties: Record<string, { anyOf?: Array<{ $ref?: string }> }> };
    expect(psmash.properties.rc!.anyOf![0]!.$ref).toBe('#/components/schemas/RmpReturnCode');
    expect(json).not.toContain('x-code-table');
  });

  it("describes each topic's data, for every topic events.subscribe takes", async () => {
    const { EVENT_TOPICS } = await import('../../src/observe/event-bus.js');
    const notify = full['x-notifications'][0]!;
    expect(Object.keys(notify['x-topic-data']).sort()).toEqual([...EVENT_TOPICS].sort());
    expect(Object.keys(notify['x-topic-data'].stall!.properties!)).toEqual(expect.arrayContaining(['phase', 'startNs', 'endNs', 'scope']));
    expect(notify.params.find((p) => p.name === 'data')!.schema['x-topic-data']).toEqual(notify['x-topic-data']);
  });
});
