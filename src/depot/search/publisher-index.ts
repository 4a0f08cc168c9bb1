import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { charMask } from '../glob';
import type { Repository } from '../repository';

/** Where a token occurs: one package, one (action type, key, shown value), its manifest lines. */
export interface Posting {
  fmri: number;
  actionType: string;
  key: string;
  value: string;
  /** Byte offsets of the matching lines in the package's manifest. */
  offsets: number[];
}

/** Bumped whenever the stored form changes, so an old file is rebuilt, never misread. */
const FORMAT = 3;

/** Separates a token from its posting on a line of the token table: below every printable byte. */
export const SEPARATOR = '\x01';

let indexesMade = 0;

/**
 * The inverted index of one publisher of one repository, kept on disk and read as queries need
 * it. The token table is a file of lines `token SEPARATOR [package, action type, key, value,
 * offsets...]`, sorted by token; in memory are only the packages (`stem@version`, ascending), the
 * distinct tokens in order and where each one's lines begin in the table.
 */
export class PublisherIndex {
  /** Token numbers ordered by their lower-case form, made at the first case-blind query. */
  private byLowerCase: Int32Array | null = null;
  /** Each token's character mask (see charMask), made at the first pattern query. */
  private masks: Uint32Array | null = null;
  /** Unique to this index in this process: what was answered from it is told from a newer index's answers. */
  readonly id = ++indexesMade;

  constructor(
    readonly source: string,
    readonly fmris: string[],
    /** The distinct tokens, in the table's order. */
    readonly sortedTokens: string[],
    /** Byte offset of each token's first line in the table; one more entry: the table's length. */
    private readonly starts: number[],
    /** The token table's path. */
    readonly table: string,
  ) {}

  /** The number of a token in sortedTokens, or -1. */
  private find(token: string): number {
    let lo = 0;
    let hi = this.sortedTokens.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.sortedTokens[mid]!;
      if (t === token) return mid;
      if (byteOrder(t, token) < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  has(token: string): boolean {
    return this.find(token) >= 0;
  }

  private lowerCaseOrder(): Int32Array {
    if (!this.byLowerCase) {
      const lower = this.sortedTokens.map((t) => t.toLowerCase());
      const order = Int32Array.from(lower.keys());
      order.sort((x, y) => byCodePoint(lower[x]!, lower[y]!));
      this.byLowerCase = order;
    }
    return this.byLowerCase;
  }

  /**
   * The numbers of the tokens that begin with `prefix` (ignoring case unless `caseSensitive`):
   * a range of one of the two orders, found by a binary search.
   */
  withPrefix(prefix: string, caseSensitive: boolean): Int32Array {
    const n = this.sortedTokens.length;
    if (caseSensitive) {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (byteOrder(this.sortedTokens[mid]!, prefix) < 0) lo = mid + 1;
        else hi = mid;
      }
      let end = lo;
      while (end < n && this.sortedTokens[end]!.startsWith(prefix)) end++;
      return Int32Array.from({ length: end - lo }, (_, i) => lo + i);
    }
    const order = this.lowerCaseOrder();
    const wanted = prefix.toLowerCase();
    const lowerAt = (i: number) => this.sortedTokens[order[i]!]!.toLowerCase();
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (byCodePoint(lowerAt(mid), wanted) < 0) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < n && lowerAt(end).startsWith(wanted)) end++;
    return order.subarray(lo, end);
  }

  /** Tokens equal to `term` ignoring case: the common query, found by a binary search. */
  caseInsensitive(term: string): string[] {
    const wanted = term.toLowerCase();
    return [...this.withPrefix(term, false)].map((i) => this.sortedTokens[i]!).filter((t) => t.toLowerCase() === wanted);
  }

  /** The character mask of every token, in token order: a pattern skips most tokens on it alone. */
  charMasks(): Uint32Array {
    this.masks ??= Uint32Array.from(this.sortedTokens, charMask);
    return this.masks;
  }

  /**
   * The postings of these tokens, read from the table; tokens next to each other in the table
   * are read in one go. A table that vanished (replaced by a newer index) yields nothing.
   */
  async postings(tokens: string[]): Promise<Map<string, Posting[]>> {
    const numbers = tokens.map((t) => this.find(t)).filter((n) => n >= 0).sort((x, y) => x - y);
    const out = new Map<string, Posting[]>();
    if (numbers.length === 0) return out;
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.table, 'r');
    } catch {
      return out;
    }
    try {
      for (let i = 0; i < numbers.length; ) {
        let j = i;
        while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
        const from = this.starts[numbers[i]!]!;
        const length = this.starts[numbers[j]! + 1]! - from;
        const block = Buffer.allocUnsafe(length);
        await handle.read(block, 0, length, from);
        for (const line of block.toString('utf8').split('\n')) {
          const cut = line.indexOf(SEPARATOR);
          if (cut < 0) continue;
          const token = line.slice(0, cut);
          const [fmri, actionType, key, value, ...offsets] = JSON.parse(line.slice(cut + 1)) as [number, string, string, string, ...number[]];
          let list = out.get(token);
          if (!list) out.set(token, (list = []));
          list.push({ fmri, actionType, key, value, offsets });
        }
        i = j + 1;
      }
    } finally {
      await handle.close();
    }
    return out;
  }

  /** The dictionary: everything but the table, which stays where it is. */
  toJSON(): unknown {
    return { format: FORMAT, source: this.source, fmris: this.fmris, table: path.basename(this.table), tokens: this.sortedTokens, starts: this.starts };
  }

  /** The index a dictionary file describes; its table lies beside it. */
  static fromJSON(data: unknown, dir: string): PublisherIndex | null {
    const d = data as { format?: number; source?: string; fmris?: string[]; table?: string; tokens?: string[]; starts?: number[] };
    if (d?.format !== FORMAT || typeof d.source !== 'string' || !Array.isArray(d.fmris) || typeof d.table !== 'string' || !Array.isArray(d.tokens) || !Array.isArray(d.starts)) return null;
    if (d.starts.length !== d.tokens.length + 1 || !fs.existsSync(path.join(dir, d.table))) return null;
    return new PublisherIndex(d.source, d.fmris, d.tokens, d.starts, path.join(dir, d.table));
  }
}

/**
 * A UTF-16 code unit's place in code point order: surrogates (characters past U+FFFF) come after
 * U+E000–U+FFFF, which they precede as code units.
 */
const codePointRank = (unit: number) => (unit >= 0xd800 && unit < 0xe000 ? unit + 0x2000 : unit >= 0xe000 ? unit - 0x800 : unit);

/**
 * The order of the table: UTF-8 bytes, as `sort` with LC_ALL=C orders lines. UTF-8 keeps code
 * point order, so the strings are compared where they first differ, with no encoding (a lookup
 * compares about 17 times).
 */
export function byteOrder(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

export const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What the index of a publisher was built from: the catalog's attributes, byte for byte. */
export async function catalogSource(repo: Repository, pub: string): Promise<string> {
  const attrs = path.join(repo.root, 'publisher', pub, 'catalog', 'catalog.attrs');
  const data = await fs.promises.readFile(attrs).catch(() => Buffer.alloc(0));
  return crypto.createHash('sha1').update(data).digest('hex');
}
