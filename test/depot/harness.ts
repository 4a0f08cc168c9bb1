import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { pkgQuote } from '../../src/depot/fmri';
import { layout, loadFlavor, underRoot, type Layout } from '../../src/flavor';
import { freePort, killAndWait, runTs, tempDir, waitFor, type Ran } from '../support/process';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A depot of flavor abc in a private root, serving the given repositories. */
export class DepotHarness {
  readonly root = tempDir('depot');
  readonly layout: Layout<'depot'> = underRoot(layout(loadFlavor('abc'), 'depot'), this.root);
  port = 0;
  pid = 0;

  /** Runs the depot command with these arguments (it detaches when it starts a daemon). */
  run(args: string[]): Promise<Ran> {
    return runTs('src/depot/bin/depot.ts', args, { FLAVOR: 'abc', FLAVORKIT_ROOT: this.root });
  }

  async start(args: string[]): Promise<void> {
    this.port = await freePort();
    const started = await this.run(['-p', String(this.port), ...args]);
    if (started.code !== 0) throw new Error(`depot did not start: ${started.stderr}`);
    this.pid = Number(fs.readFileSync(this.layout.pidFile, 'utf8'));
  }

  /** Waits until search answers: the first index is built (searches meanwhile get 503). */
  async indexed(): Promise<void> {
    await waitFor('the first search index', async () => (await this.get(`/search/1/${encodeURIComponent('False_2_None_None_index-probe')}`)).status !== 503, 30000);
  }

  get(urlPath: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET', body?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, path: urlPath, method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.setTimeout(10000, () => req.destroy(new Error(`no answer to ${urlPath}`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async stop(): Promise<void> {
    if (this.pid) await killAndWait(this.pid, 'SIGTERM');
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A private copy of a fixture repository: tests never write the fixtures. */
export function copyFixture(dir: string, into: string): string {
  const target = path.join(into, path.basename(dir));
  fs.cpSync(dir, target, { recursive: true });
  return target;
}

let catalogUpdates = 0;

/** A minimal v4 repository: what search reads is the base catalog part and the manifests. */
export function writeRepository(root: string, pub: string, manifests: Array<{ stem: string; version: string; text: string }>): void {
  const catalog = path.join(root, 'publisher', pub, 'catalog');
  fs.mkdirSync(catalog, { recursive: true });
  fs.writeFileSync(path.join(root, 'pkg5.repository'), `[publisher]\nprefix = ${pub}\n\n[repository]\nversion = 4\n\n[CONFIGURATION]\nversion = 4\n`);
  const base: Record<string, Array<{ version: string }>> = {};
  for (const m of manifests) {
    const dir = path.join(root, 'publisher', pub, 'pkg', pkgQuote(m.stem));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, pkgQuote(m.version)), m.text);
    (base[m.stem] ??= []).push({ version: m.version });
  }
  fs.writeFileSync(path.join(catalog, 'catalog.base.C'), JSON.stringify({ [pub]: base }));
  const stems = Object.keys(base).length;
  fs.writeFileSync(
    path.join(catalog, 'catalog.attrs'),
    JSON.stringify({ created: '20250101T000000Z', 'last-modified': `20250101T${String(++catalogUpdates).padStart(6, '0')}Z`, 'package-count': stems, 'package-version-count': manifests.length, parts: {}, updates: {}, version: 1 }),
  );
  const payload = path.join(root, 'publisher', pub, 'file', 'b4');
  fs.mkdirSync(payload, { recursive: true });
  fs.writeFileSync(path.join(payload, 'b40981aab75932c5b2f555f50769d878e44913d7'), zlib.gzipSync('magic'));
}
