import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readCached } from '../cached-read';
import { charMask } from '../glob';
import type { Repository } from '../repository';

/** Where a token occurs: one package, one (action type, key, shown value), its manifest lines. */
export interface Posting {
  fmri: number;
  actionType: string;
  key: string;
  value: string;
  /** The manifest lines the token comes from, as they are in the manifest. */
  lines: string[];
}

/** Bumped whenever the stored form changes, so an old file is rebuilt, never misread. */
export const FORMAT = 5;

/** Separates the fields of a line of the token table: below every printable byte. */
export const SEPARATOR = '\x01';
/** Begins an escaped byte in a field: the separator, itself or a newline follow as 1, 2 or n. */
const ESCAPE = '\x02';
const ESCAPED: Record<string, string> = { '\x01': '\x021', '\x02': '\x022', '\n': '\x02n' };
const UNESCAPED: Record<string, string> = { '1': '\x01', '2': '\x02', n: '\n' };

/** A field as the table keeps it: no separator or newline left in it (a manifest may hold any byte). */
export const escapeField = (field: string) => (/[\x01\x02\n]/.test(field) ? field.replace(/[\x01\x02\n]/g, (c) => ESCAPED[c]!) : field);
const unescapeField = (field: string) => field.replace(/\x02([12n])/g, (_, c: string) => UNESCAPED[c]!);

/**
 * A line of the token table: `token SEP package SEP action type SEP key SEP value SEP line
 * [SEP line...]`, the package by its number. The manifest lines themselves are kept, so an
 * answer needs no manifest read.
 */
export function tableLine(token: string, fmri: number, actionType: string, key: string, value: string, lines: string[]): string {
  let out = `${token}${SEPARATOR}${fmri}${SEPARATOR}${escapeField(actionType)}${SEPARATOR}${escapeField(key)}${SEPARATOR}${escapeField(value)}`;
  for (const line of lines) out += `${SEPARATOR}${escapeField(line)}`;
  return `${out}\n`;
}

const NO_LINES: string[] = [];

/** Reads the lines of a block of the table into `out`, by token; without `withLines`, value and lines stay empty. */
function decodeBlock(text: string, out: Map<string, Posting[]>, withLines: boolean): void {
  const escaped = text.includes(ESCAPE);
  const field = (from: number, to: number) => (escaped ? unescapeField(text.slice(from, to)) : text.slice(from, to));
  // The token, type, key and value of a line are often those of the line before: taken from it, not sliced anew.
  const again = (previous: string, from: number, to: number) => !escaped && to - from === previous.length && text.startsWith(previous, from);
  let list: Posting[] | undefined;
  let listToken = '';
  let actionType = '';
  let key = '';
  let previousValue = '';
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const cut = text.indexOf(SEPARATOR, start);
    if (cut > start && cut < end) {
      if (list === undefined || !again(listToken, start, cut)) {
        listToken = text.slice(start, cut);
        list = out.get(listToken);
        if (!list) out.set(listToken, (list = []));
      }
      let fmri = 0;
      let at = cut + 1;
      for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at)) fmri = fmri * 10 + c - 48;
      const typeEnd = text.indexOf(SEPARATOR, at + 1);
      const keyEnd = text.indexOf(SEPARATOR, typeEnd + 1);
      let value = '';
      let lines = NO_LINES;
      if (withLines) {
        let valueEnd = text.indexOf(SEPARATOR, keyEnd + 1);
        if (valueEnd < 0 || valueEnd > end) valueEnd = end;
        value = again(previousValue, keyEnd + 1, valueEnd) ? previousValue : (previousValue = field(keyEnd + 1, valueEnd));
        lines = [];
        for (let from = valueEnd + 1; from < end; ) {
          let to = text.indexOf(SEPARATOR, from);
          if (to < 0 || to > end) to = end;
          lines.push(field(from, to));
          from = to + 1;
        }
      }
      if (!again(actionType, at + 1, typeEnd)) actionType = field(at + 1, typeEnd);
      if (!again(key, typeEnd + 1, keyEnd)) key = field(typeEnd + 1, keyEnd);
      list.push({ fmri, actionType, key, value, lines });
    }
    start = end + 1;
  }
}

/** The most of the table turned into one string at a time (see decodeInPieces). */
const DECODE_PIECE = 64 << 10;

/** Decodes a block of whole lines in pieces of whole lines: V8 makes a string past about 128 KiB tens of times slower. */
function decodeInPieces(block: Buffer, out: Map<string, Posting[]>, withLines: boolean): void {
  for (let at = 0; at < block.length; ) {
    let end = at + DECODE_PIECE >= block.length ? block.length : block.lastIndexOf(10, at + DECODE_PIECE) + 1;
    if (end <= at) end = block.indexOf(10, at + DECODE_PIECE) + 1 || block.length;
    decodeBlock(block.toString('utf8', at, end), out, withLines);
    at = end;
  }
}

/** The most of the table one read takes (unless one token's lines are longer): tokens next to each other are read in slices of it. */
const READ_SLICE = 256 << 10;

/** A table that is no longer there. */
const GONE = Symbol('gone');
/** The most the buffer that table reads share may keep between reads; longer reads have their own. */
const TABLE_SCRATCH_KEPT = 1 << 20;
let tableScratch = Buffer.allocUnsafe(64 << 10);

let indexesMade = 0;

/** The package table beside a token table: the same lines, a package's together, in the order the packages were read. */
export const packageTableOf = (table: string) => table.replace(/\.tokens$/, '.packages');

/** One table file of an index, open while the index is in use, closed after its last read once the index is retired. */
class TableFile {
  private fd: number | null = null;
  /** Reads under way in the thread pool, and readers holding the file open (see hold): the file is closed after the last. */
  private poolReads = 0;
  private holds = 0;
  private retired = false;

  constructor(readonly file: string) {}

  /**
   * `length` bytes at `from`: from the page cache on the serving thread when it holds them, into a
   * buffer shared by every table (to be used before anything else runs), else through the thread
   * pool into a buffer of their own; null when the table is gone (replaced by a newer index).
   * Bytes from the page cache come back at once, not as a promise: a turn of the microtask queue
   * in between would let another read overwrite the shared buffer.
   */
  read(from: number, length: number): Buffer | null | Promise<Buffer | null> {
    const cached = this.readCached(from, length);
    if (cached === GONE) return null;
    return cached ?? this.readThroughPool(from, length);
  }

  /** The table, opened at its first read; null when it is gone. */
  private open(): number | null {
    if (this.fd === null) {
      try {
        this.fd = fs.openSync(this.file, 'r');
      } catch {
        return null;
      }
    }
    return this.fd;
  }

  /** The bytes when the page cache holds them; null when the disk would have to be read; GONE when the table is. */
  private readCached(from: number, length: number): Buffer | null | typeof GONE {
    const fd = this.open();
    if (fd === null) return GONE;
    if (length > tableScratch.length && length <= TABLE_SCRATCH_KEPT) tableScratch = Buffer.allocUnsafe(Math.min(Math.max(length, 2 * tableScratch.length), TABLE_SCRATCH_KEPT));
    // The whole shared buffer is passed, not a view of it: readCached keeps what it needs per buffer.
    const target = length <= tableScratch.length ? tableScratch : Buffer.allocUnsafe(length);
    const read = readCached(fd, target, length, from);
    const answer = read === length ? target.subarray(0, length) : read === 0 ? GONE : null;
    this.closeIfRetired();
    return answer;
  }

  private async readThroughPool(from: number, length: number): Promise<Buffer | null> {
    const fd = this.open();
    if (fd === null) return null;
    const block = Buffer.allocUnsafe(length);
    this.poolReads++;
    try {
      for (let got = 0; got < length; ) {
        const read = await new Promise<number>((resolve) => fs.read(fd, block, got, length - got, from + got, (err, n) => resolve(err ? 0 : n)));
        if (read === 0) return null;
        got += read;
      }
      return block;
    } finally {
      this.poolReads--;
      this.closeIfRetired();
    }
  }

  retire(): void {
    this.retired = true;
    this.closeIfRetired();
  }

  /**
   * Keeps the file open until `release`, retired or not: a reader of many slices goes on reading the
   * table it began with when a newer index replaces it and its file is removed. False when the table is gone.
   */
  hold(): boolean {
    if (this.open() === null) return false;
    this.holds++;
    return true;
  }

  release(): void {
    this.holds--;
    this.closeIfRetired();
  }

  private closeIfRetired(): void {
    if (!this.retired || this.poolReads > 0 || this.holds > 0 || this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * The inverted index of one publisher of one repository, kept on disk and read as queries need
 * it. The token table is a file of lines (see tableLine) sorted by token; in memory are only the
 * packages (`stem@version`, ascending), the distinct tokens in order and where each one's lines
 * begin in the table.
 */
export class PublisherIndex {
  /** Token numbers ordered by their lower-case form, made at the first case-blind query. */
  private byLowerCase: Int32Array | null = null;
  /** Each token's character mask (see charMask), made at the first pattern query. */
  private masks: Uint32Array | null = null;
  /** Unique to this index in this process: what was answered from it is told from a newer index's answers. */
  readonly id = ++indexesMade;
  /** The token table, open while the index is in use. */
  private readonly tokenFile: TableFile;
  /** The package table, open from the first query that reads it. */
  private readonly packageFile: TableFile;

  constructor(
    readonly source: string,
    readonly fmris: string[],
    /** The distinct tokens, in the table's order. */
    readonly sortedTokens: string[],
    /** Byte offset of each token's first line in the table; one more entry: the table's length. */
    private readonly starts: number[],
    /** The token table's path. */
    readonly table: string,
    /** Byte offset of each package's lines in the package table (by package number); one more entry: its length. */
    private readonly packageStarts: number[],
  ) {
    this.tokenFile = new TableFile(table);
    this.packageFile = new TableFile(packageTableOf(table));
  }

  /** The number of a token in sortedTokens, or -1. */
  find(token: string): number {
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

  /** Each package's place among the packages in code point order of their names, made at the first package query. */
  private rankOf: Int32Array | null = null;
  /** The packages in that order. */
  private byRank: Int32Array | null = null;

  /** The names of these packages (by number; repeats allowed), each once, in code point order. */
  names(fmris: Iterable<number>): string[] {
    const rankOf = this.ranks();
    const seen = new Uint8Array(this.fmris.length);
    const ranks: number[] = [];
    for (const fmri of fmris) {
      if (seen[fmri]) continue;
      seen[fmri] = 1;
      ranks.push(rankOf[fmri]!);
    }
    const sorted = Int32Array.from(ranks).sort();
    return Array.from(sorted, (rank) => this.fmris[this.byRank![rank]!]!);
  }

  /** A package's place in code point order of the names: hits are sorted by it without comparing names. */
  rank(fmri: number): number {
    return this.ranks()[fmri]!;
  }

  private ranks(): Int32Array {
    if (!this.rankOf) {
      const order = Int32Array.from(this.fmris.keys()).sort((x, y) => byCodePoint(this.fmris[x]!, this.fmris[y]!));
      const rankOf = new Int32Array(order.length);
      order.forEach((fmri, rank) => (rankOf[fmri] = rank));
      [this.rankOf, this.byRank] = [rankOf, order];
    }
    return this.rankOf;
  }

  /** The numbers of the tokens equal to `term` ignoring case: the common query, found by a binary search. */
  caseInsensitive(term: string): number[] {
    const wanted = term.toLowerCase();
    return [...this.withPrefix(term, false)].filter((i) => this.sortedTokens[i]!.toLowerCase() === wanted);
  }

  /** The character mask of every token, in token order: a pattern skips most tokens on it alone. */
  charMasks(): Uint32Array {
    this.masks ??= Uint32Array.from(this.sortedTokens, charMask);
    return this.masks;
  }

  /**
   * The postings of these tokens (by number), read from the table; tokens next to each other in the table
   * are read together, READ_SLICE at a time. A table that vanished (replaced by a newer index)
   * yields nothing.
   * `withLines` false leaves out what only actions need: the shown value and the lines.
   */
  async postings(tokens: number[], withLines = true): Promise<Map<string, Posting[]>> {
    const numbers = [...tokens].sort((x, y) => x - y);
    const out = new Map<string, Posting[]>();
    let sinceTurn = 0;
    for (let i = 0; i < numbers.length; ) {
      // Other requests get a turn between slices: reads and decoding take no turns of their own.
      if (sinceTurn >= READ_SLICE) {
        await new Promise((resolve) => setImmediate(resolve));
        sinceTurn = 0;
      }
      const from = this.starts[numbers[i]!]!;
      let j = i;
      while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1 && this.starts[numbers[j + 1]! + 1]! - from <= READ_SLICE) j++;
      const length = this.starts[numbers[j]! + 1]! - from;
      // Decoded right after the read, with no wait between: the buffer is shared.
      // Decoded right after the read, with no wait between: the buffer is shared.
      const read = this.tokenFile.read(from, length);
      const block = read instanceof Promise ? await read : read;
      if (!block) return new Map();
      decodeInPieces(block, out, withLines);
      sinceTurn += length;
      i = j + 1;
    }
    return out;
  }

  /** Bytes of the token table these tokens' lines take (by number): what a query on them would read. */
  tableBytes(tokens: number[] | 'all'): number {
    if (tokens === 'all') return this.starts[this.starts.length - 1]!;
    let bytes = 0;
    for (const n of tokens) bytes += this.starts[n + 1]! - this.starts[n]!;
    return bytes;
  }

  /**
   * Every package's postings, a package at a time in rank order (code point order of the names)
   * from rank `fromRank` on, read from the package table a slice at a time: `visit` gets the
   * packages of one slice, decoded, and says whether to go on. Only a slice is held at once (or
   * one package, when it alone is larger). Resolves false when the table is gone; the table is
   * held open meanwhile, so an index replaced during the reading is read to its end.
   */
  async eachPackage(visit: (slice: Array<{ fmri: number; postings: Map<string, Posting[]> }>) => Promise<boolean>): Promise<boolean> {
    if (!this.packageFile.hold()) return false;
    try {
      return await this.eachPackageHeld(visit);
    } finally {
      this.packageFile.release();
    }
  }

  private async eachPackageHeld(visit: (slice: Array<{ fmri: number; postings: Map<string, Posting[]> }>) => Promise<boolean>): Promise<boolean> {
    this.ranks();
    const byRank = this.byRank!;
    const starts = this.packageStarts;
    for (let r = 0; r < byRank.length; ) {
      const from = starts[byRank[r]!]!;
      // Packages next to each other in the table as in rank order are read together.
      let to = r + 1;
      while (to < byRank.length && byRank[to] === byRank[to - 1]! + 1 && starts[byRank[to]! + 1]! - from <= READ_SLICE) to++;
      const length = starts[byRank[to - 1]! + 1]! - from;
      const read = this.packageFile.read(from, length);
      const block = read instanceof Promise ? await read : read;
      if (!block) return false;
      // Decoded at once: the block may be the shared read buffer.
      const slice = [];
      for (let k = r; k < to; k++) {
        const fmri = byRank[k]!;
        const postings = new Map<string, Posting[]>();
        decodeInPieces(block.subarray(starts[fmri]! - from, starts[fmri + 1]! - from), postings, true);
        slice.push({ fmri, postings });
      }
      if (!(await visit(slice))) return true;
      await new Promise((resolve) => setImmediate(resolve));
      r = to;
    }
    return true;
  }

  /** Called when a newer index took this one's place: its tables are closed once no read needs them. */
  retire(): void {
    this.tokenFile.retire();
    this.packageFile.retire();
  }

  /** The dictionary: everything but the table, which stays where it is. */
  toJSON(): unknown {
    return { format: FORMAT, source: this.source, fmris: this.fmris, table: path.basename(this.table), tokens: this.sortedTokens, starts: this.starts, packageStarts: this.packageStarts };
  }

  /** The index a dictionary file describes; its table lies beside it. */
  static fromJSON(data: unknown, dir: string): PublisherIndex | null {
    const d = data as { format?: number; source?: string; fmris?: string[]; table?: string; tokens?: string[]; starts?: number[]; packageStarts?: number[] };
    if (d?.format !== FORMAT || typeof d.source !== 'string' || !Array.isArray(d.fmris) || typeof d.table !== 'string' || !Array.isArray(d.tokens) || !Array.isArray(d.starts)) return null;
    if (!Array.isArray(d.packageStarts) || d.packageStarts.length !== d.fmris.length + 1) return null;
    const table = path.join(dir, d.table);
    if (d.starts.length !== d.tokens.length + 1 || !fs.existsSync(table) || !fs.existsSync(packageTableOf(table))) return null;
    return new PublisherIndex(d.source, d.fmris, d.tokens, d.starts, table, d.packageStarts);
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
