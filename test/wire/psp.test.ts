/**
 * Socket tests: the PSP mailbox, pci.doe and the TIO conveniences through the real
 * server: misuse is -32602 and changes nothing, topic psp reports commands, SPDM
 * steps and interrupts, state documents and snapshots carry a command in flight and
 * an exchange in progress, and a recorded session with connects replays identical.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRecording, replay } from '../../src/cli/replay.js';
import { readFileSync } from 'node:fs';
import { startTestApp, useTestApp } from '../helpers/app.js';

const app = useTestApp();

describe('psp.* over the wire', () => {
  it('answers -32602 for an offset the mailbox does not have, a read-only FEATURE, a bad value and bad DOE bytes, changing nothing', async () => {
    const { call } = app();
    const before = JSON.stringify((await call('emu.dumpState')).state.psp);
    for (const [method, params] of [
      ['psp.readReg', { offset: 0x10544 }],
      ['psp.writeReg', { offset: 0x109fc, value: 0 }],
      ['psp.writeReg', { offset: 0x10980, value: 2 ** 32 }],
      ['pci.doe', { deviceId: 0x200, feature: 'cma', request: '0x1084' }],
      ['pci.doe', { deviceId: 0x200, feature: 'spdm', request: '1084' }],
      ['tio.connect', { deviceId: 0x10000 }],
      ['fw.pageReclaim', { spa: '0x1000', pageSize: '1G' }],
    ] as const) {
      await expect(call(method, params), `${method} ${JSON.stringify(params)}`).rejects.toMatchObject({ code: -32602 });
    }
    expect(JSON.stringify((await call('emu.dumpState')).state.psp)).toBe(before);
  });

  it('reports a host-driven command, its interrupt and an ignored CMDRESP write on topic psp, before the response', async () => {
    const t = app();
    const seen: Array<{ topic: string; data: any }> = [];
    await t.client.subscribe(['psp'], (n) => seen.push({ topic: n.topic, data: n.data }));
    await t.call('psp.writeReg', { offset: 0x10690, value: 2 });
    await t.call('psp.writeReg', { offset: 0x10980, value: 0x840001 });
    await t.call('psp.writeReg', { offset: 0x10980, value: 0x810001 });
    await t.call('clock.advance', { ns: 10_000 });
    expect(seen.map((e) => e.data.kind)).toEqual(['start', 'ignored', 'command', 'interrupt']);
    expect(seen[2]!.data).toMatchObject({ commandName: 'SNP_DF_FLUSH', status: 0, statusName: 'SUCCESS', cmdresp: 0x80840000 });
    expect((await t.call('psp.readReg', { offset: 0x10694 })).value).toBe(2);
  });

  it('injects a status into a command however it arrives (psp.*) and an SPDM ERROR into a device (spdm.*)', async () => {
    const { call } = app();
    await call('fault.add', { method: 'psp.SNP_DF_FLUSH', status: 0x17 });
    await call('psp.writeReg', { offset: 0x10980, value: 0x840000 });
    await call('clock.advance', { ns: 10_000 });
    expect((await call('psp.readReg', { offset: 0x10980 })).value).toBe(0x80840017);
    await expect(call('fault.add', { method: 'psp.SNP_DF_FLUSH', rpcError: { code: -32050, message: 'x' } })).rejects.toMatchObject({ code: -32602 });
    await call('fault.add', { method: 'spdm.GET_VERSION', status: 0x03 });
    expect(await call('pci.doe', { deviceId: 0x200, feature: 'cma', request: '10840000' })).toEqual({ response: '127f0300' });
    expect(await call('tio.connect', { deviceId: 0x200 })).toMatchObject({ status: 0 });
  });

  it('keeps a command in flight in a state document, and a snapshot brings back the firmware and the fault rules', async () => {
    const t = app();
    const { call } = t;
    // A connect's first turn answered SPDM_REQUEST; a TIO_STATUS is running.
    await call('fault.add', { method: 'spdm.GET_CAPABILITIES', status: 0x05 });
    const snap = (await call('emu.snapshot')).snapshotId;
    const failed = await call('tio.connect', { deviceId: 0x200 });
    expect(failed).toMatchObject({ status: 0x33, steps: 2 });
    await call('psp.writeReg', { offset: 0x10980, value: 0x840001 });
    const { state } = await call('emu.dumpState');
    expect(state.psp.device.running).toMatchObject({ command: 0x84 });
    await call('clock.advance', { ns: 10_000 });
    const finished = (await call('psp.readReg', { offset: 0x10980 })).value;
    await call('emu.loadState', { state });
    expect((await call('psp.regs')).firmware).toMatchObject({ busy: true });
    await call('clock.advance', { ns: 10_000 });
    expect((await call('psp.readReg', { offset: 0x10980 })).value).toBe(finished);
    await call('emu.revert', { snapshotId: snap });
    expect((await call('fault.list')).faults).toHaveLength(1);
    expect((await call('tio.connect', { deviceId: 0x200 })).status).toBe(0x33);
  });
});

describe('record and replay with the PSP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'smash-emu-psp-record-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replays a session of connects, disconnects, reclaims and mailbox writes identically', async () => {
    const file = join(dir, 'psp.jsonl');
    const t = await startTestApp({ record: file });
    try {
      await t.call('tio.connect', { deviceId: 0x200 });
      await t.call('pci.doe', { deviceId: 0x200, feature: 'cma', request: '10840000' });
      await t.call('tio.disconnect', { deviceId: 0x100 });
      await t.call('psp.writeReg', { offset: 0x10980, value: 0x840001 });
      await t.call('clock.advance', { ns: 10_000 });
      await t.call('psp.readReg', { offset: 0x10980 });
      const ring = (await t.call('emu.info')).tmpm.ringSpa;
      await t.call('tmpm.writeReg', { offset: 0, value: 0 });
      await t.call('clock.advance', { ns: 5_000 });
      await t.call('fw.pageReclaim', { spa: ring });
      await t.call('rmp.update', { spa: ring, assigned: false, pageSize: '4K' });
      await t.call('fw.platformStatus');
    } finally {
      await t.stop();
    }
    const steps = readRecording(readFileSync(file, 'utf8'));
    expect(await replay(steps, undefined, undefined)).toMatchObject({ calls: 12, difference: null });
  });
});

describe('GET /metrics with the PSP', () => {
  it('counts every mailbox command by name and status, however it was issued (source psp)', async () => {
    const t = app();
    await t.call('tio.connect', { deviceId: 0x200 });
    await t.call('psp.writeReg', { offset: 0x10980, value: 0x7ff0000 });
    await t.call('clock.advance', { ns: 10_000 });
    const text = await (await fetch(t.app.url.replace('ws://', 'http://') + '/metrics')).text();
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="psp",command="TIO_DEV_CONNECT",status="SPDM_REQUEST"\} 21/);
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="psp",command="TIO_DEV_CONNECT",status="SUCCESS"\} 1/);
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="psp",command="OTHER",status="INVALID_COMMAND"\} 1/);
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="fw",command="tio.connect",status="SUCCESS"\} 1/);
  });
});
