// search/0 and search/1 against pkg5's own expectations: the package and the query → result table
// of pkg5's t_pkg_search (remote search), rendered the way the pkg client renders search/1 lines.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attr, parseAction } from '../../src/depot/manifest';
import { generateRepository } from '../../tools/repogen/generate';
import { syntheticRepository } from '../../tools/repogen/synthetic';
import { killAndWait, tempDir, waitFor } from '../support/process';
import { DepotHarness, writeRepository, type Reply } from './harness';

const VERSION = '1.0,5.11-0:20250101T000000Z';
const FMRI = `example_pkg@${VERSION}`;

/** example_pkg@1.0 of t_pkg_search as the depot stores it after publication. */
const EXAMPLE_MANIFEST = `set name=pkg.fmri value=pkg://test/${FMRI}
dir group=bin mode=0755 owner=root path=bin
dir group=bin mode=0755 owner=root path=bin/example_dir
dir group=bin mode=0755 owner=root path=usr/lib/python3.9/vendor-packages/OpenSSL
file b40981aab75932c5b2f555f50769d878e44913d7 chash=0 group=bin mode=0555 owner=root path=bin/example_path pkg.csize=25 pkg.size=5
set name=com.sun.service.incorporated_changes value="6556919 6627937"
set name=com.sun.service.random_test value=42 value=79
set name=com.sun.service.bug_ids value="4641790 4725245 4817791 4851433 4897491 4913776 6178339 6556919 6627937"
set name=com.sun.service.keywords value="sort null -n -m -t sort 0x86 separator"
set name=com.sun.service.info_url value=http://service.opensolaris.com/xml/pkg/SUNWcsu@0.5.11,5.11-1:20080514I120000Z
set name=description value="FOOO bAr O OO OOO"
set name=weirdness value="] [ * ?"
`;

const KEY_ATTRIBUTE: Record<string, string> = { file: 'path', dir: 'path', link: 'path', depend: 'fmri', license: 'license' };

/** A search/1 action line as `pkg search` prints it: index, action, value, package. */
function rendered(line: string): string {
  const [qnum, type, fmri, value, ...rest] = line.split(' ');
  assert.equal(qnum, '0');
  assert.equal(type, '2');
  const action = parseAction(rest.join(' '))!;
  const shown = decodeURIComponent(value!);
  return action.type === 'set' ? `${attr(action, 'name')} set ${shown} ${fmri}` : `${shown} ${action.type} ${attr(action, KEY_ATTRIBUTE[action.type]!)} ${fmri}`;
}

function search(depot: DepotHarness, query: string, caseSensitive = false, type = 2): Promise<Reply> {
  return depot.get(`/search/1/${encodeURIComponent(`${caseSensitive ? 'True' : 'False'}_${type}_None_None_${query}`)}`);
}

async function rows(depot: DepotHarness, query: string, caseSensitive = false): Promise<Set<string>> {
  const reply = await search(depot, query, caseSensitive);
  if (reply.status === 204) return new Set();
  assert.equal(reply.status, 200, `${query}: ${reply.body}`);
  const [first, ...lines] = reply.body.toString().split('\n').filter(Boolean);
  assert.equal(first, 'Return from search v1');
  return new Set(lines.map(rendered));
}

const P = `pkg:/${FMRI}`;
const PATH = new Set([`basename file bin/example_path ${P}`]);
const BUG_ID = new Set([`com.sun.service.bug_ids set 4641790 4725245 4817791 4851433 4897491 4913776 6178339 6556919 6627937 ${P}`]);
const INC_CHANGES = new Set([`com.sun.service.incorporated_changes set 6556919 6627937 ${P}`, ...BUG_ID]);
const KEYWORDS = new Set([`com.sun.service.keywords set sort null -n -m -t sort 0x86 separator ${P}`]);
const FOO = new Set([`description set FOOO bAr O OO OOO ${P}`]);
const OPENSSL = new Set([`basename dir usr/lib/python3.9/vendor-packages/OpenSSL ${P}`]);
const WILDCARD = new Set([...PATH, `basename dir bin/example_dir ${P}`, `pkg.fmri set test/example_pkg ${P}`]);
const GLOB = new Set([...WILDCARD, `path file bin/example_path ${P}`, `path dir bin/example_dir ${P}`]);
const PATH_EXTRA = new Set([...PATH, `path file bin/example_path ${P}`, `b40981aab75932c5b2f555f50769d878e44913d7 file bin/example_path ${P}`, `hash file bin/example_path ${P}`]);

/** Query → the rows t_pkg_search expects of a remote search (its content-hash row aside: no such attribute here). */
const REFERENCE: Array<[string, Set<string>]> = [
  ['example_path', PATH],
  [':set:pkg.fmri:exAMple_pkg', new Set([`pkg.fmri set test/example_pkg ${P}`])],
  ['(example_path)', PATH],
  ['::com.sun.service.info_url:', new Set([`com.sun.service.info_url set http://service.opensolaris.com/xml/pkg/SUNWcsu@0.5.11,5.11-1:20080514I120000Z ${P}`])],
  [':::e* AND *path', PATH],
  ['e* AND *path', PATH],
  ['exam:::e*path', PATH],
  ['exam:::e*path AND e*:::', PATH],
  ['e*::: AND exam:::*path', PATH_EXTRA],
  ['example*', WILDCARD],
  ['/bin', new Set([`path dir bin ${P}`])],
  ['4851433', BUG_ID],
  ['4851433 AND 4725245', BUG_ID],
  ['4851433 AND 4725245 OR example_path', BUG_ID],
  ['4851433 AND (4725245 OR example_path)', BUG_ID],
  ['(4851433 AND 4725245) OR example_path', new Set([...BUG_ID, ...PATH])],
  ['4851433 OR 4725245', BUG_ID],
  ['6556919', INC_CHANGES],
  ['6556?19', INC_CHANGES],
  ['42', new Set([`com.sun.service.random_test set 42 ${P}`])],
  ['79', new Set([`com.sun.service.random_test set 79 ${P}`])],
  ['separator', KEYWORDS],
  ['"sort 0x86"', KEYWORDS],
  ['*example*', GLOB],
  ['fooo', FOO],
  ['fo*', FOO],
  ['bar', FOO],
  ['openssl', OPENSSL],
  ['OPENSSL', OPENSSL],
  ['OpEnSsL', OPENSSL],
  ['OpEnS*', OPENSSL],
  ['a_non_existent_token', new Set()],
  ['42 AND 4641790', new Set()],
];

const PACKAGE_QUERIES = ['<exam*:::>', '<e*>', '<e*> AND <e*>', '<e*> OR <e*>', '<exam:::>', '<4851433> AND <4725245>'];

describe('depot search: the reference client tests', () => {
  const depot = new DepotHarness();
  let repo: string;
  before(async () => {
    repo = path.join(depot.root, 'repo');
    writeRepository(repo, 'test', [{ stem: 'example_pkg', version: VERSION, text: EXAMPLE_MANIFEST }]);
    await depot.start(['-d', repo]);
    await depot.indexed();
  });
  after(() => depot.stop());

  for (const [query, expected] of REFERENCE) {
    it(`search -a -r '${query}'`, async () => assert.deepEqual(await rows(depot, query), expected));
  }

  it('case-sensitive search (-I) tells exAMple_pkg from example_pkg', async () => {
    assert.equal((await search(depot, ':set:pkg.fmri:exAMple_pkg', true)).status, 204);
    assert.deepEqual(await rows(depot, ':set:pkg.fmri:example_pkg', true), new Set([`pkg.fmri set test/example_pkg ${P}`]));
  });

  for (const query of PACKAGE_QUERIES) {
    it(`package results: '${query}'`, async () => {
      const reply = await search(depot, query, false, 2);
      assert.equal(reply.status, 200, reply.body.toString());
      assert.equal(reply.body.toString(), `Return from search v1\n0 1 ${P}\n`);
    });
  }

  it('return type 1 turns an action query into package results', async () => {
    const reply = await search(depot, 'example_path', false, 1);
    assert.equal(reply.body.toString(), `Return from search v1\n0 1 ${P}\n`);
  });

  it('mixing package and action results is a 400 that says why', async () => {
    for (const query of ['<e*> AND e*', 'e* AND <e*>', '<e*> OR e*', 'e* OR <e*>', 'foo <bar>']) {
      const reply = await search(depot, query);
      assert.equal(reply.status, 400, query);
      assert.match(reply.body.toString(), /require those expressions to produce the same type of results/);
    }
  });

  it('the query header and query text errors of t_api_search', async () => {
    const cases: Array<[string, number, RegExp]> = [
      ['foo', 404, /five fields/],
      ['FAlse_2_None_None_foo', 404, /case_sensitive had a bad value of &#39;FAlse&#39;|case_sensitive had a bad value of 'FAlse'/],
      ['False_3_None_None_foo', 404, /return_type had a bad value/],
      ['False__None_None_foo', 404, /return_type had a bad value/],
      ['False_2_x_None_foo', 404, /num_to_return had a bad value/],
      ['False_2_None_y_foo', 404, /start_point had a bad value/],
      ['False_2_None_None_', 400, /Could not parse query/],
      ['False_2_None_None_Intel(R)', 400, /Could not parse query/],
      [`False_2_None_None_${'a '.repeat(101)}`, 404, /exceeds the maximum supported value of 100 terms/],
    ];
    for (const [header, status, message] of cases) {
      const reply = await depot.get(`/search/1/${encodeURIComponent(header)}`);
      assert.equal(reply.status, status, header);
      assert.match(reply.body.toString(), message, header);
      assert.equal(reply.headers['cache-control'], undefined, 'errors are never cached');
    }
  });

  it('every action line returned is a line of the stored manifest', async () => {
    const reply = await search(depot, '*');
    const lines = reply.body.toString().split('\n').filter(Boolean).slice(1);
    assert.ok(lines.length >= 20, `${lines.length} hits for *`);
    const stored = new Set(EXAMPLE_MANIFEST.split('\n'));
    for (const l of lines) assert.ok(stored.has(l.split(' ').slice(4).join(' ')), l);
  });

  it('start point and count select a window of the results', async () => {
    const all = (await search(depot, '*example*')).body.toString().split('\n').filter(Boolean).slice(1);
    const reply = await depot.get(`/search/1/${encodeURIComponent('False_2_2_1_*example*')}`);
    assert.deepEqual(reply.body.toString().split('\n').filter(Boolean).slice(1), all.slice(1, 3));
  });

  it('hits the client shows alike come together, so it prints each once, in the same order every time', async () => {
    const reply = await search(depot, '*example* OR *example*');
    const shown = reply.body.toString().split('\n').filter(Boolean).slice(1).map(rendered);
    // pkg search removes a line only when it equals the line just before it.
    const printed = shown.filter((line, i) => line !== shown[i - 1]);
    assert.deepEqual(printed, [...new Set(shown)]);
    assert.equal(printed.length, GLOB.size);
    assert.deepEqual((await search(depot, '*example* OR *example*')).body, reply.body);
  });

  it('search/0 answers one line per hit: index, package, action, value', async () => {
    const reply = await depot.get('/search/0/example_path');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    assert.match(reply.headers['cache-control'] ?? '', /^must-revalidate, no-transform, max-age=14400$/);
    assert.equal(reply.body.toString(), `basename ${P} file bin/example_path\n`);
    assert.equal((await depot.get('/search/0/4851433')).body.toString(), `com.sun.service.bug_ids ${P} set 4641790 4725245 4817791 4851433 4897491 4913776 6178339 6556919 6627937\n`);
  });

  it('a POSTed form runs several queries, numbered in order', async () => {
    const body = new URLSearchParams({ 0: 'False_2_None_None_example_path', 1: 'False_1_None_None_4851433' }).toString();
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: depot.port, path: '/search/1/', method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(reply.status, 200);
    const lines = reply.body.toString().split('\n').filter(Boolean);
    assert.equal(lines[0], 'Return from search v1');
    assert.equal(rendered(lines[1]!), [...PATH][0]);
    assert.equal(lines[2], `1 1 ${P}`);
    assert.equal(lines.length, 3);
  });
});

describe('depot search index: kept on disk, rebuilt when the catalog changes', () => {
  const depot = new DepotHarness();
  let repo: string;
  const two = [
    { stem: 'tools/alpha', version: VERSION, text: `set name=pkg.fmri value=pkg://test/tools/alpha@${VERSION}\nset name=pkg.summary value="first tool"\n` },
    { stem: 'tools/beta', version: VERSION, text: `set name=pkg.fmri value=pkg://test/tools/beta@${VERSION}\nset name=pkg.summary value="second tool"\n` },
  ];
  before(async () => {
    repo = path.join(depot.root, 'repo');
    writeRepository(repo, 'test', two);
    await depot.start(['-d', repo]);
    await depot.indexed();
  });
  after(() => depot.stop());

  const packagesFor = async (query: string) => (await search(depot, query, false, 1)).body.toString();

  it('indexes under the flavor data directory and answers from it after a restart', async () => {
    assert.match(await packagesFor('tool'), /tools\/alpha[\s\S]*tools\/beta/);
    const indexDir = depot.layout.files.searchIndex;
    const stored = () => fs.readdirSync(indexDir, { recursive: true }).map(String).filter((f) => f.endsWith('test.json'));
    await waitFor('the index file', () => stored().length === 1, 5000);
    const file = path.join(indexDir, stored()[0]!);
    const written = fs.statSync(file).mtimeMs;
    await killAndWait(depot.pid, 'SIGTERM');
    await depot.start(['-d', repo]);
    await depot.indexed();
    assert.match(await packagesFor('second'), /tools\/beta/);
    assert.equal(fs.statSync(file).mtimeMs, written, 'the stored index was reused, not rebuilt');
  });

  it('a changed catalog is re-indexed: a package added appears, one removed disappears', async () => {
    const gamma = { stem: 'tools/gamma', version: VERSION, text: `set name=pkg.fmri value=pkg://test/tools/gamma@${VERSION}\nset name=pkg.summary value="third tool"\n` };
    const scratch = tempDir('search-catalog');
    try {
      // Published elsewhere and moved in, as a publication tool replaces a catalog.
      writeRepository(scratch, 'test', [two[1]!, gamma]);
      fs.cpSync(path.join(scratch, 'publisher/test/pkg'), path.join(repo, 'publisher/test/pkg'), { recursive: true });
      for (const part of ['catalog.base.C', 'catalog.attrs']) {
        fs.renameSync(path.join(scratch, 'publisher/test/catalog', part), path.join(repo, 'publisher/test/catalog', part));
      }
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    await waitFor('the new package in search', async () => (await packagesFor('tool')).includes('tools/gamma'));
    const now = await packagesFor('tool');
    assert.ok(!now.includes('tools/alpha'), now);
    assert.ok(now.includes('tools/beta'), now);
  });
});

describe('depot search turned off', () => {
  const depot = new DepotHarness();
  before(async () => {
    const repo = path.join(depot.root, 'repo');
    writeRepository(repo, 'test', [{ stem: 'example_pkg', version: VERSION, text: EXAMPLE_MANIFEST }]);
    await depot.start(['-S', '-d', repo]);
  });
  after(() => depot.stop());

  it('answers 503 as pkg.depotd does for a repository without an index', async () => {
    const v0 = await depot.get('/search/0/example_path');
    assert.equal(v0.status, 503);
    assert.equal(v0.headers['content-type'], 'text/plain; charset=utf-8');
    const v1 = await search(depot, 'example_path');
    assert.equal(v1.status, 503);
    assert.equal(v1.headers['content-type'], 'text/html');
    assert.equal(fs.existsSync(depot.layout.files.searchIndex), false, 'no index is written');
  });
});

/** A publisher's status in status/0: 'indexing' until its index is built and written, then 'online'. */
async function publisherStatus(depot: DepotHarness, pub: string): Promise<string | undefined> {
  const status = JSON.parse((await depot.get('/status/0/')).body.toString()) as { repository: { publishers: Record<string, { status: string }> } };
  return status.repository.publishers[pub]?.status;
}

describe('depot search while the first index is built', () => {
  const depot = new DepotHarness();
  before(async () => {
    // Large enough that building its index takes a while.
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, syntheticRepository({ packages: 3000, publishers: ['big'], seed: 7 }));
    await depot.start(['-d', repo]);
  });
  after(() => depot.stop());

  it('answers 503 meanwhile, shows the publisher as indexing, then answers', async () => {
    const url = `/search/1/${encodeURIComponent('False_1_None_None_pkg42')}`;
    const early = await depot.get(url);
    assert.equal(early.status, 503);
    assert.match(early.body.toString(), /the index is being built/);
    assert.equal(await publisherStatus(depot, 'big'), 'indexing');
    await depot.indexed();
    assert.equal((await depot.get(url)).status, 200);
    // Indexing ends once the new index is also written to the data dir.
    await waitFor('status/0 to show the publisher online', async () => (await publisherStatus(depot, 'big')) === 'online', 30000);
  });
});

describe('depot search index and a stop', () => {
  const depot = new DepotHarness();
  after(() => depot.stop());

  it('a stop right after the first index answers still leaves that index on disk for the next start', async () => {
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, syntheticRepository({ packages: 3000, publishers: ['big'], seed: 7 }));
    await depot.start(['-d', repo]);
    await depot.indexed();
    // The index answers before it is written; TERM now falls into the write.
    await killAndWait(depot.pid, 'SIGTERM');
    const dir = depot.layout.files.searchIndex;
    const files = fs.readdirSync(dir, { recursive: true }).map(String);
    const indexes = files.filter((f) => f.endsWith('.json'));
    assert.deepEqual(indexes.map((f) => path.basename(f)), ['big.json']);
    assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], 'no half-written index is left');
    const written = fs.statSync(path.join(dir, indexes[0]!));
    await depot.start(['-d', repo]);
    await depot.indexed();
    await waitFor('the publisher online', async () => (await publisherStatus(depot, 'big')) === 'online', 30000);
    const after = fs.statSync(path.join(dir, indexes[0]!));
    assert.deepEqual([after.ino, after.mtimeMs], [written.ino, written.mtimeMs], 'the second start loaded the index instead of building and writing it again');
  });
});

describe('depot search: pkg.content-hash is indexed as pkg5 indexes it', () => {
  const depot = new DepotHarness();
  const version = '1.0,5.11-0:20250101T000000Z';
  const fileSha = 'a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447';
  const gzipSha = '993e0ca07d86b29c9dd0c9545f9b34c9cdce6745245932d3dbf5ad1dd18a3513';
  const licenseSha = '5d0ff5b3b7b3ed5c16d5bd8ac6a31a36b3e3d8fba8c7a7a1e6b42c9f37a1bd13';
  const manifest = `set name=pkg.fmri value=pkg://test/app/tool@${version}
file b40981aab75932c5b2f555f50769d878e44913d7 chash=0 group=bin mode=0555 owner=root path=usr/bin/tool pkg.content-hash=file:sha256:${fileSha} pkg.content-hash=gzip:sha256:${gzipSha} pkg.csize=25 pkg.size=5
license b40981aab75932c5b2f555f50769d878e44913d7 license=MIT pkg.content-hash=file:sha256:${licenseSha}
`;
  before(async () => {
    const repo = path.join(depot.root, 'repo');
    writeRepository(repo, 'test', [{ stem: 'app/tool', version, text: manifest }]);
    await depot.start(['-d', repo]);
    await depot.indexed();
  });
  after(() => depot.stop());
  const P = `pkg:/app/tool@${version}`;

  it("'*<hash>', 'file:pkg.content-hash:*<hash>*' and '<*<hash>>' find the package", async () => {
    assert.deepEqual(await rows(depot, `*${fileSha}`), new Set([`pkg.content-hash file usr/bin/tool ${P}`]));
    assert.deepEqual(await rows(depot, `file:pkg.content-hash:*${gzipSha}*`), new Set([`pkg.content-hash file usr/bin/tool ${P}`]));
    assert.deepEqual(await rows(depot, `*${licenseSha}`), new Set([`pkg.content-hash license MIT ${P}`]));
    const packages = await search(depot, `<*${gzipSha}>`);
    assert.equal(packages.body.toString(), `Return from search v1\n0 1 ${P}\n`);
  });

  it("'app/tool:::' shows a pkg.content-hash line for each value", async () => {
    const reply = await search(depot, 'app/tool:::');
    const lines = reply.body.toString().split('\n').filter((l) => l.startsWith('0 2 ') && l.split(' ')[3] === 'pkg.content-hash');
    assert.equal(lines.length, 3, reply.body.toString());
  });
});

describe('depot search: plain searches beside pattern searches', () => {
  const depot = new DepotHarness();
  before(async () => {
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, syntheticRepository({ packages: 200, publishers: ['big'], seed: 3 }));
    await depot.start(['-d', repo]);
    await depot.indexed();
  });
  after(() => depot.stop());

  it('a plain search does not wait behind pattern searches', async () => {
    // Every action of every package: a pattern search that takes a while.
    const pattern = `/search/1/${encodeURIComponent('False_2_None_None_*')}`;
    const plain = `/search/1/${encodeURIComponent('False_2_None_None_pkg42')}`;
    const finished: string[] = [];
    const t0 = Date.now();
    const timed = (name: string, url: string) =>
      depot.get(url).then((reply) => {
        assert.equal(reply.status, 200, name);
        finished.push(`${name} ${Date.now() - t0}`);
      });
    const patterns = [1, 2, 3, 4].map((n) => timed(`pattern ${n}`, pattern));
    // Sent once the patterns are in: each has its answer on the way.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Promise.all([...patterns, timed('plain', plain)]);
    assert.ok(finished.findIndex((f) => f.startsWith('plain')) <= 1, `answered in the order ${finished.join(', ')}`);
  });
});
