import fs from 'node:fs';
import { getSystemErrorName } from 'node:util';

/** An error's short name: ENOSPC, also from a binding that gives the bare negative errno. */
function reasonOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'number' && code < 0) return getSystemErrorName(code);
  if (typeof code === 'string' && code !== '') return code;
  return (err as Error)?.message ?? String(err);
}

/**
 * Lines a log could not take, counted while writing fails (a full or failing disk, a syslogd
 * gone), and said once when writing works again: a daemon never stops for its log.
 */
export class LostLines {
  private count = 0;
  private since: Date | null = null;
  private reason = '';

  lose(lines: number, err: unknown): void {
    if (lines <= 0) return;
    this.count += lines;
    this.since ??= new Date();
    this.reason = reasonOf(err);
  }

  get lost(): number {
    return this.count;
  }

  /** The line to log once writing works again, and the count starts over; null when nothing was lost. */
  recovered(what: string): string | null {
    if (this.count === 0 || !this.since) return null;
    const note = `${this.count} ${what} line(s) lost from ${this.since.toISOString()} to ${new Date().toISOString()} (${this.reason})`;
    this.count = 0;
    this.since = null;
    return note;
  }
}

export interface LogFileOptions {
  /** Which log this is, in the recovery note ("log", "request log", "access log"). */
  what: string;
  /** Told the recovery note, once writing works again. */
  onRecovered: (note: string) => void;
  mode?: number;
}

/**
 * An append-only log file written with plain synchronous writes: a failed or short write never
 * throws; the lines it could not hold are dropped and counted, and a line cut short by a full
 * disk is ended before the next one, so the file stays one record per line.
 */
export class LogFile {
  readonly lost = new LostLines();
  private torn = false;

  private constructor(
    private fd: number,
    private readonly file: string | null,
    private readonly options: LogFileOptions,
  ) {}

  /** Opens FILE for appending; throws (with the reason) when it cannot, so a start can refuse. */
  static open(file: string, options: LogFileOptions): LogFile {
    return new LogFile(fs.openSync(file, 'a', options.mode ?? 0o640), file, options);
  }

  /** A descriptor opened by someone else (a detached daemon's console on descriptor 2). */
  static onDescriptor(fd: number, options: LogFileOptions): LogFile {
    return new LogFile(fd, null, options);
  }

  /** Writes TEXT, whole lines each ending in "\n"; false when some were dropped. */
  write(text: string, encoding: BufferEncoding = 'utf8'): boolean {
    // The end of a line a full disk cut short comes first.
    const lead = this.torn ? 1 : 0;
    const data = Buffer.from(lead ? `\n${text}` : text, encoding);
    let done = 0;
    try {
      while (done < data.length) done += fs.writeSync(this.fd, data, done);
    } catch (err) {
      const written = data.subarray(0, done);
      this.torn = done > 0 && written[done - 1] !== 0x0a ? true : this.torn && done === 0;
      this.lost.lose(countLines(data.subarray(lead)) - countLines(written.subarray(Math.min(lead, done))), err);
      return false;
    }
    this.torn = false;
    const note = this.lost.recovered(this.options.what);
    if (note) this.options.onRecovered(note);
    return true;
  }

  /** After `mv log log.1; kill -HUP`: a fresh file under the name; throws, keeping the old one, when it cannot be opened. */
  reopen(): void {
    if (!this.file) return;
    const fresh = fs.openSync(this.file, 'a', this.options.mode ?? 0o640);
    this.close();
    this.fd = fresh;
    // The same file, not rotated away, still ends in the cut-short line.
    if (fs.fstatSync(fresh).size === 0) this.torn = false;
  }

  close(): void {
    if (this.file === null) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed: nothing is left to release.
    }
  }
}

function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) n++;
  return n;
}

/**
 * A LogFile written once per turn of the event loop: lines gathered in one turn go out in one
 * write, so a busy daemon does not pay a write per request.
 */
export class BatchedLogFile {
  private pending: string[] = [];
  private scheduled = false;

  constructor(readonly file: LogFile) {}

  readonly write = (line: string): void => {
    this.pending.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  };

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.file.write(text);
  };

  reopen(): void {
    this.flush();
    this.file.reopen();
  }

  close(): void {
    this.flush();
    this.file.close();
  }
}
