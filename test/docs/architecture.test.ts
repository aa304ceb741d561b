/**
 * ARCHITECTURE.md's import rules hold over src/ (scripts/check-imports.mjs): no
 * import circle, no import of a higher floor, no wire library below protocol/.
 * KNOWN lists what the layout still owes (ARCHITECTURE.md "Later"); anything else
 * fails, so a new circle or upward import is caught where it is written.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { importCircles, importEdges, ruleBreaks } from '../../scripts/check-imports.mjs';
import { ROOT } from '../helpers/processes.js';

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Owed: each names its files; remove an entry when its circle or import is gone. */
const KNOWN = new Set<string>([]);

describe("ARCHITECTURE.md's import rules", () => {
  const edges = importEdges(ROOT) as Edge[];

  it('reads every source file and its imports', () => {
    expect(new Set(edges.map((e) => e.from)).size).toBeGreaterThan(100);
    // The engine's own imports are seen, type-only ones marked.
    const engine = edges.filter((e) => e.from === 'src/tmpm/tmpm-engine.ts');
    expect(engine.map((e) => e.to)).toContain('src/tmpm/command-table.ts');
    expect(engine.find((e) => e.to === 'src/clock/event-queue.ts')?.typeOnly).toBe(true);
  });

  it('finds a circle and an upward import when there is one', () => {
    const made: Edge[] = [
      { from: 'src/tmpm/a.ts', to: 'src/tmpm/b.ts', typeOnly: false },
      { from: 'src/tmpm/b.ts', to: 'src/tmpm/c.ts', typeOnly: true },
      { from: 'src/tmpm/c.ts', to: 'src/tmpm/a.ts', typeOnly: false },
      { from: 'src/dma/d.ts', to: 'src/platform/e.ts', typeOnly: true },
      { from: 'src/rmp/f.ts', to: 'zod', typeOnly: false },
      { from: 'src/protocol/g.ts', to: 'zod', typeOnly: false },
      // observe/expose is a floor of its own, above protocol/.
      { from: 'src/observe/expose/h.ts', to: 'src/protocol/i.ts', typeOnly: false },
      { from: 'src/observe/j.ts', to: 'src/observe/expose/h.ts', typeOnly: false },
    ];
    expect(importCircles(made)).toEqual([['src/tmpm/a.ts', 'src/tmpm/b.ts', 'src/tmpm/c.ts']]);
    expect(ruleBreaks(made)).toEqual([
      'src/dma/d.ts imports src/platform/e.ts: platform/ is above dma/',
      'src/rmp/f.ts imports zod: only protocol/ and above may',
      'src/observe/j.ts imports src/observe/expose/h.ts: observe/expose/ is above observe/',
    ]);
  });

  it('has no import circle and no upward or wire import but the ones owed', () => {
    const found = [...(importCircles(edges) as string[][]).map((c) => `circle: ${c.join(' <-> ')}`), ...(ruleBreaks(edges) as string[])];
    expect(found.filter((f) => !KNOWN.has(f))).toEqual([]);
  });
});
