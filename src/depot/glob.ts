/** True when a search term holds a shell wildcard (`*`, `?` or `[...]`). */
export function hasWildcard(term: string): boolean {
  return /[*?[]/.test(term);
}

/** True when a term is nothing but `*` and `?`: it matches every token. */
export function onlyWildcards(term: string): boolean {
  return !/[^*?]/.test(term);
}

/** A class (`[...]`): its ranges, compared with the (folded) character. */
interface CharClass {
  negate: boolean;
  ranges: Array<[string, string]>;
}

/** What a position of a run matches. */
const LITERAL = 0;
const ANY = 1;
const CLASS = 2;

/**
 * A run of fixed length between stars, kept as character codes so that a test allocates nothing:
 * for a literal, the code and the code of its other case (case-blind patterns).
 */
interface Run {
  kinds: Uint8Array;
  codes: Int32Array;
  otherCase: Int32Array;
  /** The literal as written (lower case when case-blind), for the rare character outside ASCII. */
  text: string[];
  classes: Array<CharClass | null>;
  length: number;
}

/**
 * The bit of a character in a character mask: letters fold their case, digits and the rest share
 * a few bits. A token's mask holds the bit of each of its characters, so a pattern whose own mask
 * is not within a token's cannot match it.
 */
export function charBit(code: number): number {
  if (code >= 65 && code <= 90) return 1 << (code - 65);
  if (code >= 97 && code <= 122) return 1 << (code - 97);
  if (code >= 48 && code <= 57) return 1 << (26 + (code % 3));
  return 1 << (29 + (code % 3));
}

/** The character mask of a text (see charBit). */
export function charMask(text: string): number {
  let mask = 0;
  for (let i = 0; i < text.length; i++) mask |= charBit(text.charCodeAt(i));
  return mask;
}

function compileRun(atoms: Array<string | null | CharClass>, caseSensitive: boolean): Run {
  const run: Run = { kinds: new Uint8Array(atoms.length), codes: new Int32Array(atoms.length), otherCase: new Int32Array(atoms.length), text: [], classes: [], length: atoms.length };
  atoms.forEach((atom, k) => {
    run.text.push(typeof atom === 'string' ? atom : '');
    run.classes.push(atom !== null && typeof atom !== 'string' ? atom : null);
    if (atom === null) run.kinds[k] = ANY;
    else if (typeof atom !== 'string') run.kinds[k] = CLASS;
    else {
      run.codes[k] = atom.charCodeAt(0);
      const upper = atom.toUpperCase();
      run.otherCase[k] = !caseSensitive && upper.length === 1 ? upper.charCodeAt(0) : run.codes[k]!;
    }
  });
  return run;
}

/**
 * A shell pattern (Python fnmatch's rules for `*`, `?` and `[...]`), matched without regular
 * expressions: the pattern is cut at its stars into runs of fixed length, and each run is placed
 * at its leftmost fit. Nothing is ever retried, so a match costs at most the text's length times
 * the pattern's, whatever the pattern (a backtracking regular expression can take exponential time).
 */
export class Glob {
  /** The runs between stars; a pattern without a star is a single run. */
  private readonly runs: Run[];
  private readonly starred: boolean;
  /** The fewest characters a matching text has: the runs' lengths together. */
  readonly minLength: number;
  /** The character mask (see charBit) every matching text's mask holds. */
  readonly requiredMask: number;
  /** The literal characters every matching text begins with (lower case when case-blind). */
  readonly literalPrefix: string;

  /** `classes: false` reads `[` as itself, for names where brackets are not pattern syntax. */
  constructor(
    pattern: string,
    private readonly caseSensitive: boolean,
    classes = true,
  ) {
    const p = caseSensitive ? pattern : pattern.toLowerCase();
    const atoms: Array<Array<string | null | CharClass>> = [[]];
    for (let i = 0; i < p.length; i++) {
      const c = p[i]!;
      const run = atoms[atoms.length - 1]!;
      if (c === '*') {
        atoms.push([]);
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
    this.runs = atoms.map((run) => compileRun(run, caseSensitive));
    this.starred = this.runs.length > 1;
    this.minLength = this.runs.reduce((n, run) => n + run.length, 0);
    const literals = atoms.flat().filter((atom): atom is string => typeof atom === 'string');
    this.requiredMask = charMask(literals.join(''));
    const first = atoms[0]!;
    const fixed = first.findIndex((atom) => typeof atom !== 'string');
    this.literalPrefix = (fixed < 0 ? first : first.slice(0, fixed)).join('');
  }

  /** Characters are compared by code, folded one at a time: most tokens are refused by their first or last. */
  private fits(run: Run, text: string, at: number): boolean {
    for (let k = 0; k < run.length; k++) {
      const kind = run.kinds[k]!;
      if (kind === ANY) continue;
      const c = text.charCodeAt(at + k);
      if (kind === LITERAL) {
        if (c === run.codes[k] || c === run.otherCase[k]) continue;
        // Outside ASCII a character's lower case may still be the pattern's (K, the Kelvin sign).
        if (this.caseSensitive || c < 128 || text[at + k]!.toLowerCase() !== run.text[k]) return false;
        continue;
      }
      const folded = this.caseSensitive ? text[at + k]! : text[at + k]!.toLowerCase();
      const cls = run.classes[k]!;
      if (cls.ranges.some(([from, to]) => folded >= from && folded <= to) === cls.negate) return false;
    }
    return true;
  }

  test(text: string): boolean {
    if (text.length < this.minLength) return false;
    const first = this.runs[0]!;
    if (!this.starred) return text.length === first.length && this.fits(first, text, 0);
    const last = this.runs[this.runs.length - 1]!;
    const end = text.length - last.length;
    if (!this.fits(first, text, 0) || !this.fits(last, text, end)) return false;
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
