import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../runtime';
import { parseAction } from '../manifest';
import type { Repository } from '../repository';
import { indexEntries } from './tokens';

/** Where a token occurs: one package, one (action type, key, shown value), its manifest lines. */
export interface Posting {
  fmri: number;
  actionType: string;
  key: string;
  value: string;
  /** Byte offsets of the matching lines in the package's manifest. */
  offsets: number[];
}

/** Bumped whenever the stored form changes, so an old file is rebuilt, never misread. */
const FORMAT = 2;

/**
 * The inverted index of one publisher of one repository: token → postings, with the packages
 * (`stem@version`, ascending) whose manifests the offsets point into.
 */
export class PublisherIndex {
  readonly sortedTokens: string[];
  private lowerCase: Map<string, string[]> | null = null;

  constructor(
    readonly source: string,
    readonly fmris: string[],
    readonly tokens: Map<string, Posting[]>,
  ) {
    this.sortedTokens = [...tokens.keys()].sort(byCodePoint);
  }

  /** Tokens equal to `term` ignoring case: the common query, answered without a scan. */
  caseInsensitive(term: string): string[] {
    if (!this.lowerCase) {
      this.lowerCase = new Map();
      for (const t of this.sortedTokens) {
        const key = t.toLowerCase();
        const list = this.lowerCase.get(key);
        if (list) list.push(t);
        else this.lowerCase.set(key, [t]);
      }
    }
    return this.lowerCase.get(term.toLowerCase()) ?? [];
  }

  toJSON(): unknown {
    const strings = new Map<string, number>();
    const id = (s: string) => {
      let n = strings.get(s);
      if (n === undefined) strings.set(s, (n = strings.size));
      return n;
    };
    const tokens = this.sortedTokens.map((t) => [t, this.tokens.get(t)!.map((p) => [p.fmri, id(p.actionType), id(p.key), id(p.value), ...p.offsets])]);
    return { format: FORMAT, source: this.source, fmris: this.fmris, strings: [...strings.keys()], tokens };
  }

  static fromJSON(data: unknown): PublisherIndex | null {
    const d = data as { format?: number; source?: string; fmris?: string[]; strings?: string[]; tokens?: Array<[string, number[][]]> };
    if (d?.format !== FORMAT || typeof d.source !== 'string' || !Array.isArray(d.fmris) || !Array.isArray(d.strings) || !Array.isArray(d.tokens)) return null;
    const s = d.strings;
    const tokens = new Map<string, Posting[]>();
    for (const [token, postings] of d.tokens) {
      tokens.set(
        token,
        postings.map(([fmri, at, key, value, ...offsets]) => ({ fmri: fmri!, actionType: s[at!]!, key: s[key!]!, value: s[value!]!, offsets })),
      );
    }
    return new PublisherIndex(d.source, d.fmris, tokens);
  }
}

export const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What the index of a publisher was built from: the catalog's attributes, byte for byte. */
export async function catalogSource(repo: Repository, pub: string): Promise<string> {
  const attrs = path.join(repo.root, 'publisher', pub, 'catalog', 'catalog.attrs');
  const data = await fs.promises.readFile(attrs).catch(() => Buffer.alloc(0));
  return crypto.createHash('sha1').update(data).digest('hex');
}

/** Reads every manifest of the publisher's catalog and indexes each action line. */
export async function buildIndex(repo: Repository, pub: string, source: string, log: Logger): Promise<PublisherIndex> {
  const fmris: string[] = [];
  const tokens = new Map<string, Posting[]>();
  // One copy of each repeated string (action types, keys, shown values) instead of one per line.
  const strings = new Map<string, string>();
  const intern = (s: string) => {
    const known = strings.get(s);
    if (known !== undefined) return known;
    strings.set(s, s);
    return s;
  };
  const packages = repo.packages(pub);
  for (const stem of [...packages.keys()].sort(byCodePoint)) {
    for (const version of packages.get(stem)!) {
      const file = repo.manifestPath(pub, { publisher: null, stem, version, complete: true });
      let manifest: Buffer;
      try {
        manifest = await fs.promises.readFile(file);
      } catch (err) {
        log.warn(`search index of ${pub}: ${stem}@${version} is in the catalog but its manifest is unreadable (${(err as Error).message})`);
        continue;
      }
      const fmri = fmris.push(`${stem}@${version}`) - 1;
      const found = new Map<string, Posting>();
      let offset = 0;
      for (const line of manifest.toString('utf8').split('\n')) {
        const action = parseAction(line);
        if (action) {
          for (const e of indexEntries(action)) {
            const id = `${e.token}\0${e.actionType}\0${e.key}\0${e.value}`;
            const posting = found.get(id);
            if (posting) {
              if (posting.offsets[posting.offsets.length - 1] !== offset) posting.offsets.push(offset);
              continue;
            }
            const fresh = { fmri, actionType: intern(e.actionType), key: intern(e.key), value: intern(e.value), offsets: [offset] };
            found.set(id, fresh);
            const list = tokens.get(e.token);
            if (list) list.push(fresh);
            else tokens.set(e.token, [fresh]);
          }
        }
        offset += Buffer.byteLength(line) + 1;
      }
    }
  }
  return new PublisherIndex(source, fmris, tokens);
}
