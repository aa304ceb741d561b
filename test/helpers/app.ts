/**
 * Starts the real server application in process on 127.0.0.1:0 (results checked
 * against their schemas) and a typed client; `stop` closes both.
 */
import { startApp, type AppOptions, type RunningApp } from '../../src/rpc/app.js';
import { SmashEmuClient } from '../../src/client/smash-emu-client.js';
import { DEFAULT_SCENARIO } from '../../src/platform/scenario.js';

export interface AppUnderTest {
  app: RunningApp;
  client: SmashEmuClient;
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
    clients,
    connect,
    stop: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await app.close();
    },
  };
}
