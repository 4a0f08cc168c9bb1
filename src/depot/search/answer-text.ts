import { pkgQuote } from '../fmri';

/** Characters Python's quote() leaves as they are, with its default safe "/". */
const UNQUOTED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/') UNQUOTED[c.charCodeAt(0)] = 1;
const PERCENT = Array.from({ length: 128 }, (_, c) => `%${c.toString(16).toUpperCase().padStart(2, '0')}`);

/**
 * Python's quote() with its default safe "/": how search/1 shows the matched value. ASCII is
 * escaped here, a byte at a time; text with other characters goes through pkgQuote.
 */
export function quoteValue(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && UNQUOTED[c]) continue;
    if (c >= 128) return pkgQuote(text).replace(/%2F/g, '/');
    out += text.slice(from, i) + PERCENT[c];
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** The size of the buffers an answer is written into. */
const CHUNK = 64 << 10;
/** Characters gathered into one string before they are written: one write per line costs more. */
const PIECE = 4 << 10;

/**
 * An answer's text, gathered in strings of some KiB and written into buffers of 64 KiB, joined
 * once at the end: a search answer can be hundreds of KiB, and V8 builds such a string (one
 * `join` of every line) several times slower, with a collection to follow.
 */
export class AnswerText {
  private readonly chunks: Buffer[] = [];
  private chunk = Buffer.allocUnsafe(0);
  private at = 0;
  private total = 0;
  private piece = '';

  add(text: string): void {
    this.piece += text;
    if (this.piece.length >= PIECE) this.write();
  }

  private write(): void {
    const text = this.piece;
    this.piece = '';
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (this.at + text.length * 3 > this.chunk.length) {
      this.close();
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK, Buffer.byteLength(text)));
    }
    this.at += this.chunk.write(text, this.at);
  }

  private close(): void {
    if (this.at > 0) this.chunks.push(this.chunk.subarray(0, this.at));
    this.total += this.at;
    this.at = 0;
  }

  toBuffer(): Buffer {
    if (this.piece !== '') this.write();
    this.close();
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.total);
  }
}
