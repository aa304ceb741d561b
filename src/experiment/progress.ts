/**
 * Progress of an experiment on stderr: a bar redrawn in place on a terminal, one
 * plain line per finished point otherwise (CI logs, pipes), so a log never fills
 * with carriage returns.
 */
import { describeSwept } from './grid.js';
import type { PointOutcome } from './worker-pool.js';

const BAR_WIDTH = 30;

export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export class Progress {
  private done = 0;
  private failed = 0;
  private readonly startMs = performance.now();

  constructor(
    private readonly total: number,
    private readonly out: ProgressSink,
  ) {}

  start(jobs: number): void {
    this.out.write(`experiment: ${this.total} point${this.total === 1 ? '' : 's'} on ${jobs} worker thread${jobs === 1 ? '' : 's'}\n`);
    if (this.out.isTTY === true) this.draw();
  }

  point(o: PointOutcome): void {
    this.done++;
    if (o.error !== null) this.failed++;
    if (this.out.isTTY === true) {
      if (o.error !== null) this.out.write(`\r\x1b[Kpoint ${o.point.index} failed: ${o.error}\n`);
      this.draw();
      return;
    }
    const what = o.error !== null ? `FAILED: ${o.error}` : `held ${o.result?.held}, faults ${o.result?.faults}, timeouts ${o.result?.timeouts}, p99 ${o.result?.latencyNs.p99} ns`;
    this.out.write(`point ${this.done}/${this.total} (#${o.point.index} ${describeSwept(o.point)}) in ${o.wallMs} ms: ${what}\n`);
  }

  finish(): void {
    if (this.out.isTTY === true) this.out.write('\n');
    const s = ((performance.now() - this.startMs) / 1000).toFixed(1);
    this.out.write(`experiment: ${this.done} points in ${s} s${this.failed > 0 ? `, ${this.failed} failed` : ''}\n`);
  }

  private draw(): void {
    const frac = this.total === 0 ? 1 : this.done / this.total;
    const filled = Math.round(frac * BAR_WIDTH);
    const elapsedS = (performance.now() - this.startMs) / 1000;
    const eta = this.done === 0 ? '?' : `${((elapsedS / this.done) * (this.total - this.done)).toFixed(1)} s`;
    const line = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${this.done}/${this.total} points ${Math.round(frac * 100)}%  ${elapsedS.toFixed(1)} s, eta ${eta}`;
    this.out.write(`\r\x1b[K${line.slice(0, (this.out.columns ?? 120) - 1)}`);
  }
}
