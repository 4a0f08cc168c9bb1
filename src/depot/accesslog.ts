import fs from 'node:fs';

/**
 * The access log: lines gathered during one turn of the event loop go out in one write, so a
 * busy depot does not pay a write per request.
 */
export class AccessLog {
  private stream: fs.WriteStream;
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly file: string) {
    this.stream = AccessLog.open(file);
  }

  private static open(file: string): fs.WriteStream {
    // Opened at once, so that a file that cannot be created is known here, not at the first line.
    const stream = fs.createWriteStream(file, { flags: 'a', fd: fs.openSync(file, 'a', 0o640) });
    stream.on('error', () => undefined);
    return stream;
  }

  /**
   * Opens the log file anew, for log rotation: lines so far go to the file that was open. When it
   * cannot be opened, the old one stays in use and the error says why.
   */
  reopen(): void {
    const next = AccessLog.open(this.file);
    this.flush();
    this.stream.end();
    this.stream = next;
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
