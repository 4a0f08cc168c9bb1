import fs from 'node:fs';

/**
 * The access log: lines gathered during one turn of the event loop go out in one write, so a
 * busy depot does not pay a write per request.
 */
export class AccessLog {
  private readonly stream: fs.WriteStream;
  private pending: string[] = [];
  private scheduled = false;

  constructor(file: string) {
    this.stream = fs.createWriteStream(file, { flags: 'a' });
    this.stream.on('error', () => undefined);
  }

  readonly write = (line: string): void => {
    this.pending.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  };

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    this.stream.write(this.pending.join(''));
    this.pending = [];
  }

  end(): Promise<void> {
    this.flush();
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}
