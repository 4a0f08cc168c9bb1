import type http from 'node:http';
import { sendBody } from '../http';

/** Text gathered before it is written: one write per line would cost more than the line. */
const CHUNK = 64 << 10;
/** Bytes the response may queue for a slow client before the table is read on: the bound on what a streamed answer holds. */
const QUEUE_BYTES = 256 << 10;
/** A client that takes none of the queued bytes for this long is cut off, by default: it holds a slot for large answers. */
export const SEND_TIMEOUT_MS = 30_000;
/** The most a streamed answer may take from its first byte to its last, however steadily the client reads. */
export const ANSWER_TIME_LIMIT_MS = 10 * 60_000;

/**
 * A large search answer written to the client as it is formed, for answers of any size in bounded
 * memory. Lines are gathered into chunks and written; while the response's queue is over
 * QUEUE_BYTES, `flush` waits for the client to take them (the caller reads no more of the table
 * meanwhile). An answer that ends within one chunk is sent whole, with its length, as answers
 * made at once are. Its bytes are also kept for the answer cache while they fit `keepAtMost`.
 */
export class AnswerStream {
  private text = '';
  private started = false;
  /** Bytes of the answer so far, written or not. */
  private bytes = 0;
  private kept: Buffer[] | null = [];
  private readonly deadline = Date.now() + ANSWER_TIME_LIMIT_MS;
  private gone = false;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly head: boolean,
    private readonly options: { contentType: string; headers: Record<string, string>; keepAtMost: number; sendTimeoutMs: number },
  ) {
    // A client may have gone while the answer waited for its slot.
    this.gone = !res.socket || res.socket.destroyed;
    res.on('close', () => (this.gone = true));
  }

  add(text: string): void {
    this.text += text;
  }

  /** Writes what was gathered once it fills a chunk, and waits while the client lags; false when the client is gone or too slow. */
  async flush(): Promise<boolean> {
    if (this.gone) return false;
    if (this.text.length < CHUNK) return true;
    if (Date.now() > this.deadline) return this.cutOff();
    this.write(this.take());
    if (this.res.writableLength <= QUEUE_BYTES) return true;
    return this.drained();
  }

  /**
   * Ends the answer. Nothing written yet: it is sent whole (`emptyStatus` when it is empty).
   * Resolves with the whole answer when it was kept (to be cached), else null.
   */
  finish(emptyStatus: 200 | 204): Buffer | null {
    const last = this.take();
    if (this.gone) return null;
    const answer = this.kept && Buffer.concat(this.kept);
    if (!this.started) {
      if (last.length === 0 && emptyStatus === 204) {
        this.res.writeHead(204);
        this.res.end();
      } else sendBody(this.res, this.head, this.options.contentType, answer ?? last, this.options.headers);
      return answer;
    }
    this.res.end(this.head ? undefined : last);
    return answer;
  }

  /** The text gathered, as bytes, counted and kept while they fit. */
  private take(): Buffer {
    const bytes = Buffer.from(this.text);
    this.text = '';
    this.bytes += bytes.length;
    if (this.kept && this.bytes <= this.options.keepAtMost) this.kept.push(bytes);
    else this.kept = null;
    return bytes;
  }

  private write(bytes: Buffer): void {
    if (!this.started) {
      // No length: the answer's end is not known yet (chunked, or the end of the connection for HTTP/1.0).
      this.res.writeHead(200, { 'Content-Type': this.options.contentType, ...this.options.headers });
      this.started = true;
    }
    if (!this.head) this.res.write(bytes);
  }

  /** Ends the connection of a client that is too slow; false, for flush to answer. */
  private cutOff(): false {
    // Reset, not closed: a close would wait behind the bytes the kernel still holds for the client.
    if (!this.gone) this.res.socket?.resetAndDestroy();
    this.gone = true;
    return false;
  }

  /** Waits for the client to take the queue; a client that stalls or outlasts the answer's time limit is cut off. */
  private drained(): Promise<boolean> {
    const wait = Math.min(this.options.sendTimeoutMs, this.deadline - Date.now());
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.res.off('drain', onDrain);
        this.res.off('close', onClose);
        resolve(ok || this.cutOff());
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(wait, 0));
      this.res.on('drain', onDrain);
      this.res.on('close', onClose);
    });
  }
}
