/** One action line of a manifest: `type [hash] key=value ...`, values possibly quoted. */
export interface Action {
  type: string;
  hash: string | null;
  attrs: Map<string, string[]>;
}

const HASHED = new Set(['file', 'license', 'signature']);

export function parseAction(line: string): Action | null {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return null;
  let i = 0;
  const word = () => {
    const start = i;
    while (i < text.length && text[i] !== ' ') i++;
    return text.slice(start, i);
  };
  const type = word();
  const attrs = new Map<string, string[]>();
  let hash: string | null = null;
  while (i < text.length) {
    while (text[i] === ' ') i++;
    if (i >= text.length) break;
    const start = i;
    while (i < text.length && text[i] !== '=' && text[i] !== ' ') i++;
    const key = text.slice(start, i);
    if (text[i] !== '=') {
      if (HASHED.has(type) && hash === null) hash = key;
      continue;
    }
    i++;
    let value = '';
    const quote = text[i];
    if (quote === '"' || quote === "'") {
      i++;
      while (i < text.length && text[i] !== quote) {
        if (text[i] === '\\' && (text[i + 1] === quote || text[i + 1] === '\\')) i++;
        value += text[i++];
      }
      i++;
    } else {
      value = word();
    }
    attrs.set(key, [...(attrs.get(key) ?? []), value]);
  }
  return { type, hash, attrs };
}

/** Joins `\` continuation lines and parses every action. */
export function parseManifest(text: string): Action[] {
  return text
    .replace(/\\\n/g, '')
    .split('\n')
    .map(parseAction)
    .filter((a): a is Action => a !== null);
}

export function attr(action: Action, key: string): string | undefined {
  return action.attrs.get(key)?.[0];
}
