import fs from 'node:fs';
import { cacheHeaders, HttpError, safeDecode, searchUnavailable, sendBody } from '../http';
import { pkgQuote } from '../fmri';
import { attr, parseAction } from '../manifest';
import type { Request } from '../request';
import { runQuery, type SearchResult } from './engine';
import { parseQuery, parseSearchRequest, QueryHeaderError, QueryParseError, RETURN_ACTIONS, toPackages, type SearchRequest } from './query';
import { SearchUnavailable, type SearchIndexes } from './store';

const SEARCH_TEXT = 'text/plain; charset=utf-8';
/** The first line of every search/1 answer: the client checks it to know it reached a search server. */
const V1_HEADER = 'Return from search v1\n';
/** A POSTed list of queries larger than this is refused rather than buffered. */
const MAX_FORM_BYTES = 64 * 1024;

/** The attribute that names an action (pkg5's key attribute), shown by search/0. */
const KEY_ATTRIBUTE: Record<string, string> = {
  set: 'name', file: 'path', dir: 'path', link: 'path', hardlink: 'path', depend: 'fmri', license: 'license',
  user: 'username', group: 'groupname', driver: 'name', legacy: 'pkg', signature: 'value',
};

/** Python's quote() with its default safe "/": how search/1 shows the matched value. */
function quoteValue(text: string): string {
  return pkgQuote(text).replace(/%2F/g, '/');
}

async function readForm(r: Request): Promise<string[]> {
  // Refused before any of it is read: a client announcing too much would otherwise hold the request.
  if (Number(r.req.headers['content-length'] ?? 0) > MAX_FORM_BYTES) {
    throw new HttpError(413, `The search form is larger than ${MAX_FORM_BYTES} bytes; send fewer queries per request.`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of r.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(400, `The search form is larger than ${MAX_FORM_BYTES} bytes; send fewer queries per request.`);
    chunks.push(chunk);
  }
  return [...new URLSearchParams(Buffer.concat(chunks).toString('utf8')).values()];
}

async function run(r: Request, indexes: SearchIndexes, pub: string, request: SearchRequest): Promise<SearchResult> {
  let query;
  try {
    query = parseQuery(request.text);
  } catch (err) {
    if (err instanceof QueryParseError) throw new HttpError(400, err.message);
    throw err;
  }
  if (request.returnType !== RETURN_ACTIONS) query = toPackages(query);
  const index = await indexes.get(r.mount.repo, pub);
  return runQuery(index, query, request, async (fmri) => {
    const at = fmri.indexOf('@');
    const file = r.mount.repo.manifestPath(pub, { publisher: null, stem: fmri.slice(0, at), version: fmri.slice(at + 1), complete: true });
    // Manifests never change under their FMRI: the depot's file cache serves them.
    const entry = await r.files.get(file, true);
    if (!entry) return null;
    return entry.body ?? fs.promises.readFile(file).catch(() => null);
  });
}

function v0Lines(result: SearchResult): string {
  if (result.kind !== 'actions') return '';
  return result.hits
    .map((hit) => {
      const action = parseAction(hit.line.trim());
      const name = action ? (attr(action, KEY_ATTRIBUTE[action.type] ?? '') ?? 'None') : 'None';
      const type = action?.type ?? hit.actionType;
      return type === 'set' ? `${name} pkg:/${hit.fmri} ${type} ${hit.value}\n` : `${hit.value} pkg:/${hit.fmri} ${type} ${name}\n`;
    })
    .join('');
}

function v1Lines(qnum: number, result: SearchResult): string {
  if (result.kind === 'packages') return result.fmris.map((f) => `${qnum} 1 pkg:/${f}\n`).join('');
  return result.hits.map((h) => `${qnum} 2 pkg:/${h.fmri} ${quoteValue(h.value)} ${h.line.trimEnd()}\n`).join('');
}

/**
 * search/0 (one token, plain lines) and search/1 (queries in the v1 header form, by GET or a
 * POSTed form of several). 204 when one query finds nothing, 503 while search is off or before
 * the first index is built, 404 for a malformed header, 400 for query text that does not parse.
 */
export async function searchOperation(r: Request, indexes: SearchIndexes, pub: string, maxAge: number): Promise<void> {
  try {
    if (r.version === 0) {
      if (r.args.length === 0) throw new HttpError(400, 'search/0 needs a token: /search/0/<token>.');
      const request: SearchRequest = { caseSensitive: false, returnType: RETURN_ACTIONS, numToReturn: null, startPoint: null, text: safeDecode(r.args.join('/')) };
      return sendBody(r.res, r.head, SEARCH_TEXT, v0Lines(await run(r, indexes, pub, request)), cacheHeaders(maxAge));
    }
    const fromPath = r.args.length > 0 ? [safeDecode(r.args.join('/'))] : [];
    const fromForm = r.req.method === 'POST' ? await readForm(r) : [];
    if (fromPath.length > 0 && fromForm.length > 0) throw new HttpError(400, 'Give the query either in the path or in the form, not both.');
    const texts = fromPath.length > 0 ? fromPath : fromForm;
    if (texts.length === 0) throw new HttpError(400, 'No query given: use /search/1/<case>_<type>_<count>_<start>_<text> or POST a form 0=<query>.');
    let requests: SearchRequest[];
    try {
      requests = texts.map(parseSearchRequest);
    } catch (err) {
      if (err instanceof QueryHeaderError) throw new HttpError(404, err.message);
      throw err;
    }
    const results: SearchResult[] = [];
    for (const request of requests) results.push(await run(r, indexes, pub, request));
    const empty = (res: SearchResult) => (res.kind === 'actions' ? res.hits.length : res.fmris.length) === 0;
    if (results.length === 1 && empty(results[0]!)) {
      r.res.writeHead(204);
      r.res.end();
      return;
    }
    sendBody(r.res, r.head, SEARCH_TEXT, V1_HEADER + results.map((res, i) => v1Lines(i, res)).join(''), cacheHeaders(maxAge));
  } catch (err) {
    if (err instanceof SearchUnavailable) throw searchUnavailable(r.version, err.message);
    throw err;
  }
}
