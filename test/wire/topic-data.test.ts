/**
 * Socket tests: every notification's `data` matches what protocol/openrpc.json
 * says for its topic (TOPIC_DATA), so the published schemas are the truth.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EVENT_TOPICS } from '../../src/platform/event-bus.js';
import { TOPIC_DATA } from '../../src/protocol/topic-data.js';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.stop();
});

/** One smash of the 2 MB page at IOVA 0x200000 of domain 1 (the lead switches this to tmpm.* with the TMPM). */
async function smashOnce(): Promise<void> {
  const c = t.client;
  const prep = await c.call('iommu.prepareSmash', { domainId: 1, iova: '0x200000' });
  await c.call('fw.smashIopde', { domainId: 1, iova: '0x200000', iopdeSpa: prep.iopdeSpa, tableSpa: prep.tableSpa });
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
  await t.client.call('clock.now');
  expect([...seen.keys()].sort()).toEqual([...EVENT_TOPICS].sort());
  for (const [topic, list] of seen) {
    for (const data of list) {
      const r = TOPIC_DATA[topic as keyof typeof TOPIC_DATA].safeParse(data);
      expect(r.success ? [] : r.error.issues, `${topic}: ${JSON.stringify(data)}`).toEqual([]);
    }
  }
});
