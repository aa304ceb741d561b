/**
 * Socket tests of the HTTP side of the real app: /healthz, /metrics with the
 * platform label and DMA/stall figures, /openrpc.json, and the token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type AppUnderTest } from '../helpers/app.js';

let t: AppUnderTest | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const httpUrl = (ws: string, path: string) => ws.replace(/^ws:/, 'http:').replace(/\/$/, '') + path;

describe('HTTP on the same port', () => {
  it('serves /healthz, /openrpc.json and /metrics with per-platform DMA and stall figures', async () => {
    t = await startTestApp();
    const h = await fetch(httpUrl(t.app.url, '/healthz'));
    expect(h.status).toBe(200);
    const doc = (await (await fetch(httpUrl(t.app.url, '/openrpc.json'))).json()) as { openrpc: string };
    expect(doc.openrpc).toBe('1.2.6');
    const beta = await t.connect('/platforms/beta');
    await beta.call('dma.issue', { deviceId: 0x200, iova: '0x10000000', bytes: 8, write: false });
    await t.client.call('dma.issue', { deviceId: 0x100, iova: '0x0', bytes: 8, write: false });
    await t.client.call('clock.advance', { ns: 10_000 });
    const text = await (await fetch(httpUrl(t.app.url, '/metrics'))).text();
    expect(text).toMatch(/smash_emu_dma_requests\{platform="beta",outcome="ioPageFaults"\} 1/);
    expect(text).toMatch(/smash_emu_dma_requests\{platform="",outcome="completed"\} 1/);
    expect(text).toMatch(/smash_emu_stalls\{platform=""\} 0/);
    expect(text).toMatch(/smash_emu_rpc_calls_total\{[^}]*method="dma.issue"/);
  });

  it('counts TMPM commands by command and status name, and interrupts by reason', async () => {
    t = await startTestApp();
    const c = t.client;
    const prep = await c.call('tmpm.preparePsmash', { domainId: 1, iova: '0x200000' });
    const args = { srcPgSpa: prep.srcPgSpa, smashHpteSpa: prep.smashHpteSpa, srcHpmdSpa: prep.srcHpmdSpa, gctxSpa: prep.gctxSpa };
    expect((await c.call('tmpm.psmashIo', args)).statusName).toBe('SUCCESS');
    expect((await c.call('tmpm.psmashIo', args)).statusName).toBe('INVALID_HPTE_PADDR');
    await c.call('tmpm.getCapabilities', {});
    await c.call('tmpm.writeReg', { offset: 0x08, value: 4096 });
    const text = await (await fetch(httpUrl(t.app.url, '/metrics'))).text();
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="tmpm",command="PSMASH_IO",status="SUCCESS"\} 1/);
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="tmpm",command="PSMASH_IO",status="INVALID_HPTE_PADDR"\} 1/);
    expect(text).toMatch(/smash_emu_commands_total\{platform="",source="tmpm",command="GET_CAPABILITIES",status="SUCCESS"\} 1/);
    expect(text).toMatch(/smash_emu_tmpm_interrupts\{platform="",reason="WPTR_ERR"\} 1/);
    expect(text).toMatch(/smash_emu_tmpm_ring_pending\{platform=""\} 0/);
  });

  it('requires the token on HTTP except /healthz', async () => {
    t = await startTestApp({ server: { token: 's3cret' } });
    // The test client connected with no token would be refused: connect one with it.
    expect((await fetch(httpUrl(t.app.url, '/healthz'))).status).toBe(200);
    expect((await fetch(httpUrl(t.app.url, '/metrics'))).status).toBe(401);
    expect((await fetch(httpUrl(t.app.url, '/metrics'), { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect((await fetch(httpUrl(t.app.url, '/openrpc.json?token=s3cret'))).status).toBe(200);
  });
});
