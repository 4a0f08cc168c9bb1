// The repository generator and checker: generated repositories conform, the real pkg5 fixtures
// conform, each kind of corruption is caught, and the depot serves what the generator writes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { parseManifest } from '../../src/depot/manifest';
import { canonicalJson, sha1 } from '../../tools/repogen/catalog';
import { checkRepository } from '../../tools/repogen/check';
import { generateRepository } from '../../tools/repogen/generate';
import { syntheticRepository } from '../../tools/repogen/synthetic';
import { FIXTURES_DIR, runTs, tempDir } from '../support/process';
import { DepotHarness } from '../depot/harness';


/** Every file below a directory with the hash of its content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir, { recursive: true }).map(String)) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = sha1(fs.readFileSync(p));
  }
  return out;
}

describe('repository checker on the real pkg5 repositories', () => {
  for (const name of ['sample-repo', 'pubrepo', 'multirepo']) {
    it(`${name} conforms`, () => assert.deepEqual(checkRepository(path.join(FIXTURES_DIR, 'pkg5', name)), []));
  }
});

describe('repository generator', () => {
  const scratch = tempDir('repogen');
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const fresh = (name: string, seed = 7) => {
    const root = path.join(scratch, name);
    generateRepository(root, syntheticRepository({ packages: 12, publishers: ['test', 'other.pub-2'], seed }));
    return root;
  };

  it('writes a repository the checker finds conforming, with several publishers, versions and parts', () => {
    const root = fresh('ok');
    assert.deepEqual(checkRepository(root), []);
    for (const pub of ['test', 'other.pub-2']) {
      const attrs = JSON.parse(fs.readFileSync(path.join(root, 'publisher', pub, 'catalog/catalog.attrs'), 'utf8'));
      assert.equal(attrs['package-count'], 12);
      assert.ok(attrs['package-version-count'] > 12, 'some packages have two versions');
      assert.deepEqual(Object.keys(attrs.parts).sort(), ['catalog.base.C', 'catalog.dependency.C', 'catalog.summary.C']);
      assert.match(attrs['last-modified'], /^\d{8}T\d{6}\.\d{6}Z$/);
    }
  });

  it('is deterministic: the same seed writes the same bytes', () => {
    assert.deepEqual(tree(fresh('a', 3)), tree(fresh('b', 3)));
    assert.notDeepEqual(tree(fresh('c', 3)), tree(fresh('d', 4)));
  });

  const corruptions: Array<[string, (root: string) => void, RegExp]> = [
    ['a flipped byte in a payload', (root) => {
      const dir = path.join(root, 'publisher/test/file');
      const sub = fs.readdirSync(dir)[0]!;
      const file = path.join(dir, sub, fs.readdirSync(path.join(dir, sub))[0]!);
      const data = fs.readFileSync(file);
      data[data.length - 12] = data[data.length - 12]! ^ 0xff;
      fs.writeFileSync(file, data);
    }, /is not gzip data|decompresses to content with SHA-1|chash of/],
    ['a changed manifest', (root) => {
      const dir = path.join(root, 'publisher/test/pkg');
      const stem = path.join(dir, fs.readdirSync(dir)[0]!);
      const file = path.join(stem, fs.readdirSync(stem)[0]!);
      fs.appendFileSync(file, 'set name=extra value=1\n');
    }, /differs from the catalog's/],
    ['a catalog part whose content no longer matches its signature', (root) => {
      const file = path.join(root, 'publisher/test/catalog/catalog.summary.C');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('package', 'packagf'));
    }, /catalog.summary.C: signature \w+ does not match its content/],
    ['a payload missing from the file store', (root) => {
      const dir = path.join(root, 'publisher/other.pub-2/file');
      fs.rmSync(path.join(dir, fs.readdirSync(dir)[0]!), { recursive: true });
    }, /is not in the file store/],
    ['a zero fraction in a timestamp', (root) => {
      const file = path.join(root, 'publisher/test/catalog/catalog.attrs');
      const attrs = JSON.parse(fs.readFileSync(file, 'utf8'));
      attrs.created = '20250101T000000.000000Z';
      delete attrs._SIGNATURE;
      fs.writeFileSync(file, canonicalJson(attrs));
    }, /has a zero fraction/],
    ['a catalog part name that leads out of the catalog', (root) => {
      const file = path.join(root, 'publisher/test/catalog/catalog.attrs');
      const attrs = JSON.parse(fs.readFileSync(file, 'utf8'));
      attrs.parts['../../../../pkg5.repository'] = { 'signature-sha-1': '0'.repeat(40) };
      delete attrs._SIGNATURE;
      fs.writeFileSync(file, canonicalJson(attrs));
    }, /lists a part named "..\/..\/..\/..\/pkg5.repository", which is not a catalog part name/],
  ];
  for (const [name, corrupt, expected] of corruptions) {
    it(`catches ${name}`, () => {
      const root = fresh(name.replace(/\W+/g, '-'));
      corrupt(root);
      const problems = checkRepository(root).map((p) => `${p.file}: ${p.problem}`);
      assert.ok(problems.some((p) => expected.test(p)), problems.join('\n') || 'no problem reported');
    });
  }

  it('the command refuses a directory that is not empty and leaves it as it was', async () => {
    const root = fresh('kept');
    const before = tree(root);
    const ran = await runTs('tools/repogen/cli.ts', ['generate', '--out', root, '--packages', '3']);
    assert.equal(ran.code, 1);
    assert.match(ran.stderr, /exists and is not empty; give a new directory/);
    assert.deepEqual(tree(root), before);
    const bad = await runTs('tools/repogen/cli.ts', ['generate', '--out', path.join(scratch, 'x'), '--packages', 'many']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--packages takes a whole number of at least 1, not "many"/);
    assert.equal(fs.existsSync(path.join(scratch, 'x')), false);
    const check = await runTs('tools/repogen/cli.ts', ['check', path.join(scratch, 'nothing-here')]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /pkg5.repository: missing: this is not a pkg5 repository/);
  });
});

describe('the depot serves a generated repository', () => {
  const depot = new DepotHarness();
  let root: string;
  before(async () => {
    root = path.join(depot.root, 'repo');
    generateRepository(root, syntheticRepository({ packages: 8, publishers: ['test'], seed: 11 }));
    await depot.start(['-d', root]);
  });
  after(() => depot.stop());

  it('catalog parts verify, manifests are the stored ones, files decompress to their names', async () => {
    const attrs = JSON.parse((await depot.get('/test/catalog/1/catalog.attrs')).body.toString());
    for (const [name, meta] of Object.entries(attrs.parts as Record<string, { 'signature-sha-1': string }>)) {
      const { _SIGNATURE: signature, ...content } = JSON.parse((await depot.get(`/test/catalog/1/${name}`)).body.toString());
      assert.equal(sha1(canonicalJson(content)), signature['sha-1']);
      assert.equal(signature['sha-1'], meta['signature-sha-1']);
    }
    const base = JSON.parse((await depot.get('/test/catalog/1/catalog.base.C')).body.toString()).test as Record<string, Array<{ version: string; 'signature-sha-1': string }>>;
    let files = 0;
    for (const [stem, versions] of Object.entries(base)) {
      for (const v of versions) {
        const manifest = await depot.get(`/test/manifest/0/${encodeURIComponent(stem)}@${encodeURIComponent(v.version)}`);
        assert.equal(manifest.status, 200);
        assert.equal(sha1(manifest.body), v['signature-sha-1']);
        for (const a of parseManifest(manifest.body.toString()).filter((x) => x.hash)) {
          const file = await depot.get(`/test/file/1/${a.hash}`);
          assert.equal(sha1(zlib.gunzipSync(file.body)), a.hash);
          files++;
        }
      }
    }
    assert.ok(files >= 16, `${files} files fetched`);
  });

  it('search finds generated packages by the words of their summaries', async () => {
    await depot.indexed();
    const summary = fs.readFileSync(path.join(root, 'publisher/test/catalog/catalog.summary.C'), 'utf8');
    const word = /value=\\"(\w+) \w+ package 0\\"/.exec(summary)?.[1];
    assert.ok(word, 'package 0 has a summary');
    const reply = await depot.get(`/search/1/${encodeURIComponent(`False_1_None_None_pkg.summary:${word}`)}`);
    assert.equal(reply.status, 200);
    assert.match(reply.body.toString(), /^0 1 pkg:\/\w+\/pkg0@1\.0/m);
  });
});
