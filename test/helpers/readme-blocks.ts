/** The fenced code blocks of one README section, in order, so a test can hold them to the files and outputs they show. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.js';

export interface Block {
  lang: string;
  body: string;
}

/** Blocks of the section whose heading line is exactly `heading` (e.g. "## From C"), up to the next "## ". */
export function readmeBlocks(heading: string): Block[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = text.indexOf(`\n${heading}\n`);
  if (from < 0) throw new Error(`README.md has no section "${heading}"`);
  const next = text.indexOf('\n## ', from + heading.length + 2);
  const section = text.slice(from, next < 0 ? text.length : next);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] as string, body: m[2] as string }));
}

/** The `gcc ...` lines of a section's sh blocks. */
export function commandLines(blocks: Block[], program: string): string[] {
  return blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.body.split('\n').filter((l) => l.startsWith(`${program} `)));
}
