/**
 * The scenario files in examples/scenarios parse, build, and audit clean.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/protocol/scenario-schema.js';
import { createPlatform } from '../../src/platform/platform.js';
import { ROOT } from './run-example.js';

const DIR = join(ROOT, 'examples', 'scenarios');
const load = (name: string) => parseScenario(JSON.parse(readFileSync(join(DIR, name), 'utf8')));

describe('examples/scenarios', () => {
  it('holds the default scenario and the three documented files, each named after itself', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files).toEqual(['default.json', 'tib-guest.json', 'two-guests.json', 'untrusted-only.json']);
    for (const f of files) expect(load(f).name).toBe(f.replace(/\.json$/, ''));
  });

  it('tib-guest: 1 TiB private in 2 MB pages, mapped with 2 MB leaves through a mode-4 DTE; audit clean', () => {
    const s = load('tib-guest.json');
    // Its set-up time is a bench figure (npm run bench: scale, 1 TiB).
    const p = createPlatform(s);
    expect(p.iommuReadDte(0x100)).toMatchObject({ valid: true, mode: 4, domainId: 1 });
    const lastPage = 2n ** 40n - 0x1000n;
    const w = p.iommuWalk(0x100, lastPage, true);
    expect(w).toMatchObject({ ok: true, sizeLg2: 21 });
    expect(w.spa).toBe(0x1_0000_0000n + lastPage);
    expect(p.rmpRead(0x1_0000_0000 + Number(lastPage))).toMatchObject({ assigned: true, pageSize: '2M', asid: 1, validated: true });
    expect(p.audit().violations).toEqual([]);
    p.dispose();
  });

  it('two-guests: two TEE-IO devices bound to ASIDs 1 and 2 and one untrusted device; audit clean', async () => {
    const p = createPlatform(load('two-guests.json'));
    expect((await p.fwPlatformStatus()).tdis).toEqual(
      expect.arrayContaining([
        { deviceId: 0x100, asid: 1 },
        { deviceId: 0x300, asid: 2 },
      ]),
    );
    expect((await p.dmaIssue({ deviceId: 0x300, iova: 0x1000n, bytes: 64, write: true })).outcome).toBe('ok');
    expect((await p.dmaIssue({ deviceId: 0x200, iova: 0x1000n, bytes: 64, write: true })).outcome).toBe('ok');
    expect(p.audit().violations).toEqual([]);
    p.dispose();
  });

  it('untrusted-only: no guest, 4 KB leaves over hypervisor memory, a read-only range; audit clean', async () => {
    const p = createPlatform(load('untrusted-only.json'));
    expect((await p.fwPlatformStatus()).tdis).toEqual([]);
    expect((await p.dmaIssue({ deviceId: 0x201, iova: 0x10000000n, bytes: 64, write: false })).outcome).toBe('ok');
    expect((await p.dmaIssue({ deviceId: 0x201, iova: 0x10000000n, bytes: 64, write: true })).outcome).toBe('io_page_fault');
    expect(p.iommuWalk(0x200, 0x3fff000n, false)).toMatchObject({ ok: true, sizeLg2: 12 });
    expect(p.audit().violations).toEqual([]);
    p.dispose();
  });
});
