// The 40 exchanges recorded from the real pkg.depotd serving the sample repository, replayed
// against ours: same status, content type, cache policy and body.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES_DIR, tempDir } from '../support/process';
import { copyFixture, DepotHarness } from './harness';

const GOLDEN = path.join(FIXTURES_DIR, 'pkg5/golden-depotd');
/** Where the recorded server is broken (specs/depot.md): publisher/1 answered 500. */
const RECORDED_BROKEN: Record<string, string> = { '03': '02', '05': '04' };

interface Recorded {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

function recorded(id: string): Recorded {
  const [statusLine, ...lines] = fs.readFileSync(path.join(GOLDEN, `${id}.hdr`), 'utf8').split(/\r?\n/);
  const headers = new Map<string, string>();
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon > 0) headers.set(l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim());
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: fs.readFileSync(path.join(GOLDEN, `${id}.body`)) };
}

/** The message of an error page (the text of its paragraph), whatever the page's chrome. */
function errorMessage(body: Buffer): string {
  return /<p>([\s\S]*?)(<\/p>|\n)/.exec(body.toString('utf8'))?.[1]?.trim() ?? '';
}

describe('golden exchanges of pkg.depotd', () => {
  const depot = new DepotHarness();
  let scratch: string;
  before(async () => {
    scratch = tempDir('golden');
    // The recorded repository had no search index, so the recorded server answered search with 503.
    await depot.start(['-S', '-d', copyFixture(path.join(FIXTURES_DIR, 'pkg5/sample-repo'), scratch)]);
  });
  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const ids = fs.readdirSync(GOLDEN).filter((f) => f.endsWith('.url')).map((f) => f.slice(0, -4)).sort();
  const urlOf = (id: string) => fs.readFileSync(path.join(GOLDEN, `${id}.url`), 'utf8').trim();
  /** The operation of a request path: `catalog/1/...` or `<publisher>/catalog/1/...`. */
  const operationOf = (url: string) => {
    const [first, second, third] = url.split('?')[0]!.split('/');
    return /^\d+$/.test(second ?? '') ? first : /^\d+$/.test(third ?? '') ? second : undefined;
  };

  it('replays, from 40 complete recordings, an exchange of every operation our depot advertises', async () => {
    assert.equal(ids.length, 40);
    for (const id of ids) for (const part of ['hdr', 'body']) assert.ok(fs.existsSync(path.join(GOLDEN, `${id}.${part}`)), `${id}.${part} is missing`);
    const versions = await depot.get('/versions/0/');
    assert.equal(versions.status, 200);
    // versions/0: "pkg-server VERSION", then one line per operation with the versions it serves.
    const advertised = versions.body.toString().trim().split('\n').slice(1).map((line) => line.split(' ')[0]!);
    assert.ok(advertised.includes('catalog') && advertised.includes('search'), versions.body.toString());
    const replayed = new Set(ids.map((id) => operationOf(urlOf(id))));
    assert.deepEqual(advertised.filter((op) => !replayed.has(op)), [], 'advertised operations without a recorded exchange');
  });
  for (const id of ids) {
    const url = urlOf(id);
    it(`${id} /${url}`, async () => {
      const expected = recorded(RECORDED_BROKEN[id] ?? id);
      const reply = await depot.get(`/${url}`);
      assert.equal(reply.status, expected.status, reply.body.toString());
      assert.equal(reply.headers['content-type'], expected.headers.get('content-type'));
      assert.equal(reply.headers['cache-control'], expected.headers.get('cache-control'));
      if (expected.headers.has('cache-control')) assert.ok(reply.headers.expires, 'Expires goes with Cache-Control');
      const contentType = expected.headers.get('content-type') ?? '';
      if (expected.status >= 400) {
        assert.equal(errorMessage(reply.body), errorMessage(expected.body));
      } else if (contentType.includes('json') || contentType.includes('pkg5.info')) {
        assert.deepEqual(JSON.parse(reply.body.toString()), JSON.parse(expected.body.toString()));
      } else {
        assert.ok(reply.body.equals(expected.body), `body of ${url} differs`);
      }
    });
  }
});
