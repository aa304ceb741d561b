// raw-client: JSON-RPC 2.0 by hand over a WebSocket, with nothing but `ws`: no
// project code, so the same few lines work from any language with a WebSocket
// library. Single requests, a batch (one array in, one array out, in order; a
// notification member gets no answer), an error object, and an events.notify
// notification pushed by the server.
//
//   node examples/raw-client.mjs                                  (spawns a server)
//   SMASH_EMU_URL=ws://127.0.0.1:8547 node examples/raw-client.mjs
// On a running server it works on a platform of its own, /platforms/example-raw-client
// (SMASH_EMU_PLATFORM=NAME picks another, `/` the default one), so it never changes
// the state of the server's default platform behind the user's back.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import WebSocket from 'ws';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const READY = /^smash-emu listening on (ws:\/\/\S+)$/m;

/** Starts `smash-emu serve --port 0` in its own process group; resolves with its URL. */
function startServer() {
  const child = spawn(process.execPath, [join(root, 'bin', 'smash-emu.mjs'), 'serve', '--port', '0'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'], // stderr is shown only if the start fails
    detached: true, // its own process group: bin/smash-emu.mjs runs the server as a grandchild
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk) => (err += chunk));
    const timer = setTimeout(() => reject(new Error(`no ready line from smash-emu within 30 s\n${err}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`smash-emu exited with ${code} before it was ready\n${err}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout.resume();
        resolve({ child, url: m[1] });
      }
    });
  });
}

/** SIGTERM to the server's process group, then wait until every member is gone. */
async function stopServer(child) {
  const groupAlive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(-child.pid, 'SIGTERM');
  for (let i = 0; i < 100 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive()) process.kill(-child.pid, 'SIGKILL');
}

const show = (dir, obj) => console.log(`${dir} ${JSON.stringify(obj)}`);

async function main() {
  const external = process.env.SMASH_EMU_URL;
  const server = external ? undefined : await startServer();
  const chosen = process.env.SMASH_EMU_PLATFORM;
  const path = chosen === '/' ? '/' : `/platforms/${chosen ? chosen.replace(/^\/?(platforms\/)?/, '') : 'example-raw-client'}`;
  const url = external ? external.replace(/\/+$/, '') + path : server.url;
  console.log(`raw-client  (${external ? 'server at' : 'spawned smash-emu serve --port 0:'} ${url})`);

  const token = process.env.SMASH_EMU_TOKEN;
  const ws = new WebSocket(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });

  // Responses are matched to requests by id; a batch answer is one array.
  let nextId = 1;
  const pending = new Map(); // id -> resolve
  const batches = []; // resolve functions of batches, answered in order
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data));
    if (Array.isArray(msg)) return batches.shift()?.(msg);
    if (msg.method === 'events.notify') return show('<- notification', msg);
    pending.get(msg.id)?.(msg);
    pending.delete(msg.id);
  });
  const request = (method, params = {}) => {
    const req = { jsonrpc: '2.0', id: nextId++, method, params };
    show('->', req);
    ws.send(JSON.stringify(req));
    return new Promise((resolve) => pending.set(req.id, resolve)).then((res) => {
      show('<-', res);
      return res;
    });
  };

  console.log("\n# one request: rebuild the platform from the server's scenario, so runs repeat");
  await request('emu.reset');

  console.log('\n# a batch: three requests and a notification (no id: no answer) in one frame');
  const batch = [
    { jsonrpc: '2.0', id: nextId++, method: 'clock.now', params: {} },
    { jsonrpc: '2.0', id: nextId++, method: 'rmp.read', params: { spa: '0x100201000' } },
    { jsonrpc: '2.0', method: 'clock.advance', params: { ns: 1000 } },
    { jsonrpc: '2.0', id: nextId++, method: 'no.such.method', params: {} },
  ];
  console.log('->');
  for (const r of batch) console.log(`   ${JSON.stringify(r)}`);
  ws.send(JSON.stringify(batch));
  const answers = await new Promise((resolve) => batches.push(resolve));
  console.log(`<- an array of ${answers.length} answers, in request order:`);
  for (const a of answers) console.log(`   ${JSON.stringify(a)}`);

  console.log('\n# invalid params: -32602 with data.issues naming the key');
  await request('rmp.psmash', { spa: 42 });

  console.log('\n# events.subscribe, then a call that changes the RMP: its notification comes before its response');
  await request('events.subscribe', { topics: ['rmp'] });
  await request('rmp.psmash', { spa: '0x100200000' });

  ws.close(1000);
  await new Promise((resolve) => ws.once('close', resolve));
  if (server) await stopServer(server.child);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
