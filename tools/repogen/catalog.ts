// The signed JSON of pkg(5) catalogs (pkg5 doc/catalog-v1.txt): canonical
// form, signatures, timestamps, version order, and which actions go to which catalog part.
import crypto from 'node:crypto';
import { sortKeys } from '../../src/depot/json';
import { attr, type Action } from '../../src/depot/manifest';

export const sha1 = (data: string | Buffer) => crypto.createHash('sha1').update(data).digest('hex');

/** Keys sorted at every level, no spaces, ASCII only (\uXXXX, upper-case hex as rapidjson writes), newline. */
export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(sortKeys(value)).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
  return `${text}\n`;
}

/** The signature of a catalog object: SHA-1 of its canonical form without `_SIGNATURE`. */
export function catalogSignature(value: Record<string, unknown>): string {
  const { _SIGNATURE: _ignored, ...content } = value;
  return sha1(canonicalJson(content));
}

/** A catalog file's bytes: the canonical form with its own signature as the last key. */
export function signedCatalogFile(value: Record<string, unknown>): { text: string; signature: string } {
  const signature = catalogSignature(value);
  const canon = canonicalJson(value);
  const sig = `"_SIGNATURE":{"sha-1":"${signature}"}}\n`;
  const text = canon === '{}\n' ? `{${sig}` : `${canon.slice(0, -2)},${sig}`;
  return { text, signature };
}

/** A catalog timestamp: `YYYYMMDDTHHMMSS[.ffffff]Z`, the fraction only when not zero. */
export function catalogTimestamp(date: Date): string {
  const base = date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
  const fraction = date.getUTCMilliseconds() * 1000;
  return fraction === 0 ? `${base}Z` : `${base}.${String(fraction).padStart(6, '0')}Z`;
}

export const CATALOG_TIMESTAMP = /^\d{8}T\d{6}(\.\d{6})?Z$/;

const dotted = (s: string | undefined) => (s ? s.split('.').map(Number) : []);

function compareDotted(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** pkg(5) version order: release, then build release, branch and timestamp. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^([^,:-]*)(?:,([^:-]*))?(?:-([^:]*))?(?::(.*))?$/.exec(v) ?? [];
    return { release: dotted(m[1]), build: dotted(m[2]), branch: dotted(m[3]), time: m[4] ?? '' };
  };
  const x = parse(a);
  const y = parse(b);
  return compareDotted(x.release, y.release) || compareDotted(x.build, y.build) || compareDotted(x.branch, y.branch) || (x.time < y.time ? -1 : x.time > y.time ? 1 : 0);
}

const DEPENDENCY_SET = /^(variant\.|facet\.|pkg\.depend\.)/;

/** Which catalog part an action of a manifest belongs to, if any. */
export function catalogPartOf(action: Action): 'dependency' | 'summary' | null {
  if (action.type === 'depend') return 'dependency';
  if (action.type !== 'set') return null;
  const name = attr(action, 'name') ?? '';
  if (name === 'pkg.fmri' || name === 'fmri') return null;
  if (DEPENDENCY_SET.test(name) || name === 'pkg.obsolete' || name === 'pkg.renamed') return 'dependency';
  return 'summary';
}
