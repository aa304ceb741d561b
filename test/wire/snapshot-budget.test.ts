/**
 * Snapshots of every platform of a server share one byte budget (not 1 GiB per
 * platform, which 64 platforms could not hold): past it emu.snapshot is -32003 with
 * data.limit "serverSnapshotBytes" and nothing is kept; deleting a platform gives its
 * snapshots' bytes back.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

describe('the server-wide snapshot budget', () => {
  it('is shared by all platforms; past it emu.snapshot is -32003 naming the budget; a deleted platform frees its share', async () => {
    // A fresh default platform's first snapshot takes ~143 KB (its pages and document): room for two.
    t = await startTestApp({ snapshotBudgetBytes: 400_000 });
    const a = await t.connect('/platforms/a');
    const b = await t.connect('/platforms/b');
    const c = await t.connect('/platforms/c');
    expect(await a.call('emu.snapshot')).toMatchObject({ snapshotId: expect.any(String) });
    expect(await b.call('emu.snapshot')).toMatchObject({ snapshotId: expect.any(String) });
    await expect(c.call('emu.snapshot')).rejects.toMatchObject({ code: -32003, data: { code: 'EMU_LIMIT', detail: { limit: 'serverSnapshotBytes', max: 400_000 } } });
    // Nothing was kept: c has no snapshot to revert to.
    await expect(c.call('emu.revert', { snapshotId: 'snap-1' })).rejects.toMatchObject({ code: -32001 });
    await t.call('emu.deletePlatform', { name: 'a' });
    const { snapshotId } = await c.call('emu.snapshot');
    expect(await c.call('emu.revert', { snapshotId })).toMatchObject({ ok: true });
  });
});
