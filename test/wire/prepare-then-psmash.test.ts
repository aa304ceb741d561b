/**
 * tmpm.psmashIo takes tmpm.preparePsmash's result as is, over the wire (protocol/README.md
 * §4.3.7): the extra `entry` and `asid` prepare reports are accepted (checked for
 * shape) and ignored; other unknown keys are still -32602 and change nothing.
 */
import { expect, it } from 'vitest';
import { RpcCallError } from '../../src/client/smash-emu-client.js';
import { useTestApp } from '../helpers/app.js';

const t = useTestApp();

it('tmpm.psmashIo(tmpm.preparePsmash(...)) smashes, the prepared object passed unchanged', async () => {
  const { call } = t();
  const prep = await call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  expect(Object.keys(prep).sort()).toEqual(['asid', 'entry', 'gctxSpa', 'smashHpteSpa', 'srcHpmdSpa', 'srcPgSpa']);
  const r = await call('tmpm.psmashIo', prep);
  expect(r.statusName).toBe('SUCCESS');
  expect(r.rmpSmashed).toBe(true);
  expect((await call('iommu.walk', { deviceId: 0x100, iova: '0x200000' })).sizeLg2).toBe(12);
  expect((await call('rmp.read', { spa: prep.srcPgSpa })).pageSize).toBe('4K');
});

it('ignores entry and asid: a stale entry does not stop the engine reading the real one', async () => {
  const { call } = t();
  const prep = await call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  const r = await call('tmpm.psmashIo', { ...prep, entry: '0x0', asid: 7 });
  expect(r.statusName).toBe('SUCCESS');
});

it('still refuses a misspelt key or a malformed entry with -32602 and changes nothing', async () => {
  const { call } = t();
  const prep = await call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  const before = await call('emu.dumpState');
  for (const [params, key] of [
    [{ ...prep, entyr: prep.entry }, 'entyr'],
    [{ ...prep, entry: 'leaf' }, 'entry'],
    [{ ...prep, asid: -1 }, 'asid'],
  ] as const) {
    const err = await call('tmpm.psmashIo', params).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcCallError);
    expect((err as RpcCallError).code).toBe(-32602);
    expect(JSON.stringify((err as RpcCallError).data)).toContain(key);
  }
  expect(await call('emu.dumpState')).toEqual(before);
});
