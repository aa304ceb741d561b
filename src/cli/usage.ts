/** `smash-emu --help`, generated from the flag tables so every flag and default is listed as it runs. */
import type { FlagSpec } from './args.js';
import { envName } from './args.js';
import { CALL_FLAGS } from './call.js';
import { EXPERIMENT_FLAGS } from './experiment.js';
import { REPLAY_FLAGS } from './replay.js';
import { SERVE_FLAGS } from './serve-options.js';
import { WATCH_FLAGS } from './watch.js';
import { TRACE_FLAGS } from './trace.js';
import { CONNECT_FLAGS } from './connect.js';

const COLUMN = 30;

export function usage(): string {
  return [
    'smash-emu: the AMD SEV-TIO smash engine emulator, over JSON-RPC 2.0 on a WebSocket',
    '',
    'Usage:',
    '  smash-emu [serve] [FLAGS]                    serve the platforms; prints "smash-emu listening on ws://HOST:PORT" when ready',
    '  smash-emu call METHOD [JSON-PARAMS] [FLAGS]  call one method on a running server (params default {}); prints the result as JSON',
    '  smash-emu call - [FLAGS]                     read calls from stdin, one JSON object a line ({"method": M, "params": P}),',
    '                                               on one connection; prints each result as one line of JSON;',
    '                                               stops at the first call that does not exit 0 and exits with its code',
    '  smash-emu watch [--topics LIST] [FLAGS]      print one line per event of a running server until Ctrl-C',
    '  smash-emu trace --out FILE [FLAGS]           record a trace until Ctrl-C (or --for-ms), write Chrome/Perfetto JSON',
    '  smash-emu experiment SPEC.json [FLAGS]       run a parameter sweep, each point on its own platform; writes CSV, JSON and an HTML report',
    '  smash-emu replay FILE [FLAGS]                replay a recording (serve --record, emu.record); prints the first result that differs',
    '  smash-emu help                               this text (also -h, --help)',
    '',
    'Flags take --flag VALUE or --flag=VALUE. Each is also an environment variable SMASH_EMU_<FLAG>;',
    'a flag beats its variable, which beats the scenario file (clock, speed, seed), which beats the default.',
    '',
    'serve flags:',
    ...SERVE_FLAGS.map(line),
    '',
    'On SIGINT or SIGTERM, serve closes every client with 1001, saves every platform to --state when set,',
    'and exits 0; the same signal again within 1 s is taken as a repeat (npm and process groups deliver',
    'one twice), a later one exits at once. Started by npm (npm start, npx), serve also shuts down so when',
    'npm goes away, since npm does not pass signals through the shell it starts.',
    '',
    'call flags:',
    ...CALL_FLAGS.map(line),
    '',
    'watch flags (and --url, --token, --timeout-ms as for call):',
    ...WATCH_FLAGS.filter((f) => f.name === 'topics').map(line),
    '',
    'trace flags (and --url, --token, --timeout-ms as for call):',
    ...TRACE_FLAGS.filter((f) => !CONNECT_FLAGS.includes(f)).map(line),
    '',
    'experiment flags (the spec format: examples/experiments/README.md):',
    ...EXPERIMENT_FLAGS.map(line),
    '',
    'replay flags:',
    ...REPLAY_FLAGS.map(line),
    '',
    'Exit codes:',
    "  0  success (call: the result's status or rc is SUCCESS, or one --ok-status names)",
    '  1  failure while running (could not start, corrupt --state file, could not save, an experiment',
    '     point failed, a replayed result differs)',
    '  2  bad command line (flag, variable, scenario file, JSON-PARAMS, an experiment spec or a recording',
    '     file); nothing sent. call -: a stdin line that is not a call; nothing sent from that line on',
    '     (the lines before it were sent and answered)',
    '  3  call: the emulated command answered a status other than SUCCESS (statusName, rcName, #NPF)',
    '  4  call: the server answered a JSON-RPC error',
    '  5  call: no server (connection refused or unreachable, or the upgrade refused: 401, 404, 503)',
    '  6  call: no answer within --timeout, or the connection dropped: the call may still complete',
    '',
  ].join('\n');
}

function line(spec: FlagSpec): string {
  const head = `  --${spec.name} ${spec.value}`;
  const pad = head.length < COLUMN ? ' '.repeat(COLUMN - head.length) : `\n${' '.repeat(COLUMN)}`;
  return `${head}${pad}${spec.help}\n${' '.repeat(COLUMN)}default: ${spec.defaultText}; env: ${envName(spec.name)}`;
}
