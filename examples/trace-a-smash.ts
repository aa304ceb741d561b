/**
 * trace-a-smash: record a Perfetto trace of a smash under DMA, then check it.
 *
 * Two devices stream DMA (01:00.0, TEE-IO in domain 1, and 02:00.0, untrusted in
 * domain 2); after 3 ms the TMPM smashes (PSMASH_IO) the 2 MB region at GPA 0x200000 of
 * domain 1, and 02:00.0 touches an unmapped IOVA once. The trace (trace.start,
 * trace.stop, trace.export) is written as Chrome/Perfetto trace-event JSON: open it
 * in https://ui.perfetto.dev (Open trace file) or chrome://tracing to see the
 * engine's command slice, the stall, the held requests of domain 1 pile up in its
 * counter track while domain 2 carries on, and the fault.
 *
 *   npx tsx examples/trace-a-smash.ts            (writes ./smash.trace.json)
 *   SMASH_EMU_TRACE_OUT=/tmp/t.json npx tsx examples/trace-a-smash.ts
 *   SMASH_EMU_URL=ws://127.0.0.1:8547 npx tsx examples/trace-a-smash.ts
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runExample, withEmulator } from './lib/emulator.js';
import { heading, printTable, step } from './lib/format.js';
import { prepareSmash, psmashParams } from './lib/smash.js';
import type { TraceEventJson } from '../src/observe/perfetto-trace.js';

const OUT = resolve(process.env['SMASH_EMU_TRACE_OUT'] ?? 'smash.trace.json');
const BIN_NS = 100_000; // counter tracks: requests per 100 us

type TraceEvent = Omit<TraceEventJson, 'args'> & { args?: Record<string, number | string> };

runExample(() =>
  withEmulator(async ({ client, url }) => {
    console.log(`trace-a-smash  (emulator ${url}, virtual clock)`);
    heading('Record');
    const started = await client.call('trace.start', { binNs: BIN_NS });
    step(`trace.start: topics ${started.topics.join(', ')}, at most ${started.maxEvents.toLocaleString('en')} events, counters per ${BIN_NS / 1000} us`);
    const s1 = await client.call('dma.startStream', { deviceId: 0x100, iovaBase: '0x0', length: '0x4000000', ratePerSec: 1_000_000, accessBytes: 64, writeRatio: 0.5 });
    const s2 = await client.call('dma.startStream', { deviceId: 0x200, iovaBase: '0x0', length: '0x400000', ratePerSec: 250_000, accessBytes: 64, writeRatio: 0.5 });
    await client.call('clock.advance', { ns: 3_000_000 });
    const fault = await client.call('dma.issue', { deviceId: 0x200, iova: '0x8000000', bytes: 64, write: true });
    step(`02:00.0 writes IOVA 0x8000000 (past its 64 MiB): ${fault.outcome}`);
    const r = await client.call('tmpm.psmashIo', psmashParams(await prepareSmash(client, 1, 0x20_0000n)));
    step(`tmpm.psmashIo: ${r.statusName}, DMA of domain 1 stalled ${(r.stallNs / 1e6).toFixed(3)} ms, ${r.dmaHeld} requests held`);
    await client.call('clock.advance', { ns: 3_000_000 });
    for (const s of [s1, s2]) await client.call('dma.stopStream', { streamId: s.streamId });
    await client.call('clock.advance', { ns: 100_000 }); // the last requests complete
    const stopped = await client.call('trace.stop');
    step(`trace.stop: ${stopped.events} events recorded, ${stopped.dropped} dropped, ${stopped.startNs}..${stopped.stopNs} ns`);

    heading('Export');
    const exported = await client.call('trace.export', { format: 'perfetto-json' });
    writeFileSync(OUT, JSON.stringify(exported.trace));
    const events = exported.trace.traceEvents as TraceEvent[];
    step(`wrote ${OUT}: ${events.length} trace events`, 'open it in https://ui.perfetto.dev (Open trace file) or chrome://tracing');

    heading('What the trace says, against the emulator');
    const engine = events.filter((e) => e.pid === 1 && e.ph === 'X');
    printTable(
      ['track', 'slice', 'start (ns)', 'length (ns)', 'status'],
      engine.map((e) => [e.tid === 1 ? 'TMPM engine: commands' : 'TMPM engine: DMA stalls', e.name, Math.round(e.ts! * 1000), Math.round(e.dur! * 1000), e.args?.['statusName'] ?? '']),
    );
    step(`the command's own result: start ${r.startNs} ns, stall ${r.stallNs} ns`);
    const rows = [];
    for (const deviceId of [0x100, 0x200]) {
      const stats = await client.call('dma.stats', { deviceId });
      const counters = events.filter((e) => e.ph === 'C' && e.pid === 100 + deviceId);
      const sum = (k: string) => counters.reduce((n, e) => n + Number(e.args?.[k] ?? 0), 0);
      rows.push([`0x${deviceId.toString(16).padStart(4, '0')}`, sum('issued'), stats.issued, sum('held'), stats.held, sum('faults'), stats.ioPageFaults + stats.rmpFaults]);
    }
    printTable(['device', 'issued (trace)', 'issued (dma.stats)', 'held (trace)', 'held (dma.stats)', 'faults (trace)', 'faults (dma.stats)'], rows);
    await client.call('emu.audit');
  }),
);
