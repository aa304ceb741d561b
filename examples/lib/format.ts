/**
 * Printing for the examples: aligned tables, hex, and time in the unit a reader
 * expects. Numbers are right-aligned, text left-aligned.
 */

export type Cell = string | number | bigint | boolean | null | undefined;

/** Prints `rows` under `headers`, columns padded to their widest cell. */
export function printTable(headers: readonly string[], rows: readonly (readonly Cell[])[], indent = '  '): void {
  const text = rows.map((r) => r.map(cellText));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((r) => isNumeric(r[c])));
  const widths = headers.map((h, c) => Math.max(h.length, ...text.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    indent +
    cells
      .map((cell, c) => (numeric[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of text) console.log(line(r));
}

function cellText(v: Cell): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(1);
  return String(v);
}

function isNumeric(v: Cell): boolean {
  return typeof v === 'number' || typeof v === 'bigint' || v === null || v === undefined || (typeof v === 'string' && /^[-+]?[\d,.]+( ?[a-zA-Z%]+)?$/.test(v));
}

/** A section heading. */
export function heading(title: string): void {
  console.log(`\n== ${title}`);
}

/** One step: what was done, and (indented) why or what it means. */
export function step(what: string, why?: string): void {
  console.log(`- ${what}`);
  if (why !== undefined) console.log(`    ${why}`);
}

/** `0x...` of a number or bigint, lowercase (as the wire writes it). */
export function hex(v: number | bigint): string {
  return '0x' + v.toString(16);
}

/** ns as microseconds with one decimal: 2068606 -> "2,068.6". */
export function us(ns: number): string {
  return (ns / 1000).toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

/** A byte count in KiB/MiB/GiB/TiB when exact, else bytes. */
export function bytes(n: number): string {
  for (const [unit, size] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} B`;
}
