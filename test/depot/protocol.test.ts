import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { parseManifest } from '../../src/depot/manifest';
import { generateRepository } from '../../tools/repogen/generate';
import { FIXTURES_DIR, isAlive, tempDir, waitFor } from '../support/process';
import { createTestUser, writeTestPamService, type TestUser } from '../support/pam';
import { copyFixture, DepotHarness } from './harness';

const SAMPLE = path.join(FIXTURES_DIR, 'pkg5/sample-repo');
const MATE = 'library%2Fdesktop%2Fmate%2Fmate-common@1.16.0%2C5.11-2016.1.1.0%3A20161224T160903Z';

/** The canonical form pkg5 signs: keys sorted recursively, no spaces (ASCII data). */
function canon(value: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return `${JSON.stringify(sort(value))}\n`;
}
const sha1 = (data: string | Buffer) => crypto.createHash('sha1').update(data).digest('hex');

describe('depot protocol', () => {
  const depot = new DepotHarness();
  let scratch: string;
  let repo: string;
  before(async () => {
    scratch = tempDir('protocol');
    repo = copyFixture(SAMPLE, scratch);
    await depot.start(['-d', repo]);
  });
  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('catalog/1 parts verify: each signature matches its content and catalog.attrs', async () => {
    const attrs = JSON.parse((await depot.get('/userland/catalog/1/catalog.attrs')).body.toString()) as Record<string, any>;
    const parts = { ...attrs.parts, ...attrs.updates } as Record<string, { 'signature-sha-1': string }>;
    assert.ok(Object.keys(parts).length >= 3);
    for (const [name, meta] of Object.entries(parts)) {
      const reply = await depot.get(`/userland/catalog/1/${name}`);
      assert.equal(reply.status, 200, name);
      const { _SIGNATURE: signature, ...content } = JSON.parse(reply.body.toString()) as Record<string, any>;
      assert.equal(sha1(canon(content)), signature['sha-1'], `${name} self-signature`);
      assert.equal(signature['sha-1'], meta['signature-sha-1'], `${name} listed in catalog.attrs`);
    }
  });

  it('a fetched manifest equals the stored one, and every file decompresses to its SHA-1 name', async () => {
    const manifest = await depot.get(`/userland/manifest/0/${MATE}`);
    const stored = fs.readFileSync(path.join(repo, 'publisher/userland/pkg', decodeURIComponent(MATE.split('@')[0]!).replace(/\//g, '%2F'), encodeURIComponent(decodeURIComponent(MATE.split('@')[1]!))));
    assert.ok(manifest.body.equals(stored));
    const hashed = parseManifest(manifest.body.toString()).filter((a) => a.hash);
    assert.ok(hashed.length > 5);
    for (const action of hashed) {
      const file = await depot.get(`/userland/file/1/${action.hash}`);
      assert.equal(file.status, 200);
      assert.equal(file.headers['content-encoding'], undefined, 'served verbatim, never re-encoded');
      assert.equal(sha1(zlib.gunzipSync(file.body)), action.hash);
    }
  });

  it('conditional requests, HEAD and byte ranges', async () => {
    const hash = 'db98339f55b9829e09f2b5c7e9281718f8442842';
    const full = await depot.get(`/file/1/${hash}`);
    const head = await depot.get(`/file/1/${hash}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], String(full.body.length));
    assert.equal((await depot.get(`/file/1/${hash}`, { 'If-None-Match': full.headers.etag! })).status, 304);
    assert.equal((await depot.get('/catalog/1/catalog.attrs', { 'If-Modified-Since': new Date(Date.now() + 60000).toUTCString() })).status, 304);
    const part = await depot.get(`/file/1/${hash}`, { Range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 10-19/${full.body.length}`);
    assert.ok(part.body.equals(full.body.subarray(10, 20)));
    assert.equal((await depot.get(`/file/1/${hash}`, { Range: 'bytes=999999-' })).status, 416);
  });

  it('a catalog part replaced on disk is served within about a second, with no reload', async () => {
    const url = '/userland/catalog/1/catalog.attrs';
    const file = path.join(repo, 'publisher/userland/catalog/catalog.attrs');
    const original = fs.readFileSync(file);
    const first = await depot.get(url);
    assert.ok(first.body.equals(original));
    assert.ok((await depot.get(url)).body.equals(original), 'asked again: now held in memory');
    const changed = Buffer.from(original.toString().replace(/"package-count": \d+/, '"package-count": 4242'));
    assert.ok(!changed.equals(original));
    // Replaced as the pkg5 tools do: a new file renamed over the old one.
    const replace = (content: Buffer, mtime: Date) => {
      fs.writeFileSync(`${file}.new`, content);
      fs.utimesSync(`${file}.new`, mtime, mtime);
      fs.renameSync(`${file}.new`, file);
    };
    replace(changed, new Date(Date.now() + 10_000));
    try {
      const fresh = await waitFor('the replaced catalog.attrs', async () => {
        const reply = await depot.get(url);
        return reply.body.equals(changed) && reply;
      }, 3000);
      assert.notEqual(fresh.headers.etag, first.headers.etag);
    } finally {
      replace(original, new Date());
    }
    await waitFor('the original catalog.attrs again', async () => (await depot.get(url)).body.equals(original), 3000);
  });

  it('a request asked again is answered from memory exactly as the first time, and still counted', async () => {
    const hash = 'db98339f55b9829e09f2b5c7e9281718f8442842';
    const urls = [`/userland/file/1/${hash}`, `/userland/manifest/0/${MATE}`, '/userland/catalog/1/catalog.attrs'];
    const counts = async () => (JSON.parse((await depot.get('/status/0/')).body.toString()) as any).repository.requests as Record<string, number>;
    const countsBefore = await counts();
    const clocked = new Set(['date', 'expires']);
    const timeless = (headers: Record<string, unknown>) => Object.entries(headers).filter(([name]) => !clocked.has(name));
    for (const url of urls) {
      const first = await depot.get(url);
      assert.equal(first.status, 200, url);
      for (let i = 0; i < 2; i++) {
        const again = await depot.get(url);
        assert.equal(again.status, 200, url);
        assert.deepEqual(timeless(again.headers), timeless(first.headers), `${url}: the same headers in the same order`);
        assert.ok(again.body.equals(first.body), `${url}: the same body`);
        assert.ok(Date.parse(again.headers.expires!) >= Date.parse(first.headers.expires!), `${url}: Expires moves with the clock`);
      }
    }
    const countsAfter = await counts();
    const grown = (op: string) => countsAfter[op]! - countsBefore[op]!;
    assert.deepEqual([grown('file'), grown('manifests'), grown('catalog')], [3, 3, 3]);
    // Conditions and ranges on an answer held in memory are still honoured.
    const full = await depot.get(urls[0]!);
    assert.equal((await depot.get(urls[0]!, { 'If-None-Match': full.headers.etag! })).status, 304);
    assert.equal((await depot.get(urls[0]!, { 'if-modified-since': full.headers['last-modified']! })).status, 304);
    const part = await depot.get(urls[0]!, { RANGE: 'bytes=0-9' });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(full.body.subarray(0, 10)));
    const head = await depot.get(urls[0]!, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it('search over the real sample repository: a file by basename, packages by summary words', async () => {
    await depot.indexed();
    const basename = await depot.get('/search/0/mate-autogen');
    assert.equal(basename.status, 200);
    assert.equal(basename.body.toString(), `basename pkg:/${decodeURIComponent(MATE)} file usr/bin/mate-autogen\n`);
    const packages = await depot.get(`/search/1/${encodeURIComponent('False_1_None_None_MATE')}`);
    assert.equal(
      packages.body.toString(),
      'Return from search v1\n0 1 pkg:/library/desktop/mate/libmatemixer@1.16.0,5.11-2016.1.1.0:20161224T161749Z\n' + `0 1 pkg:/${decodeURIComponent(MATE)}\n`,
    );
    const classified = await depot.get(`/userland/search/1/${encodeURIComponent('False_2_None_None_info.classification:Libraries')}`);
    assert.match(classified.body.toString(), /^0 2 pkg:\/library\/desktop\/mate\/libmatemixer@\S+ System\/Libraries set name=info.classification/m);
  });

  it('writes an access log in the flavor\'s log directory, one line per request', async () => {
    const reply = await depot.get('/versions/0/', { 'User-Agent': 'pkg/access-log-test' });
    assert.equal(reply.status, 200);
    const file = depot.layout.files.accessLog!;
    assert.ok(file.startsWith(depot.layout.logDir));
    const line = await waitFor('the access log line', () => {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      return text.split('\n').find((l) => l.includes('pkg/access-log-test'));
    });
    assert.match(line, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/versions\/0\/ HTTP\/1\.1" 200 \d+ "pkg\/access-log-test"$/);
  });

  it('logs for each answer on a kept-alive connection the bytes the client received, headers included', async () => {
    const payload = '/userland/file/1/00d094b09cff97e86865c2b95ee20fd7bc30338e';
    // The payload twice: the second answer comes from memory. Then an error page and a manifest.
    const paths = [payload, payload, '/userland/manifest/0/nosuch@1.0', `/userland/manifest/0/${MATE}`];
    const agent = `pkg/bytes-${process.pid}`;
    const socket = net.connect(depot.port, '127.0.0.1');
    const received: number[] = [];
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => (pending = Buffer.concat([pending, chunk])));
      for (const urlPath of paths) {
        socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ${agent}\r\n\r\n`);
        // One whole answer: its header, then Content-Length bytes of body.
        const length = await waitFor(`the answer to ${urlPath}`, () => {
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) return undefined;
          const size = Number(/\r\ncontent-length: (\d+)/i.exec(pending.subarray(0, end).toString('latin1'))?.[1]);
          return pending.length >= end + 4 + size ? end + 4 + size : undefined;
        });
        received.push(length);
        pending = pending.subarray(length);
      }
    } finally {
      socket.destroy();
    }
    const file = depot.layout.files.accessLog!;
    const logged = await waitFor('the four lines', () => {
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith(`"${agent}"`));
      return lines.length === paths.length ? lines : undefined;
    });
    assert.deepEqual(
      logged.map((l) => Number(/" \d{3} (\d+) "/.exec(l)?.[1])),
      received,
    );
  });

  it('HUP reopens the access log, so a rotated log gets no more lines and a new one takes them', async () => {
    const file = depot.layout.files.accessLog!;
    const lineOf = (f: string, agent: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '').split('\n').find((l) => l.includes(agent));
    await depot.get('/versions/0/', { 'User-Agent': 'pkg/before-rotation' });
    await waitFor('the line before rotation', () => lineOf(file, 'pkg/before-rotation'));
    const rotated = `${file}.1`;
    fs.renameSync(file, rotated);
    try {
      process.kill(depot.pid, 'SIGHUP');
      await waitFor('a new access log', () => fs.existsSync(file));
      await depot.get('/versions/0/', { 'User-Agent': 'pkg/after-rotation' });
      await waitFor('the line after rotation', () => lineOf(file, 'pkg/after-rotation'));
      assert.equal(lineOf(rotated, 'pkg/after-rotation'), undefined);
      assert.ok(lineOf(rotated, 'pkg/before-rotation'));
    } finally {
      fs.rmSync(rotated, { force: true });
    }
  });

  it('publication is refused clearly, malformed requests get 400', async () => {
    assert.equal((await depot.get('/file/1/abc', {}, 'POST')).status, 400);
    assert.match((await depot.get('/file/1/abc', {}, 'POST')).body.toString(), /read-only/);
    for (const method of ['GET', 'POST']) {
      const open = await depot.get('/open/0/foo@1.0', {}, method);
      assert.equal(open.status, 404, `${method} open/0`);
      assert.match(open.body.toString(), /Operation not supported in current server mode/);
    }
    assert.equal((await depot.get('/open/0/foo@1.0', {}, 'PUT')).status, 400);
    assert.equal((await depot.get('/file/1/abc', {}, 'DELETE')).status, 405);
    assert.equal((await depot.get('/manifest/0/foo@x.y')).status, 400);
    assert.equal((await depot.get('/manifest/0/%E0%A4%A')).status, 400);
    assert.equal((await depot.get('/manifest/0/nosuch@1.0')).status, 404, 'well-formed, no timestamp: absent');
  });

  it('no URL form escapes the repository root, and the depot survives them all', async () => {
    const secret = 'TOP-SECRET-OUTSIDE-THE-REPOSITORY';
    fs.writeFileSync(path.join(scratch, 'outside.txt'), secret);
    const targets = ['../outside.txt', '../../outside.txt', '../../../outside.txt', '../pkg5.repository', '/etc/passwd', '../../../../../../etc/passwd'];
    const encodings = [(s: string) => s, (s: string) => s.replace(/\//g, '%2F'), (s: string) => s.replace(/\./g, '%2e').replace(/\//g, '%2f'), (s: string) => encodeURIComponent(encodeURIComponent(s))];
    const ops = ['catalog/1/', 'file/1/', 'file/0/', 'manifest/0/', 'manifest/0/pkg@1.0,5.11-0:20200101T000000Z/', 'info/0/', 'p5i/0/', 'publisher/0/', 'userland/catalog/1/', 'userland/file/1/'];
    const urls: string[] = [];
    for (const op of ops) for (const t of targets) for (const enc of encodings) urls.push(`/${op}${enc(t)}`);
    urls.push('/catalog/1/catalog.attrs%00', '/file/1/' + 'a'.repeat(5000), '/catalog/1/\u00e9t\u00e9'.normalize(), '/catalog/1/%C0%AE%C0%AE%2Fpkg5.repository', '//etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', `/${'x/'.repeat(3000)}`);
    let checked = 0;
    for (const url of urls) {
      // Raw non-ASCII cannot go on the wire; it is sent percent-encoded, as a client would.
      const wire = /[^\x21-\x7e]/.test(url) ? url.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)) : url;
      const reply = await depot.get(wire);
      assert.ok(reply.status >= 400 || !reply.body.toString().includes(secret), `${url} answered ${reply.status}`);
      assert.ok(!reply.body.toString().includes(secret) && !reply.body.toString().includes('root:x:0:0'), `${url} leaked a file`);
      checked++;
    }
    assert.ok(checked >= 240, `${checked} URL forms`);
    assert.ok(isAlive(depot.pid));
    assert.equal((await depot.get('/versions/0/')).status, 200);
  });
});

describe('several repositories in one depot', () => {
  const depot = new DepotHarness();
  let scratch: string;
  before(async () => {
    scratch = tempDir('multi');
    const a = path.join(scratch, 'a');
    const b = path.join(scratch, 'b');
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    await depot.start(['-d', copyFixture(SAMPLE, a), '-d', copyFixture(SAMPLE, b)]);
  });
  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('two repositories sharing a publisher are both reachable, each under a prefix from the SHA-1 of its path', async () => {
    const prefixes = ['a', 'b'].map((d) => `r${sha1(fs.realpathSync(path.join(scratch, d, 'sample-repo'))).slice(0, 12)}`);
    for (const prefix of prefixes) {
      const pub = JSON.parse((await depot.get(`/${prefix}/publisher/0/`)).body.toString()) as any;
      assert.deepEqual(pub.publishers[0].repositories[0].origins, [`http://127.0.0.1:${depot.port}/${prefix}/`]);
      assert.equal((await depot.get(`/${prefix}/userland/catalog/1/catalog.attrs`)).status, 200);
      assert.equal((await depot.get(`/${prefix}/file/1/db98339f55b9829e09f2b5c7e9281718f8442842`)).status, 200);
    }
    assert.equal((await depot.get('/versions/0/')).status, 404, 'no repository at the root');
  });

  it('HUP reloads the repository list without dropping a connection in progress', async () => {
    const config = depot.layout.configFile;
    fs.mkdirSync(path.dirname(config), { recursive: true });
    // The list came from the command line; a reload keeps it.
    const prefix = `r${sha1(fs.realpathSync(path.join(scratch, 'a', 'sample-repo'))).slice(0, 12)}`;
    const slow = depot.get(`/${prefix}/file/1/db98339f55b9829e09f2b5c7e9281718f8442842`);
    process.kill(depot.pid, 'SIGHUP');
    assert.equal((await slow).status, 200);
    await waitFor('the depot to answer after HUP', async () => (await depot.get('/nosuch/versions/0/')).status === 404);
    assert.ok(isAlive(depot.pid));
  });
});

describe('large files, streamed from the disk', () => {
  const depot = new DepotHarness();
  let scratch: string;
  let hash: string;
  let stored: Buffer;
  before(async () => {
    scratch = tempDir('large');
    const repo = path.join(scratch, 'repo');
    // Random bytes: gzip cannot shrink them, so the stored file is larger than a cache entry (1 MiB).
    const content = crypto.randomBytes(3 * 1024 * 1024 + 123);
    hash = sha1(content);
    const version = '1.0,5.11-0:20250101T000000Z';
    generateRepository(repo, {
      publishers: [{ name: 'big', packages: [{ stem: 'big/payload', versions: [{ version, summary: 'a large payload', files: [{ path: 'usr/share/big.bin', content }] }] }] }],
      created: new Date(Date.UTC(2025, 0, 1)),
      lastModified: new Date(Date.UTC(2025, 0, 2)),
    });
    stored = fs.readFileSync(path.join(repo, 'publisher/big/file', hash.slice(0, 2), hash));
    assert.ok(stored.length > 3 * 1024 * 1024);
    await depot.start(['-d', repo]);
  });
  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts a GET of the payload and drops the connection once part of the body has come. */
  const abandon = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: depot.port, path: `/file/1/${hash}`, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
    });
  const openFds = () => fs.readdirSync(`/proc/${depot.pid}/fd`).length;

  it('whole, several at once, each byte as stored', async () => {
    const replies = await Promise.all([1, 2, 3, 4].map(() => depot.get(`/file/1/${hash}`)));
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-length'], String(stored.length));
      assert.ok(reply.body.equals(stored));
    }
    assert.equal(sha1(zlib.gunzipSync(replies[0]!.body)), hash);
  });

  it('byte ranges across the reads it is streamed in', async () => {
    for (const [range, from, to] of [['bytes=1048000-1049999', 1048000, 1050000], [`bytes=-100`, stored.length - 100, stored.length], ['bytes=2097150-', 2097150, stored.length]] as const) {
      const part = await depot.get(`/file/1/${hash}`, { Range: range });
      assert.equal(part.status, 206, range);
      assert.ok(part.body.equals(stored.subarray(from, to)), range);
    }
  });

  it('clients that go away mid-file leave the depot serving whole files, with no descriptor left open', async () => {
    await depot.get(`/file/1/${hash}`);
    const baseline = openFds();
    for (let i = 0; i < 20; i++) await abandon();
    await Promise.all([abandon(), abandon(), depot.get(`/file/1/${hash}`).then((r) => assert.ok(r.body.equals(stored)))]);
    assert.ok(isAlive(depot.pid));
    const whole = await Promise.all([1, 2].map(() => depot.get(`/file/1/${hash}`)));
    for (const reply of whole) assert.ok(reply.body.equals(stored), 'the same bytes after abandoned transfers');
    await waitFor('descriptors back to the baseline', () => openFds() <= baseline, 5000);
  });
});

describe('a depot reloading its repository list from its configuration file', () => {
  const depot = new DepotHarness();
  let scratch: string;
  let config: string;
  const writeList = (prefix: string) => fs.writeFileSync(config, JSON.stringify({ repositories: [{ path: path.join(scratch, 'sample-repo'), prefix }] }));
  before(async () => {
    scratch = tempDir('reload');
    copyFixture(SAMPLE, scratch);
    config = path.join(scratch, 'depot.conf');
    writeList('one');
    await depot.start(['-c', config]);
  });
  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('answers held in memory do not outlive the reload that moved their repository', async () => {
    const file = '/file/1/db98339f55b9829e09f2b5c7e9281718f8442842';
    for (let i = 0; i < 3; i++) assert.equal((await depot.get(`/one${file}`)).status, 200);
    writeList('two');
    process.kill(depot.pid, 'SIGHUP');
    await waitFor('the new prefix', async () => (await depot.get(`/two${file}`)).status === 200);
    assert.equal((await depot.get(`/one${file}`)).status, 404);
  });
});

describe('admin/0 through the flavor\'s PAM service', () => {
  const depot = new DepotHarness();
  let scratch: string;
  let user: TestUser;
  let removePam: () => void;
  before(async () => {
    scratch = tempDir('admin');
    user = createTestUser();
    removePam = writeTestPamService(depot.layout.pamService, ['auth required pam_unix.so', 'account required pam_unix.so']);
    await depot.start(['--admin-over-http', '-d', copyFixture(SAMPLE, scratch)]);
  });
  after(async () => {
    await depot.stop();
    removePam();
    user.remove();
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('refuses without credentials, with a challenge', async () => {
    const reply = await depot.get('/admin/0?cmd=status');
    assert.equal(reply.status, 401);
    assert.match(String(reply.headers['www-authenticate']), /^Basic /);
  });
  it('refuses a wrong password', async () => {
    assert.equal((await depot.get('/admin/0?cmd=status', basic(user.name, 'wrong'))).status, 401);
  });
  it('accepts the right one, through the service named depotabc', async () => {
    assert.equal(depot.layout.pamService, 'depotabc');
    const reply = await depot.get('/admin/0?cmd=status', basic(user.name, user.password));
    assert.equal(reply.status, 200);
    assert.equal((JSON.parse(reply.body.toString()) as any).repository.status, 'online');
    assert.equal((await depot.get('/admin/0?cmd=refresh-indexes', basic(user.name, user.password))).status, 200);
  });
  it('other admin commands are not offered', async () => {
    assert.equal((await depot.get('/admin/0?cmd=refresh', basic(user.name, user.password))).status, 404);
  });
});

describe('the depot command line', () => {
  const depot = new DepotHarness();
  after(() => depot.stop());

  it('bad options get a usage error that names them, and no daemon starts', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['-p', '0', '-d', SAMPLE], /depot: -p takes a whole number from 1 to 65535, not "0"\n/],
      [['-p', 'http', '-d', SAMPLE], /depot: -p takes a whole number from 1 to 65535, not "http"\n/],
      [['--bogus', '-d', SAMPLE], /depot: Unknown option '--bogus'\n/],
      [['-d'], /depot: Option '-d, --repository <value>' argument missing/],
      [['-d', '=main'], /depot: -d takes DIR or DIR=PREFIX, not "=main"/],
      [[SAMPLE], /depot: Unexpected argument '.*sample-repo'/],
    ];
    for (const [args, message] of cases) {
      const ran = await depot.run(args);
      assert.equal(ran.code, 2, args.join(' '));
      assert.match(ran.stderr, message);
      assert.match(ran.stderr, /usage: depot/);
    }
    assert.equal(fs.existsSync(depot.layout.pidFile), false, 'no daemon was started');
  });
});
