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

/** Characters gathered into one string before they are written: one write per line costs more. */
const PIECE = 4 << 10;
/** The most the buffer answers are written into may keep between answers. */
const SCRATCH_KEPT = 1 << 20;

/** Where answers are written before they are copied out: one for the process, as answers are written synchronously. */
let scratch = Buffer.allocUnsafe(64 << 10);

/**
 * An answer's text, gathered in strings of some KiB and written into one reused buffer: a search
 * answer can be hundreds of KiB, and V8 builds such a string (one `join` of every line) several
 * times slower, with a collection to follow; a buffer of its own per answer would leave the
 * collector as much again to free.
 */
class AnswerText {
  private buffer = scratch;
  private at = 0;
  private piece = '';

  add(text: string): void {
    this.piece += text;
    if (this.piece.length >= PIECE) this.write();
  }

  private write(): void {
    const text = this.piece;
    this.piece = '';
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    const most = this.at + text.length * 3;
    if (most > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, most));
      this.buffer.copy(bigger, 0, 0, this.at);
      this.buffer = bigger;
      if (bigger.length <= SCRATCH_KEPT) scratch = bigger;
    }
    this.at += this.buffer.write(text, this.at);
  }

  /** The text in a buffer of its own size (the cache keeps it). */
  finish(): Buffer {
    if (this.piece !== '') this.write();
    const out = Buffer.allocUnsafe(this.at);
    this.buffer.copy(out, 0, 0, this.at);
    return out;
  }
}

/** An answer's bytes, as `fill` adds them: synchronously, as the buffer they go through is shared. */
export function answerBytes(fill: (out: Pick<AnswerText, 'add'>) => void): Buffer {
  const out = new AnswerText();
  fill(out);
  return out.finish();
}
