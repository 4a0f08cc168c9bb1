/** True when a search term holds a shell wildcard (`*`, `?` or `[...]`). */
export function hasWildcard(term: string): boolean {
  return /[*?[]/.test(term);
}

/** True when a term is nothing but `*` and `?`: it matches every token. */
export function onlyWildcards(term: string): boolean {
  return !/[^*?]/.test(term);
}

/** A shell pattern as an anchored regular expression, with Python fnmatch's rules for `[...]`. */
export function globToRegExp(pattern: string, caseSensitive: boolean): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        out += '\\[';
      } else {
        const negate = pattern[i + 1] === '!';
        const body = pattern.slice(negate ? i + 2 : i + 1, j).replace(/[\\\]^[]/g, '\\$&');
        out += `[${negate ? '^' : ''}${body}]`;
        i = j;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^(?:${out})$`, caseSensitive ? '' : 'i');
}
