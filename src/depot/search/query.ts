// The pkg(5) search query language (pkg5 doc/search.txt and its query grammar): terms with `*`,
// `?` and `[...]` globs, `pkg_name:action_type:key:token` field terms, quoted phrases, `AND`,
// `OR`, parentheses and `<...>` for package results, plus the search/1 query header.

export const RETURN_PACKAGES = 1;
export const RETURN_ACTIONS = 2;
export type ReturnType = typeof RETURN_PACKAGES | typeof RETURN_ACTIONS;

/** The most terms one query may hold, as in pkg5. */
export const MAX_TERMS = 100;

/** A query header that is not `case_returntype_count_start_text`: pkg.depotd answers 404. */
export class QueryHeaderError extends Error {}
/** Query text that does not parse, or mixes action and package results: 400. */
export class QueryParseError extends Error {}

export interface SearchRequest {
  caseSensitive: boolean;
  returnType: ReturnType;
  numToReturn: number | null;
  startPoint: number | null;
  text: string;
}

const INTEGER = /^\s*[+-]?\d+\s*$/;

/** Reads `False_2_None_None_text`, the form a pkg client puts in search/1 URLs and forms. */
export function parseSearchRequest(header: string): SearchRequest {
  const parts = header.split('_');
  if (parts.length < 5) {
    throw new QueryHeaderError(
      'A query is expected to have five fields: case sensitivity, return type, number of results to return, ' +
        `the number at which to start returning results, and the text of the query.  The query provided lacked at least one of those fields:\n${header}`,
    );
  }
  const [caseText, typeText, countText, startText] = parts as [string, string, string, string];
  const text = parts.slice(4).join('_');
  const bad = (name: string, value: string) => new QueryHeaderError(`In query ${header}, ${name} had a bad value of '${value}'.`);
  if (caseText !== 'True' && caseText !== 'False') throw bad('case_sensitive', caseText);
  const optionalInt = (name: string, value: string) => {
    if (value === 'None') return null;
    if (!INTEGER.test(value)) throw bad(name, value);
    return Number(value);
  };
  const numToReturn = optionalInt('num_to_return', countText);
  const startPoint = optionalInt('start_point', startText);
  if (!INTEGER.test(typeText)) throw bad('return_type', typeText);
  const returnType = Number(typeText);
  if (returnType !== RETURN_PACKAGES && returnType !== RETURN_ACTIONS) throw bad('return_type', String(returnType));
  const terms = text.split(' ').length;
  if (terms > MAX_TERMS) {
    throw new QueryHeaderError(`The number of terms in the query is ${terms}, which exceeds the maximum supported value of ${MAX_TERMS} terms.`);
  }
  return { caseSensitive: caseText === 'True', returnType, numToReturn, startPoint, text };
}

/** Restrictions of a field term; an empty string or `*` restricts nothing. */
export interface Fields {
  pkgName: string;
  actionType: string;
  key: string;
}

export type QueryNode =
  | { kind: 'term'; term: string; fields: Fields }
  | { kind: 'phrase'; words: string[]; fields: Fields }
  | { kind: 'and' | 'or'; left: QueryNode; right: QueryNode }
  | { kind: 'packages'; query: QueryNode };

const NO_FIELDS: Fields = { pkgName: '', actionType: '', key: '' };

export function returnTypeOf(node: QueryNode): ReturnType {
  switch (node.kind) {
    case 'packages':
      return RETURN_PACKAGES;
    case 'and':
    case 'or':
      return returnTypeOf(node.left);
    default:
      return RETURN_ACTIONS;
  }
}

/** Wraps every action-returning leaf so that the whole query returns packages. */
export function toPackages(node: QueryNode): QueryNode {
  switch (node.kind) {
    case 'packages':
      return node;
    case 'and':
    case 'or':
      return { kind: node.kind, left: toPackages(node.left), right: toPackages(node.right) };
    default:
      return { kind: 'packages', query: node };
  }
}

type Token =
  | { type: 'TERM' | 'AND' | 'OR'; value: string; pos: number }
  | { type: 'FTERM'; fields: Fields; token: string; value: string; pos: number }
  | { type: 'LPAREN' | 'RPAREN' | 'QUOTE1' | 'QUOTE2' | 'LBRACE' | 'RBRACE'; value: string; pos: number };

// Tried in this order at each position, the first match wins (as the reference lexer does).
const LBRACE = /([pP]([kK]([gG][sS]?)?)?)?</y;
const RBRACE = />/y;
const FTERM = /([^'"(\s][^\s]*)?:([^\s('"][^\s]*[^\s)'">]|[^\s()'">])?/y;
const TERM = /[^\s('"][^\s]*[^\s)'">]|[^\s()'"]/y;
const SINGLE: Record<string, Token['type']> = { '(': 'LPAREN', ')': 'RPAREN', "'": 'QUOTE1', '"': 'QUOTE2' };
const RESERVED: Record<string, 'AND' | 'OR'> = { AND: 'AND', OR: 'OR' };

function parseError(text: string, pos: number, near: string): QueryParseError {
  return new QueryParseError(`Could not parse query.\nProblem occurred with: ${near}\t\n\t${text}\n\t${' '.repeat(Math.max(pos - 1, 0))}^`);
}

function matchAt(re: RegExp, text: string, pos: number): string | null {
  re.lastIndex = pos;
  const m = re.exec(text);
  return m && m[0] !== '' ? m[0] : null;
}

/** Splits a colon term into its fields; `\:` keeps a colon inside a field. */
function fieldTerm(value: string, pos: number): Token {
  const fields: string[] = [];
  for (const part of value.split(':')) {
    const last = fields[fields.length - 1];
    if (last !== undefined && last.endsWith('\\')) fields[fields.length - 1] = `${last.slice(0, -1)}:${part}`;
    else fields.push(part);
  }
  const token = fields[fields.length - 1]!;
  if (fields.length === 1) return { type: RESERVED[token] ?? 'TERM', value: token, pos };
  return {
    type: 'FTERM',
    fields: { pkgName: fields[fields.length - 4] ?? '', actionType: fields[fields.length - 3] ?? '', key: fields[fields.length - 2]! },
    token,
    value,
    pos,
  };
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  while (pos < text.length) {
    if (text[pos] === ' ') {
      pos++;
      continue;
    }
    let m: string | null;
    if ((m = matchAt(LBRACE, text, pos))) tokens.push({ type: 'LBRACE', value: m, pos });
    else if ((m = matchAt(RBRACE, text, pos))) tokens.push({ type: 'RBRACE', value: m, pos });
    else if ((m = matchAt(FTERM, text, pos))) tokens.push(fieldTerm(m, pos));
    else if ((m = matchAt(TERM, text, pos))) tokens.push({ type: RESERVED[m] ?? 'TERM', value: m, pos });
    else if ((m = text[pos]!) && SINGLE[m]) tokens.push({ type: SINGLE[m]!, value: m, pos } as Token);
    else {
      throw new QueryParseError(`An unparseable character in query at position : ${pos + 1}\n${text}\n${' '.repeat(pos)}^`);
    }
    pos += m.length;
  }
  return tokens;
}

const STARTS_BASETERM = new Set(['TERM', 'FTERM', 'QUOTE1', 'QUOTE2', 'LPAREN', 'LBRACE']);

/**
 * Parses query text into a tree. Adjacent terms are joined by AND; AND and OR bind equally and
 * to the right, as in the reference grammar.
 */
export function parseQuery(text: string): QueryNode {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const fail = (): never => {
    const t = tokens[i];
    throw parseError(text, t ? t.pos + 1 : text.length + 1, t ? `LexToken(${t.type},'${t.value}',1,${t.pos})` : 'None');
  };
  const expect = (type: Token['type']) => (peek()?.type === type ? tokens[i++]! : fail());

  const combine = (kind: 'and' | 'or', left: QueryNode, right: QueryNode): QueryNode => {
    if (returnTypeOf(left) !== returnTypeOf(right)) {
      const [actions, packages] = returnTypeOf(left) === RETURN_ACTIONS ? [left, right] : [right, left];
      throw new QueryParseError(
        `This expression produces action results:\n\t${describe(actions)}\nThis expression produces package results:\n\t${describe(packages)}\n` +
          "'AND' and 'OR' require those expressions to produce the same type of results.",
      );
    }
    return { kind, left, right };
  };

  const xterm = (): QueryNode => {
    const left = basetermList();
    const op = peek();
    if (op?.type === 'AND' || op?.type === 'OR') {
      i++;
      return combine(op.type === 'AND' ? 'and' : 'or', left, xterm());
    }
    return left;
  };

  const basetermList = (): QueryNode => {
    const first = baseterm();
    return STARTS_BASETERM.has(peek()?.type ?? '') ? combine('and', first, basetermList()) : first;
  };

  const phrase = (): string[] => {
    const quote = tokens[i++]!.type;
    const words: string[] = [];
    while (peek()?.type === 'TERM') words.push(tokens[i++]!.value);
    if (words.length === 0) fail();
    expect(quote);
    return words;
  };

  const fieldLeaf = (fields: Fields, leaf: QueryNode): QueryNode => {
    if (leaf.kind !== 'term' && leaf.kind !== 'phrase') fail();
    return { ...(leaf as Extract<QueryNode, { kind: 'term' | 'phrase' }>), fields };
  };

  const baseterm = (): QueryNode => {
    const t = peek();
    switch (t?.type) {
      case 'TERM':
        i++;
        return { kind: 'term', term: t.value.trim(), fields: NO_FIELDS };
      case 'QUOTE1':
      case 'QUOTE2':
        return { kind: 'phrase', words: phrase(), fields: NO_FIELDS };
      case 'LPAREN': {
        i++;
        const inner = xterm();
        expect('RPAREN');
        return inner;
      }
      case 'LBRACE': {
        i++;
        const inner = xterm();
        expect('RBRACE');
        return { kind: 'packages', query: inner };
      }
      case 'FTERM': {
        i++;
        const next = peek()?.type;
        // A field term takes the term or phrase that follows it as its token when it has none.
        if (t.token === '' && next === 'TERM') return fieldLeaf(t.fields, baseterm());
        if (t.token === '' && (next === 'QUOTE1' || next === 'QUOTE2')) return fieldLeaf(t.fields, baseterm());
        if (t.token === '' && next === 'FTERM') fail();
        return { kind: 'term', term: t.token === '' ? '*' : t.token.trim(), fields: t.fields };
      }
      default:
        return fail();
    }
  };

  if (tokens.length === 0) throw parseError(text, 0, 'None');
  const tree = xterm();
  if (i < tokens.length) fail();
  return tree;
}

/** The query in the reference's own notation, for error messages. */
export function describe(node: QueryNode): string {
  const fields = (f: Fields) => [f.pkgName, f.actionType, f.key].map((v) => (v === '*' ? '' : v.replace(/:/g, '\\:'))).join(':');
  switch (node.kind) {
    case 'term':
      return `${fields(node.fields)}:${node.term}`;
    case 'phrase':
      return `${fields(node.fields)}:'${node.words.join(' ')}'`;
    case 'and':
      return `(${describe(node.left)} AND ${describe(node.right)})`;
    case 'or':
      return `(${describe(node.left)} OR ${describe(node.right)})`;
    case 'packages':
      return `p<${describe(node.query)}>`;
  }
}
