import { inetAton } from '../libc/netaddr';
import { cString, sscanf } from '../libc/scanf';

/** How much of a request penlogd keeps and compares (its fixed 100-byte fields). */
const FIELD = 100;

interface PenEntry {
  server: number;
  client: string;
  request: string;
}

/**
 * penlogd's memory of what pen sent: a ring of the last N `+ client server request` records,
 * and the rule that rewrites a web server's log line with the real client of the newest
 * record from that server with the same request.
 */
export class PenlogRing {
  private readonly entries: Array<PenEntry | null>;
  private next = 0;

  constructor(
    readonly size: number,
    private readonly debug: (level: number, message: string) => void = () => undefined,
  ) {
    this.entries = new Array<PenEntry | null>(size).fill(null);
  }

  /** A datagram from pen: `+ client server request`. */
  storePen(datagram: string): void {
    const fields = sscanf(datagram, `+ %${FIELD - 1}[^ ] %${FIELD - 1}[^ ] %${FIELD - 1}[^\n]`);
    if (fields.length !== 3) {
      this.debug(1, `discarding bogus pen line ${cString(datagram)}`);
      return;
    }
    const [client, serverText, request] = fields as string[];
    this.debug(2, `store_pen(${this.next}: ${client}, ${serverText}, ${request})`);
    const server = inetAton(serverText);
    if (server === null) {
      this.debug(1, `bogus address ${serverText}`);
      return;
    }
    this.entries[this.next] = { server, client, request };
    this.next = (this.next + 1) % this.size;
  }

  /**
   * A datagram from a web server at `from` (IPv4 as a number). Returns what penlogd writes:
   * the line with its first field replaced by the real client on a match, the line unchanged
   * without one, or null for a line with no quoted request.
   */
  rewriteWeb(datagram: string, from: number | null): string | null {
    const text = cString(datagram);
    this.debug(2, `store_web(${text}, ${datagram.length})`);
    const open = text.indexOf('"');
    if (open < 0) {
      this.debug(1, `bogus web line ${text}`);
      return null;
    }
    const close = text.indexOf('"', open + 1);
    if (close < 0) {
      this.debug(1, `bogus line ${text}`);
      return null;
    }
    // Only the first 100 bytes of the request count, compared as a prefix of pen's record
    // (which holds at most 99): a request of 100 bytes or more never matches.
    const key = text.slice(open + 1, close).slice(0, FIELD);
    let i = (this.next - 1 + this.size) % this.size;
    let found: PenEntry | null = null;
    while (i !== this.next) {
      const entry = this.entries[i];
      if (entry && entry.request !== '' && entry.server === from && entry.request.startsWith(key)) {
        found = entry;
        break;
      }
      i = (i - 1 + this.size) % this.size;
    }
    if (!found) return datagram;
    const space = text.indexOf(' ');
    if (space < 0) {
      this.debug(1, 'Ugly');
      return found.client;
    }
    return found.client + datagram.slice(space);
  }
}
