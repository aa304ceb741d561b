/**
 * Connect-or-start for the examples: with SMASH_EMU_URL set (and SMASH_EMU_TOKEN
 * when the server has a --token) the example connects to that server, on a
 * platform of its own, /platforms/example-NAME (NAME: the example's file name), and
 * rebuilds that platform from its own scenario with `emu.reset {scenario}`, so every
 * run starts from the same state and the server's other platforms, `/` included,
 * are left alone. SMASH_EMU_PLATFORM picks another one: a NAME, or `/` for the
 * default platform (whose state the example then replaces). Without SMASH_EMU_URL
 * it starts a server in process on 127.0.0.1:0, built from that scenario. Either way
 * it talks to the emulator only over the WebSocket, with the typed client, and
 * closes everything at the end.
 */
import { basename } from 'node:path';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { startApp, type RunningApp } from '../../src/rpc/app.js';
import { DEFAULT_SCENARIO_DOCUMENT, parseScenario, type ScenarioDocumentIn } from '../../src/protocol/scenario-schema.js';

export type { SmashEmuClient };
export type ScenarioDocument = ScenarioDocumentIn;

/** The default scenario as a JSON document (what `emu.reset` takes; examples/scenarios/default.json). */
export const DEFAULT_SCENARIO_DOC: ScenarioDocumentIn = DEFAULT_SCENARIO_DOCUMENT;

export interface Emulator {
  client: SmashEmuClient;
  /** The ws:// URL the client is connected to. */
  url: string;
}

/**
 * The path an example uses on a server it did not start: SMASH_EMU_PLATFORM (`/`
 * or a NAME), else /platforms/example-NAME after the running script's file name.
 */
export function examplePath(env: NodeJS.ProcessEnv = process.env, script = process.argv[1] ?? 'example'): string {
  const chosen = env.SMASH_EMU_PLATFORM;
  if (chosen !== undefined && chosen !== '') return chosen === '/' ? '/' : `/platforms/${chosen.replace(/^\/?(platforms\/)?/, '')}`;
  const name = basename(script)
    .replace(/\.[cm]?[jt]s$/, '')
    .replace(/[^A-Za-z0-9_.-]/g, '-');
  return `/platforms/example-${name}`.slice(0, '/platforms/'.length + 64);
}

/**
 * Runs `body` against an emulator built from `scenario` (default: the default
 * platform), then closes the client and any server it started.
 */
export async function withEmulator(body: (emu: Emulator) => Promise<void>, scenario: ScenarioDocumentIn = DEFAULT_SCENARIO_DOC): Promise<void> {
  const external = process.env.SMASH_EMU_URL;
  let app: RunningApp | undefined;
  let base: string;
  let path = '/';
  if (external !== undefined && external !== '') {
    base = external.replace(/\/+$/, '');
    path = examplePath();
  } else {
    app = await startApp({ server: { host: '127.0.0.1', port: 0, pingMs: 0 }, scenario: parseScenario(scenario) });
    base = app.url.replace(/\/+$/, '');
  }
  const url = base + path;
  const token = process.env.SMASH_EMU_TOKEN;
  let client: SmashEmuClient | undefined;
  try {
    client = await SmashEmuClient.connect(url, token !== undefined && token !== '' ? { token } : {});
    if (app === undefined) await client.call('emu.reset', { scenario });
    await body({ client, url });
  } finally {
    await client?.close().catch(() => undefined);
    await app?.close();
  }
}

/**
 * Runs an example's main. It ends by itself once everything is closed (exit code 0);
 * an error prints and sets exit code 1. No process.exit: a handle left open would
 * show up as a hang in test/examples, not be hidden.
 */
export function runExample(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
