/** True when a search term holds a shell wildcard (`*`, `?` or `[...]`). */
export function hasWildcard(term: string): boolean {
  return /[*?[]/.test(term);
}

/** True when a term is nothing but `*` and `?`: it matches every token. */
export function onlyWildcards(term: string): boolean {
  return !/[^*?]/.test(term);
}

/** One position of a pattern: a character, any character (`?`), or a class (`[...]`). */
type Atom = string | null | { negate: boolean; ranges: Array<[string, string]> };

function atomMatches(atom: Atom, c: string): boolean {
  if (atom === null) return true;
  if (typeof atom === 'string') return atom === c;
  return atom.ranges.some(([from, to]) => c >= from && c <= to) !== atom.negate;
}

/**
 * A shell pattern (Python fnmatch's rules for `*`, `?` and `[...]`), matched without regular
 * expressions: the pattern is cut at its stars into runs of fixed length, and each run is placed
 * at its leftmost fit. Nothing is ever retried, so a match costs at most the text's length times
 * the pattern's, whatever the pattern (a backtracking regular expression can take exponential time).
 */
export class Glob {
  /** The runs between stars; a pattern without a star is a single run. */
  private readonly runs: Atom[][];
  private readonly starred: boolean;

  /** `classes: false` reads `[` as itself, for names where brackets are not pattern syntax. */
  constructor(
    pattern: string,
    private readonly caseSensitive: boolean,
    classes = true,
  ) {
    const p = caseSensitive ? pattern : pattern.toLowerCase();
    this.runs = [[]];
    for (let i = 0; i < p.length; i++) {
      const c = p[i]!;
      const run = this.runs[this.runs.length - 1]!;
      if (c === '*') {
        this.runs.push([]);
        continue;
      }
      if (c === '?') {
        run.push(null);
        continue;
      }
      if (c === '[' && classes) {
        let j = i + 1;
        if (p[j] === '!') j++;
        if (p[j] === ']') j++;
        while (j < p.length && p[j] !== ']') j++;
        if (j < p.length) {
          const negate = p[i + 1] === '!';
          const body = p.slice(negate ? i + 2 : i + 1, j);
          const ranges: Array<[string, string]> = [];
          for (let k = 0; k < body.length; k++) {
            if (body[k + 1] === '-' && k + 2 < body.length) {
              ranges.push([body[k]!, body[k + 2]!]);
              k += 2;
            } else ranges.push([body[k]!, body[k]!]);
          }
          run.push({ negate, ranges });
          i = j;
          continue;
        }
      }
      run.push(c);
    }
    this.starred = this.runs.length > 1;
  }

  /** Characters are folded one at a time, as compared: most tokens are refused by their first or last. */
  private fits(run: Atom[], text: string, at: number): boolean {
    for (let k = 0; k < run.length; k++) {
      const c = text[at + k]!;
      if (!atomMatches(run[k]!, this.caseSensitive ? c : c.toLowerCase())) return false;
    }
    return true;
  }

  test(text: string): boolean {
    const first = this.runs[0]!;
    if (!this.starred) return text.length === first.length && this.fits(first, text, 0);
    const last = this.runs[this.runs.length - 1]!;
    const end = text.length - last.length;
    if (end < first.length || !this.fits(first, text, 0) || !this.fits(last, text, end)) return false;
    let at = first.length;
    for (let r = 1; r < this.runs.length - 1; r++) {
      const run = this.runs[r]!;
      while (at + run.length <= end && !this.fits(run, text, at)) at++;
      if (at + run.length > end) return false;
      at += run.length;
    }
    return true;
  }
}
