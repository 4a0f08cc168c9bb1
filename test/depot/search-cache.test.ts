// Search answers kept by query: the bound in bytes holds, answers are those of a depot keeping
// none, and an index rebuilt for a changed catalog is never answered from the old one's answers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AnswerCache } from '../../src/depot/search/answer-cache';
import { generateRepository } from '../../tools/repogen/generate';
import { syntheticRepository } from '../../tools/repogen/synthetic';
import { tempDir, waitFor } from '../support/process';
import { DepotHarness } from './harness';

describe('search answer cache: its bound', () => {
  it('never holds more bytes than its bound, dropping the least recently used first', () => {
    const cache = new AnswerCache(10_000);
    const answer = (i: number) => Buffer.alloc(700 + (i % 5) * 300, i % 256);
    for (let i = 0; i < 500; i++) {
      cache.set(`query ${i}`, answer(i));
      // The first answer is asked for all along: it stays while others are dropped.
      assert.ok(cache.get('query 0'), `query 0 dropped at ${i}`);
      assert.ok(cache.heldBytes <= 10_000, `${cache.heldBytes} bytes held after ${i + 1} answers`);
    }
    assert.equal(cache.get('query 1'), undefined);
    assert.deepEqual(cache.get('query 499'), answer(499));
    assert.ok(cache.count > 1 && cache.count < 10, `${cache.count} answers kept`);
  });

  it('keeps no answer larger than the whole bound, and a bound of 0 keeps nothing', () => {
    const cache = new AnswerCache(1000);
    cache.set('small', Buffer.alloc(100));
    cache.set('large', Buffer.alloc(2000));
    assert.equal(cache.get('large'), undefined);
    assert.ok(cache.get('small'));
    const none = new AnswerCache(0);
    none.set('x', Buffer.alloc(1));
    assert.equal(none.count, 0);
    assert.equal(none.heldBytes, 0);
  });

  it('keeps an offered answer when its query comes again, and lets queries asked once push out nothing', () => {
    const cache = new AnswerCache(10_000);
    cache.offer('repeated', Buffer.alloc(3000, 1));
    assert.equal(cache.get('repeated'), undefined, 'kept at its first offer');
    cache.offer('repeated', Buffer.alloc(3000, 1));
    assert.deepEqual(cache.get('repeated'), Buffer.alloc(3000, 1));
    for (let i = 0; i < 2000; i++) {
      cache.offer(`once ${i}`, Buffer.alloc(3000, 2));
      assert.ok(cache.heldBytes <= 10_000, `${cache.heldBytes} bytes held after ${i + 1} offers`);
    }
    assert.equal(cache.count, 1, 'only the repeated answer is kept');
    assert.ok(cache.get('repeated'));
    // The queries remembered are the latest, within an eighth of the bound.
    cache.offer('once 1999', Buffer.alloc(100, 3));
    assert.deepEqual(cache.get('once 1999'), Buffer.alloc(100, 3));
    cache.offer('once 0', Buffer.alloc(100, 4));
    assert.equal(cache.get('once 0'), undefined, 'a query long forgotten is remembered anew, not kept');
    const none = new AnswerCache(0);
    none.offer('x', Buffer.alloc(1));
    none.offer('x', Buffer.alloc(1));
    assert.equal(none.count, 0);
    assert.equal(none.heldBytes, 0);
  });

  it('counts an answer replaced under the same query once', () => {
    const cache = new AnswerCache(1000);
    cache.set('q', Buffer.alloc(400));
    cache.set('q', Buffer.alloc(300));
    assert.equal(cache.heldBytes, 2 * 'q'.length + 300);
    assert.equal(cache.count, 1);
  });
});

const QUERIES = [
  'False_2_None_None_package',
  'False_1_None_None_package',
  'False_2_None_None_file:basename:file0-0.txt',
  'False_1_None_None_pkg1*',
  'True_2_None_None_PACKAGE',
  'False_2_5_3_package',
  'False_2_None_None_a_non_existent_token',
];

describe('search answer cache: answers as without it', () => {
  const cached = new DepotHarness();
  const uncached = new DepotHarness();
  let repo: string;
  before(async () => {
    repo = path.join(cached.root, 'repo');
    generateRepository(repo, syntheticRepository({ packages: 40, publishers: ['test'], seed: 7 }));
    const noCache = path.join(uncached.root, 'depot.conf');
    fs.writeFileSync(noCache, JSON.stringify({ searchCacheMiB: 0 }));
    await Promise.all([cached.start(['-d', repo]), uncached.start(['-c', noCache, '-d', repo])]);
    await Promise.all([cached.indexed(), uncached.indexed()]);
  });
  after(async () => {
    await Promise.all([cached.stop(), uncached.stop()]);
  });

  it('search/1 and search/0 answer the same bytes, asked once and again', async () => {
    const urls = [...QUERIES.map((q) => `/search/1/${encodeURIComponent(q)}`), '/search/0/package', '/search/0/pkg3'];
    for (const url of urls) {
      const reference = await uncached.get(url);
      for (const round of [1, 2, 3]) {
        const reply = await cached.get(url);
        assert.equal(reply.status, reference.status, `${url}, round ${round}`);
        assert.ok(reply.body.equals(reference.body), `${url}, round ${round}: the answers differ`);
      }
    }
  });

  it('a POSTed form of queries is not answered as one query of the same text, nor the other way round', async () => {
    const post = (depot: DepotHarness, form: string) => depot.get('/search/1/', { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(form) }, 'POST', form);
    const two = new URLSearchParams({ 0: QUERIES[0]!, 1: QUERIES[3]! }).toString();
    for (let round = 0; round < 2; round++) {
      const [mine, reference] = [await post(cached, two), await post(uncached, two)];
      assert.equal(mine.status, 200);
      assert.ok(mine.body.equals(reference.body), 'the two-query answers differ');
      const single = await cached.get(`/search/1/${encodeURIComponent(QUERIES[0]!)}`);
      assert.ok(!single.body.equals(mine.body));
    }
  });
});

describe('search answer cache: a rebuilt index', () => {
  const depot = new DepotHarness();
  let repo: string;
  before(async () => {
    repo = path.join(depot.root, 'repo');
    generateRepository(repo, syntheticRepository({ packages: 30, publishers: ['test'], seed: 3 }));
    await depot.start(['-d', repo]);
    await depot.indexed();
  });
  after(() => depot.stop());

  it('is never answered from the answers of the index before it', async () => {
    const url = `/search/1/${encodeURIComponent('False_1_None_None_package')}`;
    const before = (await depot.get(url)).body.toString();
    assert.equal((await depot.get(url)).body.toString(), before, 'asked twice, kept');
    assert.ok(!before.includes('/pkg35@'), before);
    const scratch = tempDir('search-cache-catalog');
    try {
      // The same packages and ten more, published elsewhere and moved in.
      const next = path.join(scratch, 'repo');
      generateRepository(next, syntheticRepository({ packages: 40, publishers: ['test'], seed: 3 }));
      fs.cpSync(path.join(next, 'publisher/test/pkg'), path.join(repo, 'publisher/test/pkg'), { recursive: true });
      const catalog = path.join(next, 'publisher/test/catalog');
      for (const part of fs.readdirSync(catalog)) fs.renameSync(path.join(catalog, part), path.join(repo, 'publisher/test/catalog', part));
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    await waitFor('the new packages in the answer', async () => (await depot.get(url)).body.toString().includes('/pkg35@'), 20000);
  });
});

describe('search answer cache: its size in depot.conf', () => {
  const depot = new DepotHarness();
  after(() => depot.stop());

  it('a size that is not a whole number of MiB from 0 is refused, naming the key and what it takes', async () => {
    const config = path.join(depot.root, 'depot.conf');
    for (const size of [-1, 1.5, 70000]) {
      fs.writeFileSync(config, JSON.stringify({ searchCacheMiB: size }));
      const ran = await depot.run(['-f', '-c', config, '-d', depot.root]);
      assert.notEqual(ran.code, 0);
      assert.match(ran.stderr, new RegExp(`"searchCacheMiB" must be a whole number of MiB from 0 \\(no cache\\) to 65536, not ${size}`));
    }
  });
});
