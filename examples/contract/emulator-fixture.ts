/**
 * The fixture a VMM team's contract tests share: one emulator platform per vitest
 * worker, a snapshot to go back to between tests, and a retry policy for the
 * firmware's transient status.
 *
 * - With SMASH_EMU_URL set the tests use that server; else each test file starts
 *   one in process on 127.0.0.1:0.
 * - Each worker gets its own platform, `/platforms/vmm-<VITEST_POOL_ID>`: workers
 *   running in parallel against one server never see each other's state.
 */
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO_DOCUMENT, parseScenario, type ScenarioDocumentIn } from '../../src/protocol/scenario-schema.js';

/** Firmware status codes the VMM under test handles (hardware.md §2.3). */
export const FW = {
  SUCCESS: 0x00,
  INVALID_PLATFORM_STATE: 0x01,
  INVALID_ADDRESS: 0x09,
  INVALID_PARAM: 0x16,
  INVALID_PAGE_SIZE: 0x19,
  INVALID_PAGE_STATE: 0x1a,
  INVALID_PAGE_OWNER: 0x1c,
  IN_USE: 0x3a,
} as const;

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
  /** Wait before retry n (1-based): backoffMs x 2^(n-1), wall clock. Default 1. */
  backoffMs?: number;
  /** Called before each retry (for logs and assertions). */
  onRetry?: (attempt: number, status: number) => void;
}

/**
 * Retries a firmware command while it answers IN_USE (another smash or unsmash of
 * the region is under way): exponential backoff, then the last answer as it was.
 */
export async function withRetry<R extends { status: number }>(command: () => Promise<R>, opts: RetryOptions = {}): Promise<R> {
  const attempts = opts.attempts ?? 5;
  const backoffMs = opts.backoffMs ?? 1;
  for (let attempt = 1; ; attempt++) {
    const r = await command();
    if (r.status !== FW.IN_USE || attempt >= attempts) return r;
    opts.onRetry?.(attempt, r.status);
    await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
  }
}
