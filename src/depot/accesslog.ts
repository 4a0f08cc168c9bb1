import { BatchedLogFile, LogFile } from '../runtime';

/** Text with nothing to escape: the common case, passed through. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const hex = (byte: number) => `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * Text a client chose, made safe for a log line as nginx escapes it: a quote, a backslash, control
 * bytes and bytes outside ASCII become \xHH, so no field or line can be forged. Characters Node
 * gives beyond Latin-1 are escaped byte by byte of their UTF-8 form.
 */
export function logEscape(text: string): string {
  if (PLAIN.test(text)) return text;
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (code >= 0x20 && code < 0x7f && c !== '"' && c !== '\\') out += c;
    else if (code <= 0xff) out += hex(code);
    else for (const byte of Buffer.from(c, 'utf8')) out += hex(byte);
  }
  return out;
}

/**
 * The access log: lines gathered during one turn of the event loop go out in one write, so a
 * busy depot does not pay a write per request. A full disk drops lines (counted, and told through
 * `onRecovered` once writing works again); it never stops the depot.
 */
export class AccessLog {
  private log: BatchedLogFile;

  constructor(file: string, onRecovered: (note: string) => void = () => undefined) {
    // Opened at once, so that a file that cannot be created is known here, not at the first line.
    this.log = new BatchedLogFile(LogFile.open(file, { what: 'access log', onRecovered }));
  }

  /**
   * Opens the log file anew, for log rotation: lines so far go to the file that was open. When it
   * cannot be opened, the old one stays in use and the error says why.
   */
  reopen(): void {
    this.log.reopen();
  }

  readonly write = (line: string): void => this.log.write(line);

  end(): Promise<void> {
    this.log.close();
    return Promise.resolve();
  }
}
