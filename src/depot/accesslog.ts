import { BatchedLogFile, LogFile } from '../runtime';

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
