import fs from 'node:fs';
import path from 'node:path';
import { pkgQuote, type Fmri } from './fmri';

/** A SHA-1 (or longer SHA-2) content hash as the file store names files. */
export const HASH = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
/** Catalog part names pkg5 writes. */
export const CATALOG_PART = /^(catalog\.attrs|catalog\.(base|dependency|summary)\.[A-Za-z0-9_.@-]+|update\.[0-9]{8}T[0-9]{2}Z\.[A-Za-z0-9_.@-]+)$/;
const PUBLISHER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class RepositoryError extends Error {}

/**
 * A pkg5 file repository (version 4), read-only. Every path it returns is built from names that
 * were checked against the format's grammar, so no request can name a file outside the root.
 */
export class Repository {
  readonly publishers: string[];
  readonly defaultPublisher: string | null;
  /** Each publisher's file store, joined once: file/1 looks a payload up per request. */
  private readonly fileStores: Map<string, string>;

  constructor(readonly root: string) {
    const config = path.join(root, 'pkg5.repository');
    let text: string;
    try {
      text = fs.readFileSync(config, 'utf8');
    } catch {
      throw new RepositoryError(`${root} is not a pkg5 repository: ${config} is missing`);
    }
    const prefix = /^\s*prefix\s*=\s*(\S+)\s*$/m.exec(text.split(/^\[repository\]/m)[0] ?? '')?.[1] ?? null;
    const pubDir = path.join(root, 'publisher');
    this.publishers = fs.existsSync(pubDir) ? fs.readdirSync(pubDir).filter((p) => PUBLISHER.test(p)).sort() : [];
    this.defaultPublisher = prefix ?? this.publishers[0] ?? null;
    this.fileStores = new Map(this.publishers.map((p) => [p, path.join(root, 'publisher', p, 'file')]));
  }

  hasPublisher(pub: string): boolean {
    return this.publishers.includes(pub);
  }

  /** The repository's configuration as pkg5.repository states it, for status/0. */
  configuration(): { version: number; [key: string]: unknown } {
    const text = fs.readFileSync(path.join(this.root, 'pkg5.repository'), 'utf8');
    const section = (name: string) => {
      const body = text.split(new RegExp(`^\\[${name}\\]`, 'm'))[1]?.split(/^\[/m)[0] ?? '';
      const out: Record<string, unknown> = {};
      for (const line of body.split('\n')) {
        const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*(.*?)\s*$/.exec(line);
        if (!m) continue;
        const v = m[2]!;
        out[m[1]!] = v === 'True' ? true : v === 'False' ? false : /^\d+$/.test(v) ? Number(v) : v === '[]' ? [] : v;
      }
      return out;
    };
    const repository = section('repository');
    return { publisher: section('publisher'), repository, version: Number(repository.version ?? 4) };
  }

  catalogPart(pub: string, name: string): string | null {
    return CATALOG_PART.test(name) ? path.join(this.root, 'publisher', pub, 'catalog', name) : null;
  }

  catalogAttrs(pub: string): CatalogAttrs | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.root, 'publisher', pub, 'catalog', 'catalog.attrs'), 'utf8')) as CatalogAttrs;
    } catch {
      return null;
    }
  }

  /** Package versions of the base catalog part: stem → versions. */
  packages(pub: string): Map<string, string[]> {
    const out = new Map<string, string[]>();
    try {
      const base = JSON.parse(fs.readFileSync(path.join(this.root, 'publisher', pub, 'catalog', 'catalog.base.C'), 'utf8')) as Record<string, unknown>;
      const entries = (base[pub] ?? {}) as Record<string, Array<{ version: string }>>;
      for (const [stem, versions] of Object.entries(entries)) out.set(stem, versions.map((v) => v.version));
    } catch {
      // No catalog yet: no packages.
    }
    return out;
  }

  manifestPath(pub: string, fmri: Fmri): string {
    return path.join(this.root, 'publisher', pub, 'pkg', pkgQuote(fmri.stem), pkgQuote(fmri.version));
  }

  filePath(pub: string, hash: string): string | null {
    const store = this.fileStores.get(pub);
    return store !== undefined && HASH.test(hash) ? `${store}/${hash.slice(0, 2)}/${hash}` : null;
  }

  pubP5i(pub: string): unknown {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.root, 'publisher', pub, 'pub.p5i'), 'utf8'));
    } catch {
      return null;
    }
  }
}

export interface CatalogAttrs {
  'last-modified': string;
  'package-count': number;
  'package-version-count': number;
  [key: string]: unknown;
}
