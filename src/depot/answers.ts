import type http from 'node:http';
import type { FileCache, FileEntry } from './filecache';
import { expiresIn } from './http';

/** The whole 200 answer to a plain GET of a file the cache holds: sent again as it was. */
export interface Answer {
  file: string;
  immutable: boolean;
  entry: FileEntry;
  /** In the order they were first sent; Expires is renewed at each sending. */
  headers: Record<string, string>;
  maxAge: number;
}

/** What a request counts as in status/0. */
export type Counted = 'catalog' | 'file' | 'manifests';

interface Remembered {
  answer: Answer;
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

  constructor(
    private readonly files: FileCache,
    private readonly maxAnswers = 20_000,
  ) {}

  /** The remembered answer for this request, if it may be sent as it is. */
  lookup(req: http.IncomingMessage): Remembered | undefined {
    if (req.method !== 'GET') return undefined;
    const url = req.url ?? '';
    const remembered = this.answers.get(url);
    if (remembered === undefined || asksForLess(req.rawHeaders)) return undefined;
    const { answer } = remembered;
    if (this.files.peek(answer.file, answer.immutable) !== answer.entry) {
      this.answers.delete(url);
      return undefined;
    }
    return remembered;
  }

  /** A function that remembers the answer to this URL, for sendFile's `remember` option. */
  rememberer(url: string | undefined, counted: Counted): (answer: Answer) => void {
    return (answer) => {
      if (url === undefined) return;
      if (this.answers.size >= this.maxAnswers) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(url, { answer, counted });
    };
  }

  clear(): void {
    this.answers.clear();
  }
}

/** Sends a remembered answer: the same status, headers and body as the first time, a new Expires. */
export function sendAnswer(res: http.ServerResponse, answer: Answer): void {
  answer.headers.Expires = expiresIn(answer.maxAge);
  res.writeHead(200, answer.headers);
  res.end(answer.entry.body);
}
