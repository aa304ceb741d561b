/**
 * The names nearest to a misspelt one ("did you mean ..."): for an unknown method
 * (`emu.inf` -> `emu.info`) and an unknown key (`stallModle` -> `stallModel`).
 * Edit distance (Levenshtein, case-insensitive) up to a third of the name's length
 * (at least 2), and names the input is a prefix of, closest first.
 */

/** At most `max` candidates near `input`, closest first; [] when none is close. */
export function nearestNames(input: string, candidates: Iterable<string>, max = 3): string[] {
  const needle = input.toLowerCase();
  const limit = Math.max(2, Math.floor(needle.length / 3));
  const scored: Array<{ name: string; score: number }> = [];
  for (const name of candidates) {
    const hay = name.toLowerCase();
    if (hay === needle && name !== input) {
      scored.push({ name, score: 0 });
      continue;
    }
    const d = editDistance(needle, hay, limit);
    // A prefix of a longer name (`tmpm.psmash` -> `tmpm.psmashIo`) is as good as one edit.
    if (d <= limit) scored.push({ name, score: d });
    else if (needle.length >= 3 && hay.startsWith(needle)) scored.push({ name, score: 1 });
  }
  scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name));
  return scored.slice(0, max).map((s) => s.name);
}

/** Levenshtein distance, or limit + 1 as soon as it is known to exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      const v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      row.push(v);
      if (v < best) best = v;
    }
    if (best > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length] as number;
}

/** '; did you mean "a" or "b"?' or '' when there is nothing near. */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const near = nearestNames(input, candidates);
  return near.length === 0 ? '' : `; did you mean ${near.map((n) => JSON.stringify(n)).join(' or ')}?`;
}
