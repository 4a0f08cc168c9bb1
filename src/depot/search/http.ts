import { cacheHeaders, HttpError, safeDecode, searchUnavailable, sendBody } from '../http';
import { attr, parseAction } from '../manifest';
import type { Request } from '../request';
import type { AnswerCache } from './answer-cache';
import { AnswerStream } from './answer-stream';
import { answerBytes, quoteValue } from './answer-text';
import { planQuery, runQuery, streamQuery, type QueryPlan, type SearchResult } from './engine';
import { parseQuery, parseSearchRequest, QueryHeaderError, QueryParseError, RETURN_ACTIONS, toPackages, type QueryNode, type SearchRequest } from './query';
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

/** A query with its parsed text; malformed text is a 400 before any index is consulted. */
interface ParsedRequest {
  request: SearchRequest;
  query: QueryNode;
}

function parsed(request: SearchRequest): ParsedRequest {
  try {
    const query = parseQuery(request.text);
    return { request, query: request.returnType !== RETURN_ACTIONS ? toPackages(query) : query };
  } catch (err) {
    if (err instanceof QueryParseError) throw new HttpError(400, err.message);
    throw err;
  }
}

/** Where answer lines go. */
type Lines = { add(text: string): void };

function v0Lines(result: SearchResult, out: Lines): void {
  if (result.kind !== 'actions') return;
  for (const hit of result.hits) {
    const action = parseAction(hit.line.trim());
    const name = action ? (attr(action, KEY_ATTRIBUTE[action.type] ?? '') ?? 'None') : 'None';
    const type = action?.type ?? hit.actionType;
    out.add(type === 'set' ? `${name} pkg:/${hit.fmri} ${type} ${hit.value}\n` : `${hit.value} pkg:/${hit.fmri} ${type} ${name}\n`);
  }
}

function v1Lines(qnum: number, result: SearchResult, out: Lines): void {
  if (result.kind === 'packages') for (const f of result.fmris) out.add(`${qnum} 1 pkg:/${f}\n`);
  else for (const h of result.hits) out.add(`${qnum} 2 pkg:/${h.fmri} ${quoteValue(h.value)} ${h.line.trimEnd()}\n`);
}

/** The requests of a search: search/0 takes one token, search/1 one or more queries in the v1 header form. */
function requestsOf(version: number, texts: string[]): ParsedRequest[] {
  if (version === 0) return [parsed({ caseSensitive: false, returnType: RETURN_ACTIONS, numToReturn: null, startPoint: null, text: texts[0]! })];
  try {
    return texts.map(parseSearchRequest).map(parsed);
  } catch (err) {
    if (err instanceof QueryHeaderError) throw new HttpError(404, err.message);
    throw err;
  }
}

const isEmpty = (res: SearchResult) => (res.kind === 'actions' ? res.hits.length : res.fmris.length) === 0;

/** What an answer is: its body, empty for 204 (one search/1 query, no hits: a v1 body always begins with its header line). */
async function answerOf(r: Request, plans: QueryPlan[]): Promise<Buffer> {
  const results: SearchResult[] = [];
  for (const plan of plans) results.push(await runQuery(plan));
  return answerBytes((out) => {
    if (r.version === 0) v0Lines(results[0]!, out);
    else if (results.length > 1 || !isEmpty(results[0]!)) {
      out.add(V1_HEADER);
      results.forEach((res, i) => v1Lines(i, res, out));
    }
  });
}

/**
 * The same answer written as it is formed: a query planned as streamed is answered a slice of the
 * package table at a time, the others at once. Offered to the cache when it fits it.
 */
async function streamAnswer(r: Request, plans: QueryPlan[], cache: AnswerCache, key: string, maxAge: number, sendTimeoutMs: number): Promise<void> {
  const out = new AnswerStream(r.res, r.head, { contentType: SEARCH_TEXT, headers: cacheHeaders(maxAge), keepAtMost: cache.maxBytes, sendTimeoutMs });
  // One query's v1 answer begins with the header line only when it has a hit.
  let headed = r.version === 1 && plans.length > 1;
  if (headed) out.add(V1_HEADER);
  let going = true;
  const emit = (qnum: number) => async (part: SearchResult) => {
    if (r.version === 0) v0Lines(part, out);
    else {
      if (!headed && !isEmpty(part)) {
        out.add(V1_HEADER);
        headed = true;
      }
      v1Lines(qnum, part, out);
    }
    return (going = await out.flush());
  };
  for (let i = 0; i < plans.length && going; i++) {
    const plan = plans[i]!;
    if (plan.streamed) await streamQuery(plan, emit(i));
    else await emit(i)(await runQuery(plan));
  }
  const answer = out.finish(r.version === 1 ? 204 : 200);
  if (answer) cache.offer(key, answer);
}

/** What makes an answer large, and how large answers are written. */
export interface Streaming {
  /** Table bytes a query may read at once; an answer with a query reading more is streamed. */
  from: number;
  /** Runs the writing of a streamed answer when a slot for one is free (or refuses it: see SearchService). */
  gate(answer: () => Promise<void>): Promise<void>;
  /** How long a client may take none of a streamed answer's queued bytes before it is cut off. */
  sendTimeoutMs: number;
}

/**
 * search/0 (one token, plain lines) and search/1 (queries in the v1 header form, by GET or a
 * POSTed form of several). 204 when one query finds nothing, 503 while search is off or before
 * the first index is built, 404 for a malformed header, 400 for query text that does not parse.
 * Answers come from `cache` when the same queries were answered from the same index before (twice: see AnswerCache).
 * An answer that would read much of the token table at once is streamed (see Streaming).
 */
export async function searchOperation(r: Request, indexes: SearchIndexes, cache: AnswerCache, pub: string, maxAge: number, streaming: Streaming): Promise<void> {
  try {
    let texts: string[];
    if (r.version === 0) {
      if (r.args.length === 0) throw new HttpError(400, 'search/0 needs a token: /search/0/<token>.');
      texts = [safeDecode(r.args.join('/'))];
    } else {
      const fromPath = r.args.length > 0 ? [safeDecode(r.args.join('/'))] : [];
      const fromForm = r.req.method === 'POST' ? await readForm(r) : [];
      if (fromPath.length > 0 && fromForm.length > 0) throw new HttpError(400, 'Give the query either in the path or in the form, not both.');
      texts = fromPath.length > 0 ? fromPath : fromForm;
      if (texts.length === 0) throw new HttpError(400, 'No query given: use /search/1/<case>_<type>_<count>_<start>_<text> or POST a form 0=<query>.');
    }
    const requests = requestsOf(r.version, texts);
    const index = await indexes.get(r.mount.repo, pub);
    // The index's own number in the key: a rebuilt index never answers from its predecessor's answers.
    const key = `${index.id} ${r.version} ${JSON.stringify(texts)}`;
    let body = cache.get(key);
    if (body === undefined) {
      const plans: QueryPlan[] = [];
      for (const { request, query } of requests) plans.push(await planQuery(index, query, request, streaming.from));
      if (plans.some((plan) => plan.streamed)) return await streaming.gate(() => streamAnswer(r, plans, cache, key, maxAge, streaming.sendTimeoutMs));
      body = await answerOf(r, plans);
      cache.offer(key, body);
    }
    if (r.version === 1 && body.length === 0) {
      r.res.writeHead(204);
      r.res.end();
      return;
    }
    sendBody(r.res, r.head, SEARCH_TEXT, body, cacheHeaders(maxAge));
  } catch (err) {
    if (err instanceof SearchUnavailable) throw searchUnavailable(r.version, err.message);
    throw err;
  }
}
