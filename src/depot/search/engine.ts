import { parseAction } from '../manifest';
import { Glob, hasWildcard, onlyWildcards } from '../glob';
import { byCodePoint, type Posting, type PublisherIndex } from './publisher-index';
import { RETURN_ACTIONS, returnTypeOf, type Fields, type QueryNode, type SearchRequest } from './query';
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
 * The tokens of the index a term names. A pattern is tried only on the tokens that begin with its
 * literal prefix (a range found by binary search) and hold every character it names (a mask
 * compared per token), in slices between which other requests are served.
 */
async function matchingTokens(index: PublisherIndex, term: string, caseSensitive: boolean): Promise<string[]> {
  if (onlyWildcards(term)) return index.sortedTokens;
  if (!hasWildcard(term)) {
    if (!caseSensitive) return index.caseInsensitive(term);
    return index.has(term) ? [term] : [];
  }
  const glob = new Glob(term, caseSensitive);
  const tokens = index.sortedTokens;
  const masks = index.charMasks();
  const need = glob.requiredMask;
  const candidates = glob.literalPrefix ? index.withPrefix(glob.literalPrefix, caseSensitive) : null;
  const count = candidates ? candidates.length : tokens.length;
  const out: string[] = [];
  for (let i = 0; i < count; i += GLOB_SLICE) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    for (let j = i; j < Math.min(i + GLOB_SLICE, count); j++) {
      const t = candidates ? candidates[j]! : j;
      if ((masks[t]! & need) === need && glob.test(tokens[t]!)) out.push(tokens[t]!);
    }
  }
  return out;
}

/** The postings of a term over the whole index, field restrictions applied. */
async function termPostings(ctx: Context, term: string, fields: Fields, withLines = true): Promise<Posting[]> {
  const keep = fieldFilter(fields);
  const postings: Posting[] = [];
  for (const list of (await ctx.index.postings(await matchingTokens(ctx.index, term, ctx.caseSensitive), withLines)).values()) {
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

async function actions(ctx: Context, node: QueryNode, within: ActionHit[] | null): Promise<ActionHit[]> {
  switch (node.kind) {
    case 'term':
      return within ? searchWithin(ctx, within, node.term, node.fields) : searchIndex(ctx, node.term, node.fields);
    case 'phrase': {
      const first = node.words.length > 1 && !node.words[0]!.endsWith('*') ? `${node.words[0]}*` : node.words[0]!;
      const found = within ? searchWithin(ctx, within, first, node.fields) : await searchIndex(ctx, first, node.fields);
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

/** Runs a parsed query and applies the request's start point and count. */
export async function runQuery(index: PublisherIndex, query: QueryNode, request: SearchRequest): Promise<SearchResult> {
  const ctx: Context = { index, caseSensitive: request.caseSensitive };
  const start = request.startPoint && request.startPoint > 0 ? request.startPoint : 0;
  const end = request.numToReturn === null ? undefined : start + Math.max(request.numToReturn, 0);
  if (returnTypeOf(query) === RETURN_ACTIONS) return { kind: 'actions', hits: (await actions(ctx, query, null)).sort(byShownFields).slice(start, end) };
  return { kind: 'packages', fmris: (await packages(ctx, query)).slice(start, end) };
}
