// Verifies a pkg(5) file repository against the on-disk format: what the real client checks
// (catalog signatures, manifest and payload hashes) and what the format requires.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pkgQuote } from '../../src/depot/fmri';
import { CATALOG_PART, HASH } from '../../src/depot/repository';
import { attr, parseAction, type Action } from '../../src/depot/manifest';
import { CATALOG_TIMESTAMP, catalogPartOf, catalogSignature, compareVersions, sha1 } from './catalog';

export interface Problem {
  /** The file, relative to the repository root. */
  file: string;
  problem: string;
}

type Json = Record<string, unknown>;

/** An action as a comparable string: type, hash and sorted attributes. */
function normalized(a: Action): string {
  const attrs = [...a.attrs].sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, vs]) => `${k}=${JSON.stringify(vs)}`);
  return [a.type, a.hash ?? '', ...attrs].join(' ');
}

class Checker {
  readonly problems: Problem[] = [];
  constructor(readonly root: string) {}

  report(file: string, problem: string): void {
    this.problems.push({ file: path.relative(this.root, file) || '.', problem });
  }

  readJson(file: string): Json | null {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      this.report(file, 'missing');
      return null;
    }
    try {
      const value = JSON.parse(text) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
      this.report(file, 'is not a JSON object');
    } catch (err) {
      this.report(file, `is not valid JSON: ${(err as Error).message}`);
    }
    return null;
  }

  /** The file's own signature, and its content signed as the client re-signs it. */
  signed(file: string, value: Json): string | null {
    const own = (value._SIGNATURE as { 'sha-1'?: string } | undefined)?.['sha-1'];
    const actual = catalogSignature(value);
    if (!own) {
      this.report(file, 'has no _SIGNATURE; clients cannot verify it');
      return actual;
    }
    if (own !== actual) this.report(file, `signature ${own} does not match its content (${actual}); regenerate the catalog`);
    return actual;
  }

  checkTimestamp(file: string, what: string, value: unknown): void {
    if (typeof value !== 'string' || !CATALOG_TIMESTAMP.test(value)) {
      this.report(file, `${what} "${String(value)}" is not YYYYMMDDTHHMMSS[.ffffff]Z`);
    } else if (/\.0{6}Z$/.test(value)) {
      this.report(file, `${what} "${value}" has a zero fraction; clients re-sign it without one, so the signature fails`);
    }
  }

  checkConfig(): void {
    const file = path.join(this.root, 'pkg5.repository');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      this.report(file, 'missing: this is not a pkg5 repository (version 4)');
      return;
    }
    const repository = text.split(/^\[repository\]/m)[1]?.split(/^\[/m)[0] ?? '';
    const version = /^\s*version\s*=\s*(\d+)/m.exec(repository)?.[1];
    if (version !== '4') this.report(file, `[repository] version is ${version ?? 'missing'}; only version 4 is described here`);
  }

  checkPublisher(pub: string): void {
    const base = path.join(this.root, 'publisher', pub);
    const catalog = path.join(base, 'catalog');
    const attrsFile = path.join(catalog, 'catalog.attrs');
    const attrs = this.readJson(attrsFile);
    if (!attrs) return;
    this.signed(attrsFile, attrs);
    for (const key of ['created', 'last-modified']) this.checkTimestamp(attrsFile, key, attrs[key]);
    const listed = { ...(attrs.parts as Json | undefined), ...(attrs.updates as Json | undefined) } as Record<string, { 'signature-sha-1'?: string; 'last-modified'?: string }>;
    const parts = new Map<string, Json>();
    for (const [name, meta] of Object.entries(listed)) {
      // Names come from the repository under check: one outside the grammar could point anywhere.
      if (!CATALOG_PART.test(name)) {
        this.report(attrsFile, `lists a part named ${JSON.stringify(name)}, which is not a catalog part name`);
        continue;
      }
      const file = path.join(catalog, name);
      this.checkTimestamp(attrsFile, `last-modified of ${name}`, meta['last-modified']);
      const part = this.readJson(file);
      if (!part) continue;
      const signature = this.signed(file, part);
      if (meta['signature-sha-1'] !== signature) this.report(attrsFile, `lists ${name} with signature ${meta['signature-sha-1']}, but its content signs as ${signature}`);
      parts.set(name, part);
    }
    const base0 = parts.get('catalog.base.C');
    if (!base0) {
      if (Number(attrs['package-version-count'] ?? 0) > 0) this.report(attrsFile, 'lists packages but no catalog.base.C');
      return;
    }
    const entries = (base0[pub] ?? {}) as Record<string, Array<{ version: string; 'signature-sha-1'?: string }>>;
    const stems = Object.keys(entries);
    const versions = stems.reduce((n, s) => n + entries[s]!.length, 0);
    if (attrs['package-count'] !== stems.length) this.report(attrsFile, `package-count is ${String(attrs['package-count'])}, catalog.base.C has ${stems.length} packages`);
    if (attrs['package-version-count'] !== versions) this.report(attrsFile, `package-version-count is ${String(attrs['package-version-count'])}, catalog.base.C has ${versions} versions`);
    const partActions = (name: string) => (parts.get(name)?.[pub] ?? {}) as Record<string, Array<{ version: string; actions: string[] }>>;
    const dependency = partActions('catalog.dependency.C');
    const summary = partActions('catalog.summary.C');
    for (const stem of stems) {
      const list = entries[stem]!;
      for (let i = 1; i < list.length; i++) {
        if (compareVersions(list[i - 1]!.version, list[i]!.version) >= 0) {
          this.report(path.join(catalog, 'catalog.base.C'), `versions of ${stem} are not in ascending order (${list[i - 1]!.version} before ${list[i]!.version}); clients take the last as newest`);
        }
      }
      for (const entry of list) this.checkPackage(base, pub, stem, entry, { dependency, summary });
    }
  }

  checkPackage(
    base: string,
    pub: string,
    stem: string,
    entry: { version: string; 'signature-sha-1'?: string },
    parts: Record<'dependency' | 'summary', Record<string, Array<{ version: string; actions: string[] }>>>,
  ): void {
    const file = path.join(base, 'pkg', pkgQuote(stem), pkgQuote(entry.version));
    let manifest: Buffer;
    try {
      manifest = fs.readFileSync(file);
    } catch {
      this.report(file, `missing: the catalog lists ${stem}@${entry.version}`);
      return;
    }
    if (entry['signature-sha-1'] && sha1(manifest) !== entry['signature-sha-1']) {
      this.report(file, `SHA-1 ${sha1(manifest)} differs from the catalog's ${entry['signature-sha-1']}; the client refuses this manifest`);
    }
    const actions = manifest.toString('utf8').replace(/\\\n/g, '').split('\n').map(parseAction).filter((a): a is Action => a !== null);
    const fmri = actions.find((a) => a.type === 'set' && (attr(a, 'name') === 'pkg.fmri' || attr(a, 'name') === 'fmri'));
    const named = fmri && attr(fmri, 'value')?.replace(/^pkg:\/\/[^/]*\/|^pkg:\//, '');
    if (named !== undefined && named !== `${stem}@${entry.version}`) this.report(file, `names itself ${named}, but is stored as ${stem}@${entry.version}`);
    for (const a of actions) {
      if (a.type === 'file') {
        for (const key of ['path', 'owner', 'group', 'mode']) if (!attr(a, key)) this.report(file, `a file action lacks ${key}=`);
      }
      if (a.type === 'license' && !attr(a, 'license')) this.report(file, 'a license action lacks license=');
      if ((a.type === 'file' || a.type === 'license') && a.hash) this.checkPayload(base, file, a);
    }
    for (const part of ['dependency', 'summary'] as const) {
      const expected = actions.filter((a) => catalogPartOf(a) === part && !(attr(a, 'name') ?? '').includes(':')).map(normalized).sort();
      const listed = parts[part][stem]?.find((e) => e.version === entry.version)?.actions ?? [];
      const got = listed.map((l) => parseAction(l)).filter((a): a is Action => a !== null).map(normalized).sort();
      if (expected.join('\n') !== got.join('\n')) {
        this.report(file, `catalog.${part}.C holds ${got.length} action(s) for ${stem}@${entry.version}, the manifest gives ${expected.length}; regenerate the catalog`);
      }
    }
  }

  checkPayload(base: string, manifest: string, a: Action): void {
    const hash = a.hash!;
    if (!HASH.test(hash)) {
      this.report(manifest, `payload hash ${JSON.stringify(hash)} of ${attr(a, 'path') ?? attr(a, 'license')} is not a SHA-1 or SHA-2 hex digest`);
      return;
    }
    const file = path.join(base, 'file', hash.slice(0, 2), hash);
    const legacy = path.join(base, 'file', hash.slice(0, 2), hash.slice(2, 8), hash);
    const stored = fs.existsSync(file) ? file : fs.existsSync(legacy) ? legacy : null;
    if (!stored) {
      this.report(manifest, `payload ${hash} of ${attr(a, 'path') ?? attr(a, 'license')} is not in the file store`);
      return;
    }
    const gz = fs.readFileSync(stored);
    let content: Buffer;
    try {
      content = zlib.gunzipSync(gz);
    } catch {
      this.report(stored, 'is not gzip data');
      return;
    }
    if (sha1(content) !== hash) this.report(stored, `decompresses to content with SHA-1 ${sha1(content)}, not its name`);
    const size = attr(a, 'pkg.size');
    const csize = attr(a, 'pkg.csize');
    const chash = attr(a, 'chash');
    if (size !== undefined && Number(size) !== content.length) this.report(manifest, `pkg.size of ${hash} is ${size}, the content has ${content.length} bytes`);
    if (csize !== undefined && Number(csize) !== gz.length) this.report(manifest, `pkg.csize of ${hash} is ${csize}, the stored file has ${gz.length} bytes`);
    if (chash !== undefined && chash !== sha1(gz)) this.report(manifest, `chash of ${hash} is ${chash}, the stored file hashes to ${sha1(gz)}`);
  }
}

/** Every way the repository at `root` departs from the format; empty when it conforms. */
export function checkRepository(root: string): Problem[] {
  const checker = new Checker(root);
  checker.checkConfig();
  const publishers = path.join(root, 'publisher');
  const names = fs.existsSync(publishers) ? fs.readdirSync(publishers).filter((p) => fs.statSync(path.join(publishers, p)).isDirectory()) : [];
  if (names.length === 0) checker.report(publishers, 'no publisher directory');
  for (const pub of names.sort()) checker.checkPublisher(pub);
  return checker.problems;
}
