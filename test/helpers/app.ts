/**
 * Starts the real server application in process on 127.0.0.1:0 (results checked
 * against their schemas) and a typed client; `stop` closes both.
 */
import { afterEach, beforeEach } from 'vitest';
import { startApp, type AppOptions, type RunningApp } from '../../src/rpc/app.js';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

/** A call on the test client by method name, its result untyped (tests that read fields freely). */
export type UntypedCall = (method: string, params?: unknown) => Promise<any>;

export interface AppUnderTest {
  app: RunningApp;
  client: SmashEmuClient;
  /** `client.call` untyped. */
  call: UntypedCall;
  clients: SmashEmuClient[];
  connect(path?: string, token?: string): Promise<SmashEmuClient>;
  stop(): Promise<void>;
}

export async function startTestApp(opts: Partial<AppOptions> = {}): Promise<AppUnderTest> {
  const app = await startApp({ scenario: DEFAULT_SCENARIO, validateResults: true, ...opts, server: { host: '127.0.0.1', port: 0, pingMs: 0, ...opts.server } });
  const clients: SmashEmuClient[] = [];
  const defaultToken = opts.server?.token;
  const connect = async (path = '/', token = defaultToken) => {
    const c = await SmashEmuClient.connect(app.url + path, token === undefined ? {} : { token });
    clients.push(c);
    return c;
  };
  const client = await connect();
  return {
    app,
    client,
    call: (client.call as unknown as UntypedCall).bind(client),
    clients,
    connect,
    stop: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await app.close();
    },
  };
}

/**
 * A fresh test app for each test of the file (or describe block) that calls this:
 * started before it, stopped after. Read it through the getter inside a test.
 */
export function useTestApp(opts: Partial<AppOptions> = {}): () => AppUnderTest {
  let t: AppUnderTest | undefined;
  beforeEach(async () => {
    t = await startTestApp(opts);
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });
  return () => {
    if (t === undefined) throw new Error('useTestApp: no app outside a test');
    return t;
  };
}
