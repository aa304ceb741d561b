import { describe, expect, it } from 'vitest';
import { DeviceTable } from '../../src/iommu/device-table.js';
import { encodeDte } from '../../src/iommu/dte.js';
import { makeHost } from '../helpers/page-tables.js';

function setup() {
  const { memory, pool } = makeHost();
  const base = pool.alloc(512, 2 * 2 ** 20);
  return { memory, table: new DeviceTable(memory, base), base };
}

describe('DeviceTable', () => {
  it('reads and writes 32-byte DTEs at base + deviceId x 32, missing qwords as 0', () => {
    const { memory, table, base } = setup();
    table.write(0x100, [0x6000000010000603n, 0x20n, 5n, 6n]);
    table.write(0x100, [0x6000000010000603n, 0x20n]);
    expect(memory.read64(base + 0x100 * 32 + 8)).toBe(0x20n);
    expect(table.read(0x100)).toEqual([0x6000000010000603n, 0x20n, 0n, 0n]);
    expect(table.decode(0x100)).toMatchObject({ valid: true, mode: 3, root: 0x10000000, domainId: 0x20 });
    expect(() => table.write(0x10000, [1n])).toThrow(/deviceId/);
    expect(() => table.write(1, [])).toThrow(/1 to 4 qwords/);
  });

  it('sees DTEs a client writes through host memory', () => {
    const { memory, table, base } = setup();
    memory.write64(base + 0xffff * 32, 0x3n);
    memory.write64(base + 0xffff * 32 + 8, 9n);
    expect(table.validDevices()).toEqual([0xffff]);
    expect([...table.domains().keys()]).toEqual([9]);
  });

  it('lists valid devices and the domains of V=1, TV=1 DTEs', () => {
    const { table } = setup();
    table.write(0x200, encodeDte({ valid: true, translationValid: true, mode: 3, root: 0x20000000, domainId: 2 }));
    table.write(0x100, encodeDte({ valid: true, translationValid: true, mode: 4, root: 0x10000000, domainId: 1 }));
    table.write(0x101, encodeDte({ valid: true, translationValid: true, mode: 4, root: 0x10000000, domainId: 1 }));
    table.write(0x300, encodeDte({ valid: true, translationValid: false, domainId: 3 }));
    table.write(0x400, encodeDte({ valid: false, translationValid: true, domainId: 4 }));
    expect(table.validDevices()).toEqual([0x100, 0x101, 0x200, 0x300]);
    const domains = table.domains();
    expect([...domains.keys()].sort()).toEqual([1, 2]);
    expect(domains.get(1)).toEqual({ devices: [0x100, 0x101], root: 0x10000000, mode: 4 });
  });
});
