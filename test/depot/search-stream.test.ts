// Large search answers (`*`, `content:*`, `<*>`, broad patterns) are streamed a slice of the
// package table at a time: the bytes are those of answers made at once, the depot's memory stays
// bounded while several are answered and while clients read slowly or not at all, a client that
// stalls is cut off, and answers over the slots and their waiting line get 503 with Retry-After.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateRepository } from '../../tools/repogen/generate';
import { syntheticRepository } from '../../tools/repogen/synthetic';
import { FIXTURES_DIR } from '../../tools/places';
import { copyFixture, DepotHarness } from './harness';

const QUERY_TEXTS = [
  '*', 'content:*', '<*>', 'file:path:*', '::*', 'set:*:*', 'depend::*', 'a*', 'pkg1*', '<pkg1*>', 'package', '<package>',
  'file:basename:file0-0.txt', 'pkg3', '* AND pkg3', 'pkg3 AND *', '<*> AND <pkg1*>', "'fast archive'", 'archive OR daemon',
  '*:*:*:pkg1*', 'pkg:/pkg2*', 'a_non_existent_token', 'fmri:*', '<* AND pkg2>',
];
/** Each query in every form: search/0, search/1 actions and packages, case-sensitive, and with a start point and count. */
const URLS = QUERY_TEXTS.flatMap((q) => [
  `/search/0/${encodeURIComponent(q)}`,
  ...['False_2_None_None_', 'False_1_None_None_', 'True_2_None_None_', 'False_2_100_250_', 'False_1_7_3_', 'False_2_0_None_', 'False_2_None_-4_'].map((h) => `/search/1/${encodeURIComponent(h + q)}`),
]);

/** A depot with search settings of its own in depot.conf. */
async function depotWith(settings: Record<string, number>, repos: string[]): Promise<DepotHarness> {
  const depot = new DepotHarness();
  const config = path.join(depot.root, 'depot.conf');
  fs.writeFileSync(config, JSON.stringify(settings));
  await depot.start(['-c', config, ...repos.flatMap((r) => ['-d', r])]);
  await depot.indexed();
  return depot;
}

describe('streamed search answers: the bytes of answers made at once', () => {
  let scratch: DepotHarness;
  let streamed: DepotHarness;
  let atOnce: DepotHarness;
  before(async () => {
    scratch = new DepotHarness();
    const generated = path.join(scratch.root, 'generated');
    generateRepository(generated, syntheticRepository({ packages: 300, publishers: ['test'], seed: 5 }));
    // Every search streamed (with the answer cache on: streamed answers it keeps are answered from it), against none.
    streamed = await depotWith({ searchStreamFromKiB: 0 }, [generated]);
    atOnce = await depotWith({ searchStreamFromKiB: 1048576, searchCacheMiB: 0 }, [generated]);
  });
  after(async () => {
    await Promise.all([streamed?.stop(), atOnce?.stop(), scratch?.stop()]);
  });

  it('answers every query in every form with the same status and bytes, asked three times', async () => {
    for (const url of URLS) {
      const reference = await atOnce.get(url);
      for (const round of [1, 2, 3]) {
        const reply = await streamed.get(url);
        assert.equal(reply.status, reference.status, `${url}, round ${round}`);
        assert.ok(reply.body.equals(reference.body), `${url}, round ${round}: ${reply.body.length} bytes against ${reference.body.length}`);
      }
    }
  });

  it('writes a large answer as it is formed (no length known ahead), and a small one whole', async () => {
    const all = await streamed.get(`/search/1/${encodeURIComponent('False_2_None_None_*')}`);
    assert.equal(all.headers['transfer-encoding'], 'chunked');
    assert.equal(all.headers['content-length'], undefined);
    assert.ok(all.body.length > 1 << 20, `${all.body.length} bytes`);
    assert.match(String(all.headers['cache-control']), /^must-revalidate, no-transform, max-age=/);
    const one = await streamed.get(`/search/1/${encodeURIComponent('False_2_None_None_pkg3')}`);
    assert.equal(one.headers['content-length'], String(one.body.length));
    const head = await streamed.get(`/search/1/${encodeURIComponent('False_2_None_None_*')}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it('answers a POSTed form of several queries, large ones among them, with the same bytes', async () => {
    const form = new URLSearchParams({ 0: 'False_2_None_None_pkg3', 1: 'False_2_None_None_*', 2: 'False_1_None_None_a_non_existent_token', 3: 'False_1_None_None_<*>' }).toString();
    const post = (depot: DepotHarness) => depot.get('/search/1/', { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(form) }, 'POST', form);
    const [mine, reference] = [await post(streamed), await post(atOnce)];
    assert.equal(mine.status, 200);
    assert.ok(mine.body.equals(reference.body), `${mine.body.length} bytes against ${reference.body.length}`);
  });

  it('answers the fixture repositories as at once', async () => {
    const repos = ['sample-repo', 'multirepo'].map((name) => copyFixture(path.join(FIXTURES_DIR, 'pkg5', name), scratch.root));
    const [s, a] = await Promise.all([depotWith({ searchStreamFromKiB: 0 }, repos), depotWith({ searchStreamFromKiB: 1048576 }, repos)]);
    try {
      const prefixes = ['', ...fs.readdirSync(path.join(repos[1]!, 'publisher')).map((pub) => `/${pub}`)];
      for (const text of ['*', '<*>', 'file:path:*', 'set::*', 'bin', 'depend::*', 'example*']) {
        for (const prefix of prefixes) {
          for (const url of [`${prefix}/search/0/${encodeURIComponent(text)}`, `${prefix}/search/1/${encodeURIComponent(`False_2_None_None_${text}`)}`, `${prefix}/search/1/${encodeURIComponent(`False_1_None_None_${text}`)}`]) {
            const [mine, reference] = [await s.get(url), await a.get(url)];
            assert.equal(mine.status, reference.status, url);
            assert.ok(mine.body.equals(reference.body), url);
          }
        }
      }
    } finally {
      await Promise.all([s.stop(), a.stop()]);
    }
  });
});

/** The packages of the generated repository the memory test searches; bench/depot uses 10,000. */
const PACKAGES = Number(process.env.DEPOT_STREAM_TEST_PACKAGES ?? 10000);
/** The bound on the depot's peak RSS, in MiB: before answers were streamed, a `*` on 10,000 packages took it past 500. */
const PEAK_RSS_MIB = 200;

interface Fetched {
  status: number;
  bytes: number;
  hash: string;
  /** The connection closed before the answer's end. */
  cut: boolean;
}

/** A GET whose answer is read as `onData` lets it (it may pause the answer), from when `readFrom` resolves. */
function fetchAnswer(port: number, urlPath: string, onData: (res: http.IncomingMessage, chunk: Buffer) => void, readFrom = Promise.resolve()): Promise<Fetched> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, hash: hash.digest('hex'), cut: !res.complete }));
      void readFrom.then(() =>
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
          onData(res, chunk);
        }),
      );
    });
    req.on('error', () => resolve({ status: 0, bytes: 0, hash: '', cut: true }));
  });
}

function peakRssMiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

describe(`streamed search answers: the depot's memory with ${PACKAGES} packages`, () => {
  const scratch = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'search-stream-'));
  let depot: DepotHarness | undefined;
  before(async () => {
    const repo = path.join(scratch, 'repo');
    generateRepository(repo, syntheticRepository({ packages: PACKAGES, publishers: ['bench'], seed: 1 }));
    depot = await depotWith({ searchStreams: 2, searchSendTimeout: 3 }, [repo]);
  });
  after(async () => {
    await depot?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it(`answers '*' to stalled, queued, slow and refused clients at once within ${PEAK_RSS_MIB} MiB of peak RSS`, async () => {
    const { port, pid } = depot!;
    const all = `/search/1/${encodeURIComponent('False_2_None_None_*')}`;
    // Two clients that read nothing take both slots; the server queues no more than its bound for them.
    let wake = () => {};
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const stalled = [fetchAnswer(port, all, () => {}, woken), fetchAnswer(port, all, () => {}, woken)];
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Four wait for a slot (two per slot); one of them reads slowly, a pause every MiB.
    let sinceRest = 0;
    const slowly = (res: http.IncomingMessage, chunk: Buffer) => {
      sinceRest += chunk.length;
      if (sinceRest < 1 << 20) return;
      sinceRest = 0;
      res.pause();
      setTimeout(() => res.resume(), 50);
    };
    const waiting = [fetchAnswer(port, all, slowly), ...[1, 2, 3].map(() => fetchAnswer(port, all, () => {}))];
    await new Promise((resolve) => setTimeout(resolve, 300));
    // One more than the slots and their line hold: refused at once, told when to come back.
    const refused = await depot!.get(all);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '10');
    const answers = await Promise.all(waiting);
    // The stalled clients were cut off after the send timeout (3 s): their slots passed on, and what they read now ends early.
    wake();
    for (const s of await Promise.all(stalled)) assert.ok(s.cut, 'a stalled client was sent the whole answer');
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.ok(!a.cut, 'an answer ended early');
      assert.equal(a.hash, answers[0]!.hash, 'the answers differ');
    }
    const peak = peakRssMiB(pid);
    process.stderr.write(`${PACKAGES} packages: '*' answered in ${answers[0]!.bytes} bytes to 4 clients beside 2 stalled ones; depot peak RSS ${peak.toFixed(1)} MiB\n`);
    assert.ok(answers[0]!.bytes > PACKAGES * 1000, `${answers[0]!.bytes} bytes`);
    assert.ok(peak < PEAK_RSS_MIB, `peak RSS ${peak.toFixed(1)} MiB`);
  });

  it('answers small searches at once while a large answer waits on its client', async () => {
    const controller = new AbortController();
    const stalled = http.get({ host: '127.0.0.1', port: depot!.port, path: `/search/1/${encodeURIComponent('False_2_None_None_*')}`, agent: false, signal: controller.signal });
    stalled.on('error', () => {});
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const small = await depot!.get(`/search/1/${encodeURIComponent('False_2_None_None_pkg4242')}`);
      assert.equal(small.status, 200);
      assert.match(small.body.toString(), /pkg:\/library\/pkg4242@/);
    } finally {
      controller.abort();
    }
  });
});

describe('streamed search answers: their settings in depot.conf', () => {
  const depot = new DepotHarness();
  after(() => depot.stop());

  it('a setting out of its range is refused, naming the key and what it takes', async () => {
    const config = path.join(depot.root, 'depot.conf');
    const cases: Array<[string, number, RegExp]> = [
      ['searchStreams', 0, /"searchStreams" must be a whole number of large search answers sent at once, from 1 to 64, not 0/],
      ['searchStreams', 2.5, /"searchStreams" must be .* not 2\.5/],
      ['searchStreamFromKiB', -1, /"searchStreamFromKiB" must be a whole number of KiB from 0 \(every search streamed\) to 1048576, not -1/],
      ['searchSendTimeout', 0, /"searchSendTimeout" must be a whole number of seconds from 1 to 3600, not 0/],
    ];
    for (const [key, value, message] of cases) {
      fs.writeFileSync(config, JSON.stringify({ [key]: value }));
      const ran = await depot.run(['-f', '-c', config, '-d', depot.root]);
      assert.notEqual(ran.code, 0, `${key}: ${value}`);
      assert.match(ran.stderr, message);
    }
  });
});
