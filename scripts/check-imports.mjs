#!/usr/bin/env node
/**
 * The import rules of ARCHITECTURE.md, checked over src/: no import circle (type-only
 * imports count: a file pair that needs each other is one concept or a missing
 * interface), no import of a higher floor, and no `ws`, `json-rpc-2.0` or `zod` below
 * protocol/. Reads the import and export statements as text (no dependency).
 *
 *   node scripts/check-imports.mjs        prints what breaks a rule; exits 1 if any
 *
 * test/docs/architecture.test.ts runs the same checks in the suite.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * ARCHITECTURE.md's floors, lowest first: a folder may import its own floor and those
 * below. A sub-folder named here (observe/expose) is its own floor; any other belongs
 * to its top folder's.
 */
export const FLOORS = [['util'], ['clock', 'memory'], ['rmp', 'iommu'], ['dma'], ['observe', 'firmware', 'tmpm', 'psp'], ['platform'], ['protocol'], ['observe/expose'], ['rpc', 'experiment'], ['client', 'cli']];
/** Folders that must not import the wire libraries. */
export const DOMAIN = ['util', 'clock', 'memory', 'rmp', 'iommu', 'dma', 'observe', 'firmware', 'tmpm', 'psp', 'platform'];
const WIRE_LIBRARIES = ['ws', 'json-rpc-2.0', 'zod'];

const STATIC = /(?:^|[;\n}])\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s*['"]([^'"]+)['"]/g;
const BARE = /(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Comments blanked (their imports are not imports); strings kept. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/[^\n]*/g, '$1');
}

/**
 * Every import of every file under `root`/src: `{ from, to, typeOnly }` with `to` a
 * path relative to the root for a relative import, or the package name.
 */
export function importEdges(root = ROOT) {
  const edges = [];
  for (const file of sourceFiles(join(root, 'src'))) {
    const from = relative(root, file);
    const text = stripComments(readFileSync(file, 'utf8'));
    const add = (spec, typeOnly) => {
      let to = spec;
      if (spec.startsWith('.'))
        to = relative(root, resolve(dirname(file), spec))
          .replace(/\.js$/, '.ts')
          .replace(/\.mjs$/, '.mjs');
      edges.push({ from, to, typeOnly });
    };
    for (const m of text.matchAll(STATIC)) {
      const clause = m[3] ?? '';
      // `import { type A, type B }` is type-only too.
      const allTypes =
        m[2] !== undefined ||
        (/^\{[^}]*\}$/.test(clause.trim()) &&
          clause
            .replace(/[{}\s]/g, '')
            .split(',')
            .filter(Boolean)
            .every((n) => n.startsWith('type')));
      add(m[4], allTypes);
    }
    for (const m of text.matchAll(BARE)) add(m[1], false);
    for (const m of text.matchAll(DYNAMIC)) add(m[1], false);
  }
  return edges;
}

/** The import circles among src's files: each a list of files, every one importing the next (the last the first). */
export function importCircles(edges) {
  const next = new Map();
  for (const e of edges) {
    if (!e.to.startsWith('src/')) continue;
    if (!next.has(e.from)) next.set(e.from, new Set());
    next.get(e.from).add(e.to);
  }
  // Tarjan's strongly connected components; each component of more than one file holds a circle.
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const circles = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)?.has(v)) circles.push(component.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!idx.has(v)) visit(v);
  return circles;
}

/** The floor's folder of a file under src/: its sub-folder when FLOORS names it, else its top folder. */
function folderOf(path) {
  const m = /^src\/([^/]+)\/(?:([^/]+)\/)?/.exec(path);
  if (m === null) return undefined;
  const sub = m[2] === undefined ? undefined : `${m[1]}/${m[2]}`;
  return sub !== undefined && floorOf(sub) >= 0 ? sub : m[1];
}

function floorOf(folder) {
  return FLOORS.findIndex((f) => f.includes(folder));
}

/** Imports of a higher floor, and wire libraries imported below protocol/: one line each. */
export function ruleBreaks(edges) {
  const out = [];
  for (const e of edges) {
    const from = folderOf(e.from);
    if (from === undefined) continue;
    if (e.to.startsWith('src/')) {
      const to = folderOf(e.to);
      const a = floorOf(from);
      const b = floorOf(to);
      if (a >= 0 && b > a) out.push(`${e.from} imports ${e.to}: ${to}/ is above ${from}/`);
    } else if (DOMAIN.includes(from) && WIRE_LIBRARIES.some((l) => e.to === l || e.to.startsWith(`${l}/`))) {
      out.push(`${e.from} imports ${e.to}: only protocol/ and above may`);
    }
  }
  return out;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const edges = importEdges();
  const circles = importCircles(edges);
  const breaks = ruleBreaks(edges);
  for (const c of circles) console.log(`circle: ${c.join(' <-> ')}`);
  for (const b of breaks) console.log(b);
  console.log(`${new Set(edges.map((e) => e.from)).size} files, ${edges.length} imports: ${circles.length} circles, ${breaks.length} upward or wire imports`);
  process.exit(circles.length + breaks.length === 0 ? 0 : 1);
}
