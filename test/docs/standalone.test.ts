/**
 * The repository stands alone: a clone has no ../shared, so nothing a user reads or
 * runs may point there (only .ci/run, which checks the vector copy, and the tests
 * may), and the two documents users start from cite docs/hardware.md, never the
 * design notes or the reference they came from. Nor do code comments cite the design
 * notes: a rule is cited where this repository writes it down (protocol/README.md,
 * docs/hardware.md, ARCHITECTURE.md, README.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/processes.js';

/** The design notes' file name, built so that this file does not mention it itself. */
const DESIGN_NOTES = ['DESIGN', 'md'].join('.');

function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\n').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

describe('the repository stands alone', () => {
  it('refers to ../shared nowhere outside .ci/run and test/', () => {
    const offenders = trackedFiles()
      .filter((f) => f !== '.ci/run' && !f.startsWith('test/') && f !== 'package-lock.json')
      .filter((f) => readFileSync(join(ROOT, f), 'utf8').includes('../shared'));
    expect(offenders).toEqual([]);
  });

  it.each(['README.md', 'protocol/README.md', 'protocol/openrpc.json'])('%s cites docs/hardware.md, not the design notes or another hardware.md', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    expect(text).not.toMatch(/DESIGN\.md|\/work\/shared|reference\/hardware\.md/);
    for (const m of text.matchAll(/[\w./-]*hardware\.md/g)) expect(m[0], file).toMatch(/(^|\/)docs\/hardware\.md$/);
  });

  it('cites the design notes nowhere in code, tests, examples or documentation', () => {
    const scanned = trackedFiles().filter((f) => /^(src|bench|examples|test|protocol|docs)\//.test(f) || f === 'README.md' || f === 'ARCHITECTURE.md');
    expect(scanned.length).toBeGreaterThan(100);
    const offenders: string[] = [];
    for (const f of scanned) {
      readFileSync(join(ROOT, f), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (line.includes(DESIGN_NOTES)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    // Cite protocol/README.md §N, docs/hardware.md §N or ARCHITECTURE.md instead.
    expect(offenders).toEqual([]);
  });

  it('has docs/hardware.md with the sections protocol/README.md cites', () => {
    const hw = readFileSync(join(ROOT, 'docs', 'hardware.md'), 'utf8');
    const contract = readFileSync(join(ROOT, 'protocol', 'README.md'), 'utf8');
    const headings = new Set([...hw.matchAll(/^#{2,3} (\d+(?:\.\d+)?)\. /gm)].map((m) => m[1]));
    const cited = [...contract.matchAll(/hw §(\d+(?:\.\d+)?)/g)].map((m) => m[1] as string);
    expect(cited.length).toBeGreaterThan(10);
    for (const section of cited) {
      const [major, minor] = section.split('.');
      // "hw §7.n" is open question n of section 7.
      if (major === '7' && minor !== undefined) expect(hw).toMatch(new RegExp(`^${minor}\\. `, 'm'));
      else expect(headings.has(section) || headings.has(major as string), `hw §${section}`).toBe(true);
    }
  });
});
