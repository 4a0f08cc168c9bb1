import fs from 'node:fs';

/**
 * Reads a file the way C's fgets(buf, size) does: pieces of at most size-1 bytes, each ending
 * after a newline when one comes first. Long lines therefore arrive in several pieces, which
 * is what pen's tools see. Strings are latin1 so that every byte survives the round trip.
 */
export class FgetsReader {
  private buffer = '';
  private eof = false;
  private offset = 0;
  private readonly chunk = Buffer.alloc(65536);

  constructor(
    private readonly fd: number,
    private readonly size = 1024,
  ) {}

  static open(file: string, size = 1024): FgetsReader {
    return new FgetsReader(fs.openSync(file, 'r'), size);
  }

  /** The next piece, or null at end of file. */
  gets(): string | null {
    const max = this.size - 1;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl >= 0 && nl < max) return this.take(nl + 1);
      if (this.buffer.length >= max) return this.take(max);
      if (this.eof) return this.buffer.length > 0 ? this.take(this.buffer.length) : null;
      const n = fs.readSync(this.fd, this.chunk, 0, this.chunk.length, this.offset);
      this.offset += n;
      if (n === 0) this.eof = true;
      else this.buffer += this.chunk.toString('latin1', 0, n);
    }
  }

  /** rewind(): start again from the beginning of the file. */
  rewind(): void {
    this.buffer = '';
    this.eof = false;
    this.offset = 0;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private take(n: number): string {
    const piece = this.buffer.slice(0, n);
    this.buffer = this.buffer.slice(n);
    return piece;
  }
}

/** fgets over a stream: feed bytes as they arrive, take the complete pieces. */
export class FgetsSplitter {
  private buffer = '';

  constructor(private readonly size = 1024) {}

  push(chunk: Buffer | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    const pieces: string[] = [];
    const max = this.size - 1;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      let n: number;
      if (nl >= 0 && nl < max) n = nl + 1;
      else if (this.buffer.length >= max) n = max;
      else break;
      pieces.push(this.buffer.slice(0, n));
      this.buffer = this.buffer.slice(n);
    }
    return pieces;
  }

  /** What is left at end of input: a last line without a newline. */
  end(): string[] {
    const rest = this.buffer;
    this.buffer = '';
    return rest ? [rest] : [];
  }
}
