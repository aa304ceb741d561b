/**
 * Socket tests: every notification's `data` matches what protocol/openrpc.json
 * says for its topic (TOPIC_DATA), so the published schemas are the truth.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EVENT_TOPICS } from '../../src/observe/event-bus.js';
import { TOPIC_DATA } from '../../src/protocol/topic-data.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

/** One PSMASH_IO of the 2 MB page at IOVA 0x200000 of domain 1, an RBCTL write applied, and a WPTR_ERR interrupt. */
async function smashOnce(): Promise<void> {
  const c = t.client;
  const prep = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
  await c.call('tmpm.psmashIo', { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa });
  await c.call('tmpm.writeReg', { offset: 0x00, value: 2 });
  await c.call('clock.advance', { ns: 2000 });
  await c.call('tmpm.writeReg', { offset: 0x08, value: 4096 });
}

it("sends each topic's data in the shape TOPIC_DATA publishes", async () => {
  const seen = new Map<string, unknown[]>();
  await t.client.subscribe([...EVENT_TOPICS], (n) => {
    const list = seen.get(n.topic) ?? [];
    list.push(n.data);
    seen.set(n.topic, list);
  });
  await t.client.call('fw.tdiBind', { deviceId: 0x200, asid: 9 });
  await t.client.call('rmp.update', { spa: '0x3000', assigned: true, pageSize: '4K', asid: 1, gpa: '0x80000000' });
  await t.client.call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: true });
  await smashOnce();
  // Topic psp: a connect (commands, SPDM steps, DOE exchanges) and an interrupt.
  await t.client.call('psp.writeReg', { offset: 0x10690, value: 2 });
  await t.client.call('tio.connect', { deviceId: 0x200 });
  await t.client.call('psp.writeReg', { offset: 0x10980, value: 0x840001 });
  await t.client.call('psp.writeReg', { offset: 0x10980, value: 0x840001 });
  await t.client.call('clock.advance', { ns: 10_000 });
  // A clock.advance longer than one chunk (50,000 events): progress on topic clock.
  const { streamId } = await t.client.call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x200000', ratePerSec: 1e6, accessBytes: 64, writeRatio: 0, arrival: 'poisson' });
  await t.client.call('clock.advance', { ns: 120_000_000 });
  await t.client.call('dma.stopStream', { streamId });
  await t.client.call('clock.now');
  expect([...seen.keys()].sort()).toEqual([...EVENT_TOPICS].sort());
  for (const [topic, list] of seen) {
    for (const data of list) {
      const r = TOPIC_DATA[topic as keyof typeof TOPIC_DATA].safeParse(data);
      expect(r.success ? [] : r.error.issues, `${topic}: ${JSON.stringify(data)}`).toEqual([]);
    }
  }
});
