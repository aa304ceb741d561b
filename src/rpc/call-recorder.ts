/**
 * Recording a session for `smash-emu replay` (`serve --record FILE`, `emu.record
 * {file}`): JSON Lines appended to a file. The first line is a header; then, for
 * each platform, a `platform` line with its whole state (emu.dumpState) before its
 * first recorded call, so a replay starts from exactly that state; then one `call`
 * line per answered call: the platform, the connection, the params as sent, the
 * virtual time it started and ended, and its result or JSON-RPC error, as the wire
 * showed them. `order` is the process-wide order in which calls started (lines are
 * written as calls are answered, which may differ); replay sorts by it. A `platform`
 * line's and a `delete` line's `after` place them among the calls. The header names
 * the server's scenario, so a replay builds its platforms (and a plain emu.reset)
 * from the same one.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Platform } from '../platform/platform.js';
import { VERSION } from '../platform/platform.js';
import { RECORD_FORMAT, RECORD_VERSION } from '../protocol/record-format.js';
import type { TappedCall } from './call-tap.js';
import { callsStarted } from './call-tap.js';
import type { Scenario } from '../platform/scenario.js';
import { scenarioToDocument } from '../protocol/scenario-schema.js';
import { errorToRpc } from './errors.js';
import { toWire } from './to-wire.js';

export class CallRecorder {
  private readonly out: WriteStream;
  private readonly platforms = new Set<string>();
  private failed: Error | undefined;
  calls = 0;

  /** Opens `path` for appending and writes the header. `onError` hears a failed write once; recording then stops. */
  constructor(
    readonly path: string,
    private readonly onError: (err: Error) => void,
    scenario?: Scenario,
  ) {
    this.out = createWriteStream(path, { flags: 'a' });
    this.out.on('error', (err) => {
      if (this.failed !== undefined) return;
      this.failed = err;
      this.onError(err);
    });
    this.write(JSON.stringify({ type: 'header', format: RECORD_FORMAT, version: RECORD_VERSION, smashEmu: VERSION, ...(scenario !== undefined ? { scenario: scenarioToDocument(scenario) } : {}) }));
  }

  /** Writes the platform's state now, unless it was already written: call before its first recorded call. */
  platform(name: string, p: Platform): void {
    if (this.platforms.has(name)) return;
    this.platforms.add(name);
    this.write(JSON.stringify({ type: 'platform', platform: name, atNs: p.nowNs, after: callsStarted(), state: toWire(p.dumpState().state) }));
  }

  /** The platform was deleted: a `delete` line, and one created later under its name gets its own state line. */
  deleted(name: string): void {
    if (!this.platforms.delete(name)) return;
    this.write(JSON.stringify({ type: 'delete', platform: name, after: callsStarted() }));
  }

  /** Recording a platform already (its state line written). */
  has(name: string): boolean {
    return this.platforms.has(name);
  }

  call(platform: string, c: TappedCall): void {
    this.calls++;
    let line: Record<string, unknown>;
    try {
      line = this.callLine(platform, c);
      this.write(JSON.stringify(line));
    } catch (err) {
      // Params or a result JSON cannot hold (nested past the stack): the line says so, and a replay reports it as a difference.
      this.write(
        JSON.stringify({
          type: 'call',
          order: c.order,
          platform,
          connection: c.connectionId,
          method: c.method,
          params: { unrecordable: (err as Error).message },
          atNs: c.atNs,
          endNs: c.endNs,
          error: { code: -32603, message: 'not recordable' },
        }),
      );
    }
  }

  private callLine(platform: string, c: TappedCall): Record<string, unknown> {
    const line: Record<string, unknown> = {
      type: 'call',
      order: c.order,
      platform,
      connection: c.connectionId,
      method: c.method,
      params: c.params ?? {},
      atNs: c.atNs,
      endNs: c.endNs,
    };
    if (c.failed) line.error = errorToRpc(c.error);
    else line.result = toWire(c.result) ?? null;
    return line;
  }

  /** Flushes and closes the file: resolves once its descriptor is closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.out.closed) resolve();
      else {
        this.out.once('close', () => resolve());
        if (!this.out.destroyed) this.out.end();
      }
    });
  }

  private write(text: string): void {
    if (this.failed !== undefined) return;
    this.out.write(text + '\n');
  }
}
