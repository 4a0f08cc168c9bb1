// Writes pkg(5) file repositories (format 4) from a description, following the on-disk format
// (pkg5 doc/on-disk-format.txt, doc/catalog-v1.txt) without pkg5's tools.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pkgQuote } from '../../src/depot/fmri';
import { parseAction } from '../../src/depot/manifest';
import { catalogPartOf, catalogTimestamp, compareVersions, sha1, signedCatalogFile } from './catalog';

export interface FileSpec {
  path: string;
  content: Buffer | string;
  mode?: string;
}

export interface VersionSpec {
  /** `release[,build]-branch:timestamp`, timestamp included. */
  version: string;
  summary?: string;
  description?: string;
  /** `Scheme:Category/Subcategory` values of info.classification. */
  classification?: string[];
  dirs?: string[];
  files?: FileSpec[];
  license?: { name: string; text: string };
  /** FMRIs this version requires (`pkg:/stem@version` or a bare stem). */
  depends?: string[];
  /** Extra `set` actions: name → value(s). */
  attributes?: Record<string, string | string[]>;
}

export interface PackageSpec {
  stem: string;
  versions: VersionSpec[];
}

export interface PublisherSpec {
  name: string;
  packages: PackageSpec[];
}

export interface RepositorySpec {
  publishers: PublisherSpec[];
  /** The default publisher (`prefix` of pkg5.repository); the first one when not given. */
  defaultPublisher?: string;
  /** When the catalogs were created and last modified. */
  created: Date;
  lastModified: Date;
}

export class RepositoryGenerationError extends Error {}

const STEM = /^[A-Za-z0-9_+-][A-Za-z0-9_+.\-/]*$/;
const VERSION = /^[0-9][0-9.]*(,[0-9][0-9.]*)?(-[0-9][0-9.]*)?:[0-9]{8}T[0-9]{6}Z$/;
const PUBLISHER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A manifest attribute: quoted when it holds a space, a quote, `$(` or nothing. */
function attrValue(value: string): string {
  if (value !== '' && !/[\s'"]|\$\(/.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function action(type: string, attrs: Record<string, string | string[]>, hash?: string): string {
  const parts = Object.keys(attrs)
    .sort()
    .flatMap((k) => ([] as string[]).concat(attrs[k]!).map((v) => `${k}=${attrValue(v)}`));
  return [type, ...(hash ? [hash] : []), ...parts].join(' ');
}

/** gzip as pkg5 stores payloads: level 9, no name, mtime 0, OS byte 255. */
function storedForm(content: Buffer): Buffer {
  const gz = zlib.gzipSync(content, { level: 9 });
  gz[9] = 0xff;
  return gz;
}

class PayloadStore {
  private readonly written = new Set<string>();
  constructor(private readonly dir: string) {}

  /** Stores content under its SHA-1 and returns the attributes a file or license action carries. */
  put(content: Buffer): { hash: string; attrs: Record<string, string> } {
    const hash = sha1(content);
    const gz = storedForm(content);
    if (!this.written.has(hash)) {
      const file = path.join(this.dir, hash.slice(0, 2), hash);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, gz, { mode: 0o644 });
      this.written.add(hash);
    }
    return { hash, attrs: { chash: sha1(gz), 'pkg.csize': String(gz.length), 'pkg.size': String(content.length) } };
  }
}

function manifestText(pub: string, stem: string, v: VersionSpec, store: PayloadStore): string {
  const lines = [action('set', { name: 'pkg.fmri', value: `pkg://${pub}/${stem}@${v.version}` })];
  if (v.summary !== undefined) lines.push(action('set', { name: 'pkg.summary', value: v.summary }));
  if (v.description !== undefined) lines.push(action('set', { name: 'pkg.description', value: v.description }));
  for (const c of v.classification ?? []) lines.push(action('set', { name: 'info.classification', value: c }));
  for (const [name, value] of Object.entries(v.attributes ?? {})) lines.push(action('set', { name, value }));
  for (const dir of v.dirs ?? []) lines.push(action('dir', { group: 'bin', mode: '0755', owner: 'root', path: dir }));
  for (const f of v.files ?? []) {
    const { hash, attrs } = store.put(Buffer.from(f.content));
    lines.push(action('file', { ...attrs, group: 'bin', mode: f.mode ?? '0444', owner: 'root', path: f.path.replace(/^\/+/, '') }, hash));
  }
  if (v.license) {
    const { hash, attrs } = store.put(Buffer.from(v.license.text));
    lines.push(action('license', { ...attrs, license: v.license.name }, hash));
  }
  for (const d of v.depends ?? []) lines.push(action('depend', { fmri: d.startsWith('pkg:/') ? d : `pkg:/${d}`, type: 'require' }));
  return `${lines.join('\n')}\n`;
}

function check(spec: RepositorySpec): void {
  if (spec.publishers.length === 0) throw new RepositoryGenerationError('a repository needs at least one publisher');
  const names = new Set<string>();
  for (const p of spec.publishers) {
    if (!PUBLISHER.test(p.name)) throw new RepositoryGenerationError(`publisher "${p.name}" must be letters, digits, ".", "_" or "-"`);
    if (names.has(p.name)) throw new RepositoryGenerationError(`publisher "${p.name}" is given twice`);
    names.add(p.name);
    const stems = new Set<string>();
    for (const pkg of p.packages) {
      if (!STEM.test(pkg.stem) || pkg.stem.split('/').includes('..')) throw new RepositoryGenerationError(`package name "${pkg.stem}" is not a valid pkg(5) stem`);
      if (stems.has(pkg.stem)) throw new RepositoryGenerationError(`package "${pkg.stem}" of ${p.name} is given twice; list its versions together`);
      stems.add(pkg.stem);
      if (pkg.versions.length === 0) throw new RepositoryGenerationError(`package "${pkg.stem}" has no version`);
      for (const v of pkg.versions) {
        if (!VERSION.test(v.version)) throw new RepositoryGenerationError(`version "${v.version}" of ${pkg.stem} must be release[,build][-branch]:YYYYMMDDTHHMMSSZ`);
      }
    }
  }
  if (spec.defaultPublisher !== undefined && !names.has(spec.defaultPublisher)) {
    throw new RepositoryGenerationError(`default publisher "${spec.defaultPublisher}" is not one of ${[...names].join(', ')}`);
  }
}

/** Writes a catalog part and gives its entry for catalog.attrs. */
function writePart(dir: string, name: string, content: Record<string, unknown>, lastModified: string, mtime: Date): [string, { 'last-modified': string; 'signature-sha-1': string }] {
  const { text, signature } = signedCatalogFile(content);
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode: 0o644 });
  fs.utimesSync(file, mtime, mtime);
  return [name, { 'last-modified': lastModified, 'signature-sha-1': signature }];
}

function writePublisher(root: string, pub: PublisherSpec, spec: RepositorySpec): void {
  const base = path.join(root, 'publisher', pub.name);
  const store = new PayloadStore(path.join(base, 'file'));
  const parts: Record<'base' | 'dependency' | 'summary', Record<string, Array<Record<string, unknown>>>> = { base: {}, dependency: {}, summary: {} };
  let versions = 0;
  for (const pkg of [...pub.packages].sort((a, b) => (a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0))) {
    const dir = path.join(base, 'pkg', pkgQuote(pkg.stem));
    fs.mkdirSync(dir, { recursive: true });
    for (const v of [...pkg.versions].sort((a, b) => compareVersions(a.version, b.version))) {
      const text = manifestText(pub.name, pkg.stem, v, store);
      fs.writeFileSync(path.join(dir, pkgQuote(v.version)), text, { mode: 0o644 });
      versions++;
      (parts.base[pkg.stem] ??= []).push({ 'signature-sha-1': sha1(text), version: v.version });
      const byPart = { dependency: [] as string[], summary: [] as string[] };
      for (const line of text.split('\n')) {
        const a = parseAction(line);
        const part = a && catalogPartOf(a);
        if (part) byPart[part].push(line);
      }
      for (const part of ['dependency', 'summary'] as const) {
        if (byPart[part].length) (parts[part][pkg.stem] ??= []).push({ actions: byPart[part], version: v.version });
      }
    }
  }
  const catalog = path.join(base, 'catalog');
  fs.mkdirSync(catalog, { recursive: true });
  const stamp = catalogTimestamp(spec.lastModified);
  const entries = Object.fromEntries(
    (['base', 'dependency', 'summary'] as const)
      .filter((p) => p === 'base' || Object.keys(parts[p]).length > 0)
      .map((p) => writePart(catalog, `catalog.${p}.C`, Object.keys(parts[p]).length ? { [pub.name]: parts[p] } : {}, stamp, spec.lastModified)),
  );
  writePart(
    catalog,
    'catalog.attrs',
    {
      created: catalogTimestamp(spec.created),
      'last-modified': stamp,
      'package-count': Object.keys(parts.base).length,
      'package-version-count': versions,
      parts: entries,
      updates: {},
      version: 1,
    },
    stamp,
    spec.lastModified,
  );
}

/** Writes a repository into `root`, which must not exist or be empty: nothing is overwritten. */
export function generateRepository(root: string, spec: RepositorySpec): void {
  check(spec);
  if (fs.existsSync(root) && fs.readdirSync(root).length > 0) {
    throw new RepositoryGenerationError(`${root} exists and is not empty; give a new directory (nothing is overwritten)`);
  }
  const prefix = spec.defaultPublisher ?? spec.publishers[0]!.name;
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(
    path.join(root, 'pkg5.repository'),
    `[publisher]\nprefix = ${prefix}\n\n[repository]\ntrust-anchor-directory = /etc/certs/CA/\nversion = 4\ncheck-certificate-revocation = False\nsignature-required-names = []\n\n[CONFIGURATION]\nversion = 4\n\n`,
    { mode: 0o644 },
  );
  for (const pub of spec.publishers) writePublisher(root, pub, spec);
}
