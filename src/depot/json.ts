/** A copy of a JSON value with the keys of every object sorted, as pkg5 writes and signs them. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** JSON as pkg5 writes it for people: sorted keys, two-space indent. */
export function pkgJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2);
}
