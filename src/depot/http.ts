import type http from 'node:http';
import type { FileCache, FileEntry } from './filecache';
import { streamFile } from './stream';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly contentType = 'text/html',
    /** Headers the error answer carries besides its type and length (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const YEAR = 31536000;
export const DAY = 86400;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large',
  429: 'Too Many Requests',
  416: 'Requested Range Not Satisfiable', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The error page: status and message, the form pkg.depotd's clients and operators see. Never cached. */
export function sendError(res: http.ServerResponse, err: HttpError, head: boolean): void {
  const title = `${err.status} ${STATUS_TEXT[err.status] ?? ''}`.trim();
  const body = `<!DOCTYPE html>\n<html>\n<head><title>${title}</title></head>\n<body>\n<h2>${title}</h2>\n<p>${escapeHtml(err.message)}</p>\n</body>\n</html>\n`;
  res.writeHead(err.status, { ...err.headers, 'Content-Type': err.contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

const dates = new Map<number, string>();

/** An HTTP date, formatted once per second it names: every answer carries one or two. */
export function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  let text = dates.get(second);
  if (text === undefined) {
    if (dates.size > 64) dates.clear();
    text = new Date(second * 1000).toUTCString();
    dates.set(second, text);
  }
  return text;
}

/** `Cache-Control` as pkg.depotd sends it, always with `Expires`. */
export function cacheHeaders(maxAge: number): Record<string, string> {
  return {
    'Cache-Control': `must-revalidate, no-transform, max-age=${maxAge}`,
    Expires: expiresIn(maxAge),
  };
}

/** The `Expires` of an answer cached for `maxAge` seconds from now. */
export function expiresIn(maxAge: number): string {
  return httpDate(Date.now() + maxAge * 1000);
}

export function sendBody(res: http.ServerResponse, head: boolean, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(head ? undefined : body);
}

/** More ranges than this in one request are answered with the whole file, as nginx's max_ranges does. */
export const MAX_RANGES = 16;

/**
 * The byte ranges of a Range header as nginx serves them: 'invalid' (416) when it does not parse
 * or no range lies within the file; null (200, the whole file) for more than MAX_RANGES ranges or
 * ranges that overlap; else the ranges in order, adjacent ones joined into one.
 */
export function parseRanges(header: string, size: number): Array<[number, number]> | 'invalid' | null {
  const m = /^bytes=(.*)$/.exec(header.trim());
  if (!m) return 'invalid';
  const specs = m[1]!.split(',').map((spec) => spec.trim()).filter((spec) => spec !== '');
  if (specs.length === 0) return 'invalid';
  if (specs.length > MAX_RANGES) return null;
  const ranges: Array<[number, number]> = [];
  for (const spec of specs) {
    const r = /^(\d*)-(\d*)$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return 'invalid';
    let start: number;
    let end: number;
    if (r[1] === '') {
      start = Math.max(0, size - Number(r[2]));
      end = size - 1;
    } else {
      start = Number(r[1]);
      end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
      if (r[2] !== '' && Number(r[2]) < start) return 'invalid';
    }
    // A range wholly past the end is skipped; only when none is left is the request unsatisfiable.
    if (start < size && start <= end) ranges.push([start, end]);
  }
  if (ranges.length === 0) return 'invalid';
  ranges.sort((x, y) => x[0] - y[0]);
  const joined: Array<[number, number]> = [ranges[0]!];
  for (const [start, end] of ranges.slice(1)) {
    const last = joined[joined.length - 1]!;
    if (start <= last[1]) return null;
    if (start === last[1] + 1) last[1] = end;
    else joined.push([start, end]);
  }
  return joined;
}

/** The whole 200 answer to a plain GET of a file the cache holds: sent again as it was. */
export interface Answer {
  file: string;
  immutable: boolean;
  entry: FileEntry;
  /** In the order they were first sent; Expires is renewed at each sending. */
  headers: Record<string, string>;
  maxAge: number;
}

/** What is still to send from the file after the headers: its ranges, each after its text. */
export interface Pending {
  parts: Array<{ before: string; start: number; end: number }>;
  after: string;
}

export interface SendOptions {
  ranges: boolean;
  etag?: string;
  /** Named by its content (a hash, an FMRI with its timestamp): served from memory once cached. */
  immutable?: boolean;
  /** Given the whole answer to a plain GET served from memory, to send it again without routing. */
  remember?: (answer: Answer) => void;
}

/**
 * Sends a file verbatim (never re-encoded; large files streamed, never buffered whole) with
 * Last-Modified, ETag, conditional requests (304) and, where allowed, a single byte range (206).
 * A file the cache can answer for is sent at once and gives true; otherwise the answer is a
 * promise, false when there is no such file. The synchronous path spares the busiest requests
 * (payloads, manifests, catalog parts) a chain of promises.
 */
export function sendFile(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  cache: FileCache,
  file: string,
  contentType: string,
  maxAge: number,
  options: SendOptions,
): boolean | Promise<boolean> {
  const immutable = options.immutable ?? false;
  const cached = cache.peek(file, immutable);
  // A cached entry always holds its body, so sendEntry completes the answer.
  if (cached) return sendEntry(req, res, file, cached, contentType, maxAge, options) === null;
  return cache.get(file, immutable).then(async (entry) => {
    if (!entry) return false;
    const pending = sendEntry(req, res, file, entry, contentType, maxAge, options);
    if (pending) await streamParts(file, pending, res).catch(() => res.destroy());
    return true;
  });
}

async function streamParts(file: string, pending: Pending, res: http.ServerResponse): Promise<void> {
  for (const part of pending.parts) {
    if (part.before) res.write(part.before);
    await streamFile(file, part.start, part.end, res, false);
  }
  res.end(pending.after || undefined);
}

/** A route's end after sendFile: done, or a 404 (`missing`) when there was no file to send. */
export function sentOr404(sent: boolean | Promise<boolean>, missing: () => HttpError): void | Promise<void> {
  if (sent === true) return;
  if (sent === false) throw missing();
  return sent.then((ok) => {
    if (!ok) throw missing();
  });
}

let boundaries = 0;

/**
 * Answers from a cache entry. Returns what is still to stream from the file when the entry holds
 * no body (a large file), else null: the answer is complete.
 */
export function sendEntry(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  file: string,
  entry: FileEntry,
  contentType: string,
  maxAge: number,
  options: SendOptions,
): Pending | null {
  const modifiedMs = Math.floor(entry.mtimeMs / 1000) * 1000;
  const etag = options.etag ?? `"${entry.size.toString(16)}-${Math.floor(entry.mtimeMs).toString(16)}"`;
  const headers = cacheHeaders(maxAge);
  headers['Last-Modified'] = httpDate(modifiedMs);
  headers.ETag = etag;
  if (options.ranges) headers['Accept-Ranges'] = 'bytes';
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  if ((inm && inm.split(',').some((s) => s.trim() === etag)) || (!inm && ims && Date.parse(ims) >= modifiedMs)) {
    res.writeHead(304, headers);
    res.end();
    return null;
  }
  let pending: Pending = { parts: [{ before: '', start: 0, end: entry.size - 1 }], after: '' };
  let length = entry.size;
  let status = 200;
  const range = options.ranges ? req.headers.range : undefined;
  if (range && entry.size > 0) {
    const ranges = parseRanges(range, entry.size);
    if (ranges === 'invalid') {
      res.writeHead(416, { 'Content-Range': `bytes */${entry.size}` });
      res.end();
      return null;
    }
    if (ranges) {
      status = 206;
      if (ranges.length === 1) {
        const [start, end] = ranges[0]!;
        pending = { parts: [{ before: '', start, end }], after: '' };
        headers['Content-Range'] = `bytes ${start}-${end}/${entry.size}`;
        length = end - start + 1;
      } else {
        const boundary = `${String(++boundaries).padStart(20, '0')}`;
        pending = {
          parts: ranges.map(([start, end]) => ({
            before: `\r\n--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${start}-${end}/${entry.size}\r\n\r\n`,
            start,
            end,
          })),
          after: `\r\n--${boundary}--\r\n`,
        };
        contentType = `multipart/byteranges; boundary=${boundary}`;
        length = pending.parts.reduce((n, p) => n + Buffer.byteLength(p.before) + p.end - p.start + 1, Buffer.byteLength(pending.after));
      }
    }
  }
  headers['Content-Type'] = contentType;
  headers['Content-Length'] = String(entry.size === 0 ? 0 : length);
  if (status === 200 && entry.body && req.method === 'GET' && options.remember) {
    options.remember({ file, immutable: options.immutable ?? false, entry, headers, maxAge });
  }
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || entry.size === 0) {
    res.end();
    return null;
  }
  if (!entry.body) return pending;
  const body = entry.body;
  if (status === 200) res.end(body);
  else if (pending.parts.length === 1) res.end(body.subarray(pending.parts[0]!.start, pending.parts[0]!.end + 1));
  else res.end(Buffer.concat([...pending.parts.flatMap((p) => [Buffer.from(p.before), body.subarray(p.start, p.end + 1)]), Buffer.from(pending.after)]));
  return null;
}

/** A percent-decoded path segment; a malformed encoding is the client's error (400). */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, 'Malformed percent-encoding in the request path.');
  }
}

/** pkg.depotd's 503 for search: search/0 keeps the text type it had set, search/1 gets the HTML page. */
export function searchUnavailable(version: number, message = 'Search functionality is temporarily unavailable.', headers: Record<string, string> = {}): HttpError {
  return new HttpError(503, message, version === 0 ? 'text/plain; charset=utf-8' : 'text/html', headers);
}
