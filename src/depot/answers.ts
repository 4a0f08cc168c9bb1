import type http from 'node:http';
import type { FileCache } from './filecache';
import { expiresIn, type Answer } from './http';

/** An answer ready to send again: headers as name/value pairs, a small body as a byte string. */
interface Prepared {
  answer: Answer;
  headers: string[];
  expiresAt: number;
  /**
   * The body of a small file as a latin1 string, which maps each byte to one character: Node
   * then sends headers and body in one write from its stack instead of gathering two buffers.
   */
  text: string | null;
}

/** Up to this size a body is also kept as a string (Node writes strings this long from its stack). */
const TEXT_BODY_MAX = 16 * 1024;

function prepare(answer: Answer, withText: boolean): Prepared {
  const headers: string[] = [];
  let expiresAt = -1;
  for (const [name, value] of Object.entries(answer.headers)) {
    if (name === 'Expires') expiresAt = headers.length + 1;
    headers.push(name, value);
  }
  return { answer, headers, expiresAt, text: withText ? answer.entry.body!.toString('latin1') : null };
}

/** What a request counts as in status/0. */
export type Counted = 'catalog' | 'file' | 'manifests';

interface Remembered {
  prepared: Prepared;
  counted: Counted;
}

/** Request headers after which the answer is not the plain one: it goes through the full route. */
const PARTIAL_OR_CONDITIONAL = new Set(['range', 'if-none-match', 'if-modified-since']);
const SHORTEST = 5;
const LONGEST = 17;

function asksForLess(rawHeaders: string[]): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length >= SHORTEST && name.length <= LONGEST && PARTIAL_OR_CONDITIONAL.has(name.toLowerCase())) return true;
  }
  return false;
}

/**
 * Answers by request URL, for the depot's busiest requests (payloads, manifests, catalog parts):
 * a repeated plain GET is answered without routing, path building or header assembly. An answer
 * holds only while the file cache still serves the same entry without a disk check, so it never
 * outlives a replaced file, an evicted entry or a reload.
 */
export class AnswerCache {
  private readonly answers = new Map<string, Remembered>();
  private textBytes = 0;

  constructor(
    private readonly files: FileCache,
    /** All bodies kept as strings together, beyond the file cache that holds them as buffers. */
    private readonly maxTextBytes = 16 * 1024 * 1024,
    private readonly maxAnswers = 20_000,
  ) {}

  /** The remembered answer for this request, if it may be sent as it is. */
  lookup(req: http.IncomingMessage): Remembered | undefined {
    if (req.method !== 'GET') return undefined;
    const url = req.url ?? '';
    const remembered = this.answers.get(url);
    if (remembered === undefined || asksForLess(req.rawHeaders)) return undefined;
    const { answer } = remembered.prepared;
    if (this.files.peek(answer.file, answer.immutable) !== answer.entry) {
      this.forget(url);
      return undefined;
    }
    return remembered;
  }

  /** A function that remembers the answer to this URL, for sendFile's `remember` option. */
  rememberer(url: string | undefined, counted: Counted): (answer: Answer) => void {
    return (answer) => {
      if (url === undefined) return;
      this.forget(url);
      if (this.answers.size >= this.maxAnswers) this.forget(this.answers.keys().next().value!);
      const size = answer.entry.body?.length ?? Infinity;
      const withText = size <= TEXT_BODY_MAX && this.textBytes + size <= this.maxTextBytes;
      if (withText) this.textBytes += size;
      this.answers.set(url, { prepared: prepare(answer, withText), counted });
    };
  }

  clear(): void {
    this.answers.clear();
    this.textBytes = 0;
  }

  private forget(url: string): void {
    const text = this.answers.get(url)?.prepared.text;
    if (text) this.textBytes -= text.length;
    this.answers.delete(url);
  }
}

/** Sends a remembered answer: the same status, headers and body as the first time, a new Expires. */
export function sendAnswer(res: http.ServerResponse, { answer, headers, expiresAt, text }: Prepared): void {
  if (expiresAt >= 0) headers[expiresAt] = expiresIn(answer.maxAge);
  res.writeHead(200, headers);
  if (text === null) res.end(answer.entry.body);
  else res.end(text, 'latin1');
}
