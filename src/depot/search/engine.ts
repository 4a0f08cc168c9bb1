import { parseAction } from '../manifest';
import { Glob, hasWildcard, onlyWildcards } from '../glob';
import { byCodePoint, type Posting, type PublisherIndex } from './publisher-index';
import { RETURN_ACTIONS, returnTypeOf, type Fields, type QueryNode, type SearchRequest } from './query';
import { SearchUnavailable } from './store';
import { indexEntries } from './tokens';

/** An action a query found: which package, which action line, and the value to show. */
export interface ActionHit {
  actionType: string;
  key: string;
  /** `stem@version`, without scheme or publisher. */
  fmri: string;
  /** The package's place in code point order of the names (PublisherIndex.rank). */
  rank: number;
  value: string;
  line: string;
}

export type SearchResult = { kind: 'actions'; hits: ActionHit[] } | { kind: 'packages'; fmris: string[] };

interface Context {
  index: PublisherIndex;
  caseSensitive: boolean;
  /** Where a term's hits come from: the whole index, or one package's postings when an answer is streamed. */
  find(term: string, fields: Fields): Promise<ActionHit[]>;
  /** The tokens of each term looked up, found once per query. */
  tokens: Map<string, Promise<number[]>>;
}

const isWildcardField = (v: string) => v === '' || v === '*';

/** A field restriction as a test on a hit; the package name is a case-blind prefix pattern. */
function fieldFilter(fields: Fields): (actionType: string, key: string, fmri: string) => boolean {
  const at = isWildcardField(fields.actionType) ? null : fields.actionType;
  const key = isWildcardField(fields.key) ? null : fields.key;
  const pkg = isWildcardField(fields.pkgName) ? null : new Glob(fields.pkgName.endsWith('*') ? fields.pkgName : `${fields.pkgName}*`, false);
  return (a, k, f) => (at === null || a === at) && (key === null || k === key) && (pkg === null || pkg.test(f));
}

/** Tokens a glob is tried on before other requests get a turn. */
const GLOB_SLICE = 10_000;

/**
 * The tokens of the index a term names, by number. A pattern is tried only on the tokens that begin with its
 * literal prefix (a range found by binary search) and hold every character it names (a mask
 * compared per token), in slices between which other requests are served.
 */
async function matchingTokens(index: PublisherIndex, term: string, caseSensitive: boolean): Promise<number[]> {
  if (onlyWildcards(term)) return Array.from(index.sortedTokens.keys());
  if (!hasWildcard(term)) {
    if (!caseSensitive) return index.caseInsensitive(term);
    const n = index.find(term);
    return n >= 0 ? [n] : [];
  }
  const glob = new Glob(term, caseSensitive);
  const tokens = index.sortedTokens;
  const masks = index.charMasks();
  const need = glob.requiredMask;
  const candidates = glob.literalPrefix ? index.withPrefix(glob.literalPrefix, caseSensitive) : null;
  const count = candidates ? candidates.length : tokens.length;
  const out: number[] = [];
  for (let i = 0; i < count; i += GLOB_SLICE) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    for (let j = i; j < Math.min(i + GLOB_SLICE, count); j++) {
      const t = candidates ? candidates[j]! : j;
      if ((masks[t]! & need) === need && glob.test(tokens[t]!)) out.push(t);
    }
  }
  return out;
}

/** matchingTokens, once per term and query. */
function tokensOf(ctx: Context, term: string): Promise<number[]> {
  let found = ctx.tokens.get(term);
  if (!found) ctx.tokens.set(term, (found = matchingTokens(ctx.index, term, ctx.caseSensitive)));
  return found;
}

/** The postings of a term over the whole index, field restrictions applied. */
async function termPostings(ctx: Context, term: string, fields: Fields, withLines = true): Promise<Posting[]> {
  const keep = fieldFilter(fields);
  const postings: Posting[] = [];
  for (const list of (await ctx.index.postings(await tokensOf(ctx, term), withLines)).values()) {
    for (const p of list) if (keep(p.actionType, p.key, ctx.index.fmris[p.fmri]!)) postings.push(p);
  }
  return postings;
}

/** A term searched over the whole index: the postings hold the lines they come from. */
async function searchIndex(ctx: Context, term: string, fields: Fields): Promise<ActionHit[]> {
  const hits: ActionHit[] = [];
  for (const p of await termPostings(ctx, term, fields)) {
    const fmri = ctx.index.fmris[p.fmri]!;
    const rank = ctx.index.rank(p.fmri);
    for (const line of p.lines) hits.push({ actionType: p.actionType, key: p.key, fmri, rank, value: p.value, line });
  }
  return hits;
}

/** A term searched among the hits of the terms before it: the action must also yield this token. */
function searchWithin(ctx: Context, within: ActionHit[], term: string, fields: Fields): ActionHit[] {
  const keep = fieldFilter(fields);
  const glob = hasWildcard(term) || !ctx.caseSensitive ? new Glob(term, ctx.caseSensitive) : null;
  return within.filter((hit) => {
    if (!keep(hit.actionType, hit.key, hit.fmri)) return false;
    const action = parseAction(hit.line.trim());
    if (!action) return false;
    const tokens = indexEntries(action).map((e) => e.token);
    return glob ? tokens.some((t) => glob.test(t)) : tokens.includes(term);
  });
}

/** The term a phrase is looked up by: its first word, as a prefix when more words follow. */
const phraseLead = (words: string[]) => (words.length > 1 && !words[0]!.endsWith('*') ? `${words[0]}*` : words[0]!);

async function actions(ctx: Context, node: QueryNode, within: ActionHit[] | null): Promise<ActionHit[]> {
  switch (node.kind) {
    case 'term':
      return within ? searchWithin(ctx, within, node.term, node.fields) : ctx.find(node.term, node.fields);
    case 'phrase': {
      const first = phraseLead(node.words);
      const found = within ? searchWithin(ctx, within, first, node.fields) : await ctx.find(first, node.fields);
      const phrase = ctx.caseSensitive ? node.words.join(' ') : node.words.join(' ').toLowerCase();
      const contains = (s: string) => (ctx.caseSensitive ? s : s.toLowerCase()).includes(phrase);
      // A set action shows the phrase when its matched value does not hold it.
      return found
        .filter((h) => contains(h.line))
        .map((h) => (h.actionType !== 'set' || contains(h.value) ? h : { ...h, value: phrase }));
    }
    case 'and':
      return actions(ctx, node.right, await actions(ctx, node.left, within));
    case 'or': {
      if (!within) return [...(await actions(ctx, node.left, null)), ...(await actions(ctx, node.right, null))];
      const out: ActionHit[] = [];
      for (const hit of within) out.push(...(await actions(ctx, node.left, [hit])), ...(await actions(ctx, node.right, [hit])));
      return out;
    }
    case 'packages':
      throw new Error('a package query cannot return actions');
  }
}

async function packages(ctx: Context, node: QueryNode): Promise<string[]> {
  switch (node.kind) {
    case 'packages': {
      if (returnTypeOf(node.query) !== RETURN_ACTIONS) return packages(ctx, node.query);
      // A lone term needs no action line: its postings name the packages.
      if (node.query.kind === 'term') {
        return ctx.index.names((await termPostings(ctx, node.query.term, node.query.fields, false)).map((p) => p.fmri));
      }
      return [...new Set((await actions(ctx, node.query, null)).map((h) => h.fmri))].sort(byCodePoint);
    }
    case 'and': {
      const right = new Set(await packages(ctx, node.right));
      return (await packages(ctx, node.left)).filter((f) => right.has(f));
    }
    case 'or':
      return [...new Set([...(await packages(ctx, node.left)), ...(await packages(ctx, node.right))])].sort(byCodePoint);
    default:
      throw new Error('an action query cannot return packages');
  }
}

/**
 * Hits by package, then by what the client shows of them (key, action type, value), then by action
 * line: the client drops a line only when it repeats the line just before it, so hits it shows
 * alike must come together, in the same order for every request.
 */
function byShownFields(a: ActionHit, b: ActionHit): number {
  return a.rank - b.rank || byCodePoint(a.key, b.key) || byCodePoint(a.actionType, b.actionType) || byCodePoint(a.value, b.value) || byCodePoint(a.line, b.line);
}

/** The request's start point and the end of what it asks for (undefined: all). */
function limits(request: SearchRequest): { start: number; end: number | undefined } {
  const start = request.startPoint && request.startPoint > 0 ? request.startPoint : 0;
  return { start, end: request.numToReturn === null ? undefined : start + Math.max(request.numToReturn, 0) };
}

/** A query ready to run: streamed when answering it at once would hold too much of the table. */
export interface QueryPlan {
  ctx: Context;
  query: QueryNode;
  request: SearchRequest;
  streamed: boolean;
}

/**
 * Table bytes of the postings a query reads at once, by default: every term looked up in the
 * whole index (the terms of an AND after the first only filter its hits). Past this, the answer
 * is streamed: a `*` reads the whole table, which held in memory costs several times its size.
 */
export const STREAM_FROM_BYTES = 4 << 20;

/** The terms a query looks up in the whole index when answered at once (`within`: it filters hits instead). */
function lookups(node: QueryNode, within: boolean, out: string[]): string[] {
  switch (node.kind) {
    case 'term':
      if (!within) out.push(node.term);
      break;
    case 'phrase':
      if (!within) out.push(phraseLead(node.words));
      break;
    case 'and':
      // Package results of both sides are found in full; action results of the right side only among the left's.
      lookups(node.left, within, out);
      lookups(node.right, within || returnTypeOf(node) === RETURN_ACTIONS, out);
      break;
    case 'or':
      if (!within) lookups(node.left, false, lookups(node.right, false, out));
      break;
    case 'packages':
      lookups(node.query, false, out);
      break;
  }
  return out;
}

/** How a parsed query is to be answered: at once, or streamed a package at a time when it reads more than `streamFrom` bytes of the table. */
export async function planQuery(index: PublisherIndex, query: QueryNode, request: SearchRequest, streamFrom = STREAM_FROM_BYTES): Promise<QueryPlan> {
  const ctx: Context = { index, caseSensitive: request.caseSensitive, tokens: new Map(), find: (term, fields) => searchIndex(ctx, term, fields) };
  let bytes = 0;
  for (const term of lookups(query, false, [])) bytes += onlyWildcards(term) ? index.tableBytes('all') : index.tableBytes(await tokensOf(ctx, term));
  return { ctx, query, request, streamed: bytes > streamFrom };
}

/** Runs a planned query at once and applies the request's start point and count. */
export async function runQuery(plan: QueryPlan): Promise<SearchResult> {
  const { ctx, query } = plan;
  const { start, end } = limits(plan.request);
  if (returnTypeOf(query) === RETURN_ACTIONS) return { kind: 'actions', hits: (await actions(ctx, query, null)).sort(byShownFields).slice(start, end) };
  return { kind: 'packages', fmris: (await packages(ctx, query)).slice(start, end) };
}

/** Whether a package query finds this package; `ctx` looks in its postings alone. */
async function packageMatches(ctx: Context, node: QueryNode): Promise<boolean> {
  switch (node.kind) {
    case 'packages':
      if (returnTypeOf(node.query) !== RETURN_ACTIONS) return packageMatches(ctx, node.query);
      return (await actions(ctx, node.query, null)).length > 0;
    case 'and':
      return (await packageMatches(ctx, node.left)) && packageMatches(ctx, node.right);
    case 'or':
      return (await packageMatches(ctx, node.left)) || packageMatches(ctx, node.right);
    default:
      throw new Error('an action query cannot return packages');
  }
}

/** A term's hits among one package's postings. */
function packageFinder(ctx: Context, members: Map<string, (token: string) => boolean>, fmri: number, postings: Map<string, Posting[]>): Context['find'] {
  const name = ctx.index.fmris[fmri]!;
  const rank = ctx.index.rank(fmri);
  return (term, fields) => {
    const member = members.get(term)!;
    const keep = fieldFilter(fields);
    const hits: ActionHit[] = [];
    for (const [token, list] of postings) {
      if (!member(token)) continue;
      for (const p of list) {
        if (!keep(p.actionType, p.key, name)) continue;
        for (const line of p.lines) hits.push({ actionType: p.actionType, key: p.key, fmri: name, rank, value: p.value, line });
      }
    }
    return Promise.resolve(hits);
  };
}

/**
 * Runs a planned query a package at a time in the order of the answer, from the package table:
 * `emit` gets the part of the answer each slice of the table yields (start point and count
 * applied) and says whether to go on. The answer is that of runQuery, part after part; what is
 * held at once is one slice's postings and hits.
 */
export async function streamQuery(plan: QueryPlan, emit: (part: SearchResult) => Promise<boolean>): Promise<void> {
  const { ctx, query } = plan;
  const { start, end } = limits(plan.request);
  let skip = start;
  let left = end === undefined ? Infinity : end - start;
  if (left <= 0) return;
  const members = new Map<string, (token: string) => boolean>();
  for (const term of lookups(query, false, [])) {
    if (members.has(term)) continue;
    if (onlyWildcards(term)) members.set(term, () => true);
    else {
      const set = new Set(Array.from(await tokensOf(ctx, term), (n) => ctx.index.sortedTokens[n]!));
      members.set(term, (token) => set.has(token));
    }
  }
  const wantActions = returnTypeOf(query) === RETURN_ACTIONS;
  const read = await ctx.index.eachPackage(async (slice) => {
    const hits: ActionHit[] = [];
    const fmris: string[] = [];
    for (const { fmri, postings } of slice) {
      const one: Context = { ...ctx, find: packageFinder(ctx, members, fmri, postings) };
      if (wantActions) {
        const found = (await actions(one, query, null)).sort(byShownFields);
        const from = Math.min(skip, found.length);
        skip -= from;
        const to = Math.min(found.length, from + left);
        for (let i = from; i < to; i++) hits.push(found[i]!);
        left -= to - from;
      } else if (await packageMatches(one, query)) {
        if (skip > 0) skip--;
        else {
          fmris.push(ctx.index.fmris[fmri]!);
          left--;
        }
      }
      if (left === 0) break;
    }
    const more = await emit(wantActions ? { kind: 'actions', hits } : { kind: 'packages', fmris });
    return more && left > 0;
  });
  // An answer cut short is never sent as if whole: the connection is reset instead.
  if (!read) throw new SearchUnavailable('The search index was replaced while this answer was read; ask again.');
}
