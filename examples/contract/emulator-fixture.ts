/**
 * The fixture a VMM team's contract tests share: one emulator platform per vitest
 * worker, a snapshot to go back to between tests, and a retry policy for the smash
 * engine (AMD's TMPM): a full ring, or a transient status.
 *
 * - With SMASH_EMU_URL set the tests use that server; else each test file starts
 *   one in process on 127.0.0.1:0.
 * - Each worker gets its own platform, `/platforms/vmm-<VITEST_POOL_ID>`: workers
 *   running in parallel against one server never see each other's state.
 */
import { RpcCallError, SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO_DOCUMENT, parseScenario, type ScenarioDocumentIn } from '../../src/protocol/scenario-schema.js';

/** TMPM status codes the VMM under test handles (hardware.md §2.4; SUCCESS is 0xF0). */
export const TMPM = {
  SUCCESS: 0xf0,
  INVALID_PLATFORM_STATE: 0x01,
  INVALID_PAGE_SIZE: 0x06,
  INVALID_HPTE_PADDR: 0x0a,
  RESOURCE_NOT_AVAILABLE: 0x17,
} as const;

/** The JSON-RPC error tmpm.* answers when the ring is full: the driver's -EAGAIN. */
export const RING_FULL = -32003;

export interface EmulatorFixture {
  client: SmashEmuClient;
  /** The platform path this worker uses. */
  path: string;
  close(): Promise<void>;
}

/** Connects this worker to its own platform, rebuilt from `scenario`. */
export async function openEmulator(scenario: ScenarioDocumentIn = DEFAULT_SCENARIO_DOCUMENT): Promise<EmulatorFixture> {
  const worker = process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? '0';
  const path = `/platforms/vmm-${worker}`;
  let app: RunningApp | undefined;
  let base = process.env.SMASH_EMU_URL;
  if (base === undefined || base === '') {
    app = await startApp({ server: { host: '127.0.0.1', port: 0, pingMs: 0 }, scenario: parseScenario(scenario) });
    base = app.url;
  }
  const token = process.env.SMASH_EMU_TOKEN;
  const client = await SmashEmuClient.connect(base.replace(/\/+$/, '') + path, token ? { token } : {});
  // A platform is created from the server's scenario on first use; make it ours.
  await client.call('emu.reset', { scenario });
  return {
    client,
    path,
    close: async () => {
      await client.close();
      await app?.close();
    },
  };
}

export interface RetryOptions {
  /** Attempts in all, the first included. Default 5. */
  attempts?: number;
  /** Virtual time before retry n (1-based): backoffNs x 2^(n-1). Default 100 us. */
  backoffNs?: number;
  /** TMPM statuses worth another attempt. Default: RESOURCE_NOT_AVAILABLE. */
  retryStatuses?: readonly number[];
  /** Called before each retry (for logs and assertions): the status, or 'ring-full'. */
  onRetry?: (attempt: number, why: number | 'ring-full') => void;
}

/**
 * Retries a TMPM command while the ring is full (tmpm.* refuses with -32003, the
 * driver's -EAGAIN: entries of another submitter are still queued) or while it
 * answers RESOURCE_NOT_AVAILABLE (the name says transient; the emulator gives it
 * only through fault.add). The platform runs the
 * virtual clock, where waiting is advancing it: the backoff is a clock.advance,
 * which also lets the queued entries run. Then the last answer as it was.
 */
export async function withRetry<R extends { status: number }>(client: SmashEmuClient, command: () => Promise<R>, opts: RetryOptions = {}): Promise<R> {
  const attempts = opts.attempts ?? 5;
  const backoffNs = opts.backoffNs ?? 100_000;
  const retryStatuses = opts.retryStatuses ?? [TMPM.RESOURCE_NOT_AVAILABLE];
  for (let attempt = 1; ; attempt++) {
    let why: number | 'ring-full';
    try {
      const r = await command();
      if (!retryStatuses.includes(r.status) || attempt >= attempts) return r;
      why = r.status;
    } catch (err) {
      if (!(err instanceof RpcCallError) || err.code !== RING_FULL || attempt >= attempts) throw err;
      why = 'ring-full';
    }
    opts.onRetry?.(attempt, why);
    await client.call('clock.advance', { ns: backoffNs * 2 ** (attempt - 1) });
  }
}
