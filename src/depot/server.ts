import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../runtime';
import { formatFmri, FmriError, parseFmri, type Fmri } from './fmri';
import { logEscape } from './accesslog';
import type { LoginVerdict } from './admin-auth';
import { AnswerCache, sendAnswer } from './answers';
import { cacheHeaders, DAY, HttpError, httpDate, safeDecode, searchUnavailable, sendBody, sendError, sendFile, sentOr404, YEAR } from './http';
import { FileCache } from './filecache';
import { packageInfo } from './info';
import { pkgJson } from './json';
import { Glob } from './glob';
import type { Mount } from './mounts';
import type { Request } from './request';
import type { SearchService } from './search/service';

const TEXT = 'text/plain;charset=utf-8';
const P5I = 'application/vnd.pkg5.info';
/** The repository's refresh interval caps catalog and publisher caching, as in pkg.depotd. */
const REFRESH_SECONDS = 14400;

const VERSIONS: Record<string, number[]> = {
  versions: [0], catalog: [0, 1], file: [0, 1, 2], info: [0], manifest: [0, 1], p5i: [0], publisher: [0, 1], search: [0, 1], status: [0], admin: [0],
};
/** Publication operations: a read-only depot refuses them. */
const WRITE_OPS = new Set(['open', 'append', 'add', 'close', 'abandon', 'index']);

const VERSIONS_BODY = `pkg-server unknown\n${Object.entries(VERSIONS)
  .filter(([op]) => op !== 'admin')
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([op, v]) => `${op} ${v.join(' ')}`)
  .join('\n')}\n`;

export const DEFAULT_CACHE_MIB = 32;

export interface AdminAuth {
  authenticate(user: string, password: string, address: string): Promise<LoginVerdict>;
}

export interface DepotOptions {
  mounts: () => Mount[];
  log: Logger;
  accessLog?: (line: string) => void;
  admin: AdminAuth | null;
  /** admin/0 logins accepted over plain HTTP too, where the password crosses the network in clear. */
  adminOverHttp?: boolean;
  /** The memory for repository files kept to answer from (MiB); answers held as strings take a quarter more. */
  cacheMiB?: number;
  /** Null when the flavor has no search or it is turned off: search answers 503. */
  search: SearchService | null;
}

/** True when the request came over TLS. */
const encrypted = (req: http.IncomingMessage) => (req.socket as TLSSocket).encrypted === true;

/** True when the request announces a body (its length may still be on its way). */
export function carriesBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
}

function isoFromCatalog(stamp: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(stamp);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}+00:00` : stamp;
}

export class Depot {
  private readonly requests = { catalog: 0, file: 0, manifests: 0 };
  private readonly files: FileCache;
  private readonly answers: AnswerCache;
  /** Per connection, its bytes written when its last answer finished: the access log's byte count. */
  private readonly sentBefore = new WeakMap<net.Socket, number>();

  constructor(private readonly options: DepotOptions) {
    const cacheBytes = (options.cacheMiB ?? DEFAULT_CACHE_MIB) * 1024 * 1024;
    this.files = new FileCache(cacheBytes);
    // Bodies kept a second time as strings, for the quickest answers: a quarter of the budget.
    this.answers = new AnswerCache(this.files, cacheBytes / 4);
  }

  /** Forgets cached files: the repository list was reloaded. */
  reloaded(): void {
    this.files.clear();
    this.answers.clear();
  }

  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const started = Date.now();
    res.on('finish', () => this.logAccess(req, res, started, this.sentSinceLastAnswer(req.socket)));
    const remembered = this.answers.lookup(req);
    if (remembered) {
      this.requests[remembered.counted]++;
      sendAnswer(res, remembered.prepared);
      return;
    }
    // Most answers complete synchronously; only those that wait on the disk return a promise.
    let answer: void | Promise<void>;
    try {
      answer = this.dispatch(req, res);
    } catch (err) {
      this.fail(req, res, err);
      return;
    }
    answer?.catch((err: unknown) => this.fail(req, res, err));
  };

  /**
   * Bytes written to a connection since its previous answer finished: answers on one connection
   * go out one after another, so this is the answer just finished, headers included.
   */
  private sentSinceLastAnswer(socket: net.Socket): number {
    const total = socket.bytesWritten;
    const sent = total - (this.sentBefore.get(socket) ?? 0);
    this.sentBefore.set(socket, total);
    return sent;
  }

  private fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    const httpError = err instanceof HttpError ? err : new HttpError(500, 'Internal error');
    if (!(err instanceof HttpError)) this.options.log.error(`${req.url}: ${(err as Error).stack ?? err}`);
    // A body left unread would hold the connection until the client sends it all: close instead.
    if (!res.headersSent && carriesBody(req)) res.setHeader('Connection', 'close');
    if (!res.headersSent) sendError(res, httpError, req.method === 'HEAD');
    else res.destroy();
  }

  /** One line per request: client, time, request, status, bytes sent with headers (Apache's %O), agent. */
  private logAccess(req: http.IncomingMessage, res: http.ServerResponse, started: number, sent: number): void {
    if (!this.options.accessLog) return;
    this.options.accessLog(
      `${req.socket.remoteAddress ?? '-'} - - [${httpDate(started)}] "${req.method} ${logEscape(req.url ?? '')} HTTP/${req.httpVersion}" ${res.statusCode} ${sent} "${logEscape(req.headers['user-agent'] ?? '-')}"\n`,
    );
  }

  private dispatch(req: http.IncomingMessage, res: http.ServerResponse): void | Promise<void> {
    const head = req.method === 'HEAD';
    const url = req.url ?? '/';
    const rawPath = url.split('?')[0]!;
    if (rawPath.includes('\0') || rawPath.length > 8192) throw new HttpError(400, 'Malformed request path.');
    const readOnlyRefusal = () => new HttpError(req.method === 'POST' || req.method === 'PUT' ? 400 : 405, 'This depot is read-only: publication is not supported.');
    // A POST is a search with several queries; every other writing method is publication.
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') throw readOnlyRefusal();
    const segments = rawPath.split('/').filter((s) => s !== '');
    const mounts = this.options.mounts();
    let mount = mounts.find((m) => m.prefix !== null && m.prefix === segments[0]);
    if (mount) segments.shift();
    else mount = mounts.find((m) => m.prefix === null);
    if (!mount) throw new HttpError(404, `The path '${rawPath}' was not found.`);
    let publisher: string | null = null;
    const known = (s: string | undefined) => s !== undefined && (s in VERSIONS || WRITE_OPS.has(s));
    if (segments.length > 1 && !known(segments[0])) {
      const candidate = safeDecode(segments[0]!);
      if (!known(segments[1])) throw new HttpError(404, `The path '${rawPath}' was not found.`);
      if (!mount.repo.hasPublisher(candidate)) throw new HttpError(400, `Unknown publisher: ${candidate}`);
      publisher = candidate;
      segments.shift();
    }
    const op = segments.shift();
    if (!known(op)) throw new HttpError(404, `The path '${rawPath}' was not found.`);
    if (WRITE_OPS.has(op!)) throw new HttpError(404, 'Operation not supported in current server mode.');
    const versionText = segments.shift();
    if (versionText === undefined) throw new HttpError(400, 'Missing version');
    if (!/^\d+$/.test(versionText)) throw new HttpError(400, 'Non-integer version');
    const version = Number(versionText);
    if (!VERSIONS[op!]!.includes(version)) throw new HttpError(404, `Version '${version}' not supported for operation '${op}'`);
    if (req.method === 'POST' && !(op === 'search' && version === 1)) throw readOnlyRefusal();
    if (req.method !== 'POST' && carriesBody(req)) throw new HttpError(400, `${req.method} takes no request body here; send the request without one.`);
    const r: Request = { req, res, head, mount, publisher, op: op!, version, args: segments, rawPath, files: this.files };
    switch (r.op) {
      case 'versions':
        return sendBody(res, head, TEXT, VERSIONS_BODY, cacheHeaders(300));
      case 'publisher':
        return this.publisher(r);
      case 'status':
        return this.status(r);
      case 'catalog':
        return this.catalog(r);
      case 'manifest':
        return this.manifest(r);
      case 'file':
        return this.file(r);
      case 'info':
        return this.info(r);
      case 'p5i':
        return this.p5i(r);
      case 'search':
        // Without search the depot answers as pkg.depotd does for a repository without an index.
        if (!this.options.search) throw searchUnavailable(r.version);
        return this.options.search.answer(r, this.publisherOf(r), Math.min(DAY, REFRESH_SECONDS));
      case 'admin':
        return this.admin(r);
    }
  }

  private publisherOf(r: Request): string {
    const pub = r.publisher ?? r.mount.repo.defaultPublisher;
    if (!pub) throw new HttpError(404, 'This repository has no publisher.');
    return pub;
  }

  private origin(r: Request): string | null {
    if (r.mount.prefix === null) return null;
    return `${encrypted(r.req) ? 'https' : 'http'}://${r.req.headers.host ?? 'localhost'}/${r.mount.prefix}/`;
  }

  private publisherEntry(r: Request, pub: string, packages: string[] = []): Record<string, unknown> {
    const stored = r.mount.repo.pubP5i(pub) as { publishers?: Array<Record<string, unknown>> } | null;
    const entry = stored?.publishers?.find((p) => p.name === pub) ?? { alias: null, name: pub, repositories: [] };
    const origin = this.origin(r);
    const repositories = origin
      ? [{ collection_type: 'core', description: '', legal_uris: [], mirrors: [], name: '', origins: [origin], refresh_seconds: REFRESH_SECONDS, registration_uri: '', related_uris: [] }]
      : ((entry.repositories as unknown[]) ?? []);
    return { ...entry, packages, repositories };
  }

  private publisher(r: Request): void {
    const pubs = r.publisher ? [r.publisher] : r.mount.repo.publishers;
    const body = pkgJson({ packages: [], publishers: pubs.map((p) => this.publisherEntry(r, p)), version: 1 });
    sendBody(r.res, r.head, P5I, body, cacheHeaders(Math.min(YEAR, REFRESH_SECONDS)));
  }

  private status(r: Request): void {
    const repo = r.mount.repo;
    const publishers: Record<string, unknown> = {};
    for (const pub of repo.publishers) {
      const attrs = repo.catalogAttrs(pub);
      publishers[pub] = {
        'last-catalog-update': attrs?.['last-modified'] ?? '',
        'package-count': attrs?.['package-count'] ?? 0,
        'package-version-count': attrs?.['package-version-count'] ?? 0,
        status: this.options.search?.indexing(repo, pub) ? 'indexing' : 'online',
      };
    }
    const { version, ...configuration } = repo.configuration();
    const body = pkgJson({
      repository: { configuration, publishers, requests: { ...this.requests }, status: 'online', version },
      version: 1,
    });
    sendBody(r.res, r.head, 'application/json; charset=utf-8', body, cacheHeaders(300));
  }

  private catalog(r: Request): void | Promise<void> {
    const pub = this.publisherOf(r);
    this.requests.catalog++;
    if (r.version === 0) {
      const attrs = r.mount.repo.catalogAttrs(pub);
      const lines = [`S Last-Modified: ${isoFromCatalog(attrs?.['last-modified'] ?? '')}`, 'S prefix: CRSV', `S npkgs: ${attrs?.['package-count'] ?? 0}`];
      const fmris: string[] = [];
      for (const [stem, versions] of r.mount.repo.packages(pub)) for (const v of versions) fmris.push(`V pkg:/${stem}@${v}`);
      const body = `${[...lines, ...fmris.sort()].join('\n')}\n`;
      return sendBody(r.res, r.head, TEXT, body, {
        ...cacheHeaders(Math.min(DAY, REFRESH_SECONDS)),
        'X-Catalog-Type': 'full',
        'Last-Modified': isoFromCatalog(attrs?.['last-modified'] ?? ''),
      });
    }
    if (r.args.length === 0) throw new HttpError(403, 'Directory listing not allowed.');
    const name = safeDecode(r.args.join('/'));
    const file = r.args.length === 1 ? r.mount.repo.catalogPart(pub, name) : null;
    const missing = () => new HttpError(404, `The path '${r.rawPath}' was not found.`);
    if (!file) throw missing();
    return sentOr404(sendFile(r.req, r.res, this.files, file, TEXT, Math.min(DAY, REFRESH_SECONDS), { ranges: true, remember: this.answers.rememberer(r.req.url, 'catalog') }), missing);
  }

  /** The decoded FMRI of a request's path. */
  private fmriText(r: Request): string {
    const parts = r.args.map(safeDecode);
    // A proxy that decoded the slashes of pkg://pub/... splits it after 'pkg:'.
    if (parts.length > 1 && parts[0] === 'pkg:' && r.mount.repo.hasPublisher(parts[1]!)) parts[0] = 'pkg:/';
    return parts.join('/');
  }

  private fmriArg(r: Request): Fmri {
    if (r.args.length === 0) throw new HttpError(403, 'Directory listing not allowed.');
    try {
      return parseFmri(this.fmriText(r));
    } catch (err) {
      if (err instanceof FmriError) throw new HttpError(400, err.message);
      throw err;
    }
  }

  /**
   * The publishers a package request may be answered from, as pkg.depotd chooses them: the one
   * in the path, else the one the FMRI names, else every publisher of the repository in turn.
   */
  private publishersFor(r: Request, named: string | null): string[] {
    const pub = r.publisher ?? named;
    if (pub) return r.mount.repo.hasPublisher(pub) ? [pub] : [];
    return r.mount.repo.publishers;
  }

  private manifest(r: Request): void | Promise<void> {
    const fmri = this.fmriArg(r);
    this.requests.manifests++;
    const missing = () => new HttpError(404, `No manifest could be found for the FMRI: '${formatFmri(fmri)}'.`);
    if (!fmri.complete) throw missing();
    // A manifest never changes under its FMRI, whose version carries the publication time.
    const options = { ranges: true, immutable: true, remember: this.answers.rememberer(r.req.url, 'manifests') };
    const paths = this.publishersFor(r, fmri.publisher).map((pub) => r.mount.repo.manifestPath(pub, fmri));
    return this.firstFound(paths, missing, (file) => sendFile(r.req, r.res, this.files, file, TEXT, YEAR, options));
  }

  /** Sends the first of `paths` that exists, in order; none is a 404 (`missing`). */
  private firstFound(paths: string[], missing: () => HttpError, send: (file: string) => boolean | Promise<boolean>): void | Promise<void> {
    const from = (i: number): void | Promise<void> => {
      if (i >= paths.length) throw missing();
      const sent = send(paths[i]!);
      if (sent === true) return;
      if (sent === false) return from(i + 1);
      return sent.then((ok) => (ok ? undefined : from(i + 1)));
    };
    return from(0);
  }

  /** Unprefixed file requests look in every publisher's store. */
  private filePaths(r: Request, hash: string): string[] {
    const pubs = r.publisher ? [r.publisher] : r.mount.repo.publishers;
    return pubs.map((p) => r.mount.repo.filePath(p, hash)).filter((p): p is string => p !== null);
  }

  private file(r: Request): void | Promise<void> {
    const hash = r.args.length === 1 ? safeDecode(r.args[0]!) : null;
    this.requests.file++;
    const paths = hash ? this.filePaths(r, hash) : [];
    const missing = () => new HttpError(404, `No file could be found for the specified hash name: '${hash ?? 'None'}'.`);
    // The publishers' stores in turn: the first that holds the payload answers.
    return this.firstFound(paths, missing, (file) =>
      sendFile(r.req, r.res, this.files, file, 'application/data', r.version === 2 ? DAY : YEAR, {
        ranges: true,
        etag: `"${hash}"`,
        immutable: true,
        remember: this.answers.rememberer(r.req.url, 'file'),
      }),
    );
  }

  private async info(r: Request): Promise<void> {
    const fmri = this.fmriArg(r);
    const pub = this.publisherOf(r);
    const missing = () => new HttpError(404, `No package could be found for the FMRI: '${formatFmri(fmri)}'.`);
    if (!fmri.complete) throw missing();
    let manifest: string;
    try {
      manifest = await fs.promises.readFile(r.mount.repo.manifestPath(pub, fmri), 'utf8');
    } catch {
      throw missing();
    }
    const body = packageInfo(pub, fmri, manifest, (hash) => {
      const file = r.mount.repo.filePath(pub, hash);
      return file && fs.existsSync(file) ? file : null;
    });
    sendBody(r.res, r.head, TEXT, body, cacheHeaders(YEAR));
  }

  /**
   * p5i/0: the publisher information of the packages a full FMRI or a stem pattern (`*`, `?`)
   * names, from the publisher in the path or the FMRI, else from every publisher that has some.
   */
  private p5i(r: Request): void {
    if (r.args.length === 0) throw new HttpError(403, 'Directory listing not allowed.');
    let wanted = this.fmriText(r).replace(/\.p5i$/, '');
    let named: string | null = null;
    if (wanted.startsWith('pkg://')) {
      const slash = wanted.indexOf('/', 6);
      named = wanted.slice(6, slash < 0 ? undefined : slash);
      wanted = slash < 0 ? '' : `pkg:/${wanted.slice(slash + 1)}`;
    }
    let matching: (catalog: Map<string, string[]>) => string[];
    if (wanted.includes('@')) {
      const fmri = (() => {
        try {
          return parseFmri(wanted);
        } catch (err) {
          throw new HttpError(400, (err as Error).message, P5I);
        }
      })();
      matching = (catalog) => (catalog.get(fmri.stem)?.includes(fmri.version) ? [`pkg:/${fmri.stem}@${fmri.version}`] : []);
    } else {
      // The pattern names a whole stem or its tail after any '/'.
      const pattern = new Glob(wanted.replace(/^pkg:\//, ''), true, false);
      const matches = (stem: string) => {
        for (let at = 0; at >= 0; at = stem.indexOf('/', at) + 1 || -1) if (pattern.test(stem.slice(at))) return true;
        return false;
      };
      matching = (catalog) => [...catalog.keys()].filter(matches).sort();
    }
    const publishers = this.publishersFor(r, named)
      .map((pub) => ({ pub, packages: matching(r.mount.repo.packages(pub)) }))
      .filter((found) => found.packages.length > 0);
    if (publishers.length === 0) throw new HttpError(404, 'No matching package found in repository.', P5I);
    const body = pkgJson({ packages: [], publishers: publishers.map(({ pub, packages }) => this.publisherEntry(r, pub, packages)), version: 1 });
    sendBody(r.res, r.head, P5I, body, cacheHeaders(YEAR));
  }

  /** admin/0: status and refresh-indexes only, for a user PAM accepts under the flavor's service. */
  private async admin(r: Request): Promise<void> {
    const cmd = new URL(r.req.url ?? '/', 'http://depot').searchParams.get('cmd');
    if (!this.options.admin || (cmd !== 'status' && cmd !== 'refresh-indexes')) {
      throw new HttpError(404, 'Operation not supported in current server mode.');
    }
    if (!encrypted(r.req) && !this.options.adminOverHttp) {
      throw new HttpError(403, 'admin/0 is not offered over plain HTTP, where the password would cross the network in clear: use the depot over HTTPS (-E), or allow it with --admin-over-http ("adminOverHttp": true).');
    }
    const auth = r.req.headers.authorization;
    const basic = auth?.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : null;
    const colon = basic?.indexOf(':') ?? -1;
    const verdict = basic && colon >= 0 ? await this.options.admin.authenticate(basic.slice(0, colon), basic.slice(colon + 1), r.req.socket.remoteAddress ?? '-') : { ok: false };
    if (verdict.retryAfter !== undefined) {
      r.res.setHeader('Retry-After', String(verdict.retryAfter));
      throw new HttpError(429, `Too many failed logins from this address; try again in ${verdict.retryAfter} s.`);
    }
    if (!verdict.ok) {
      r.res.setHeader('WWW-Authenticate', 'Basic realm="depot admin"');
      throw new HttpError(401, 'Authentication required: give the user and password of an account the depot\'s PAM service accepts.');
    }
    if (cmd === 'status') return this.status(r);
    const repos = this.options.mounts().map((m) => m.repo);
    const publishers = repos.reduce((n, repo) => n + repo.publishers.length, 0);
    let message = 'refresh-indexes: search is turned off in this depot; nothing to refresh\n';
    if (this.options.search) {
      const started = Date.now();
      await this.options.search.prepare(repos, true);
      message = `refresh-indexes: rebuilt the search indexes of ${publishers} publisher(s) in ${Date.now() - started} ms\n`;
    }
    sendBody(r.res, r.head, TEXT, message, {
      'Cache-Control': 'no-cache, no-transform, must-revalidate',
      Pragma: 'no-cache',
      Expires: '0',
    });
  }
}
