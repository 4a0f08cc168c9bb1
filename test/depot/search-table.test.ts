// The search index's token table: what a manifest may hold comes back byte for byte, an index in
// an older form is rebuilt rather than read, a replaced table is closed; and the pieces answers
// are written with (the value quoting, the answer buffer) against their plain definitions.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pkgQuote } from '../../src/depot/fmri';
import { answerBytes, quoteValue } from '../../src/depot/search/answer-text';
import { FORMAT } from '../../src/depot/search/publisher-index';
import { killAndWait, tempDir, waitFor } from '../support/process';
import { DepotHarness, writeRepository } from './harness';

const VERSION = '1.0,5.11-0:20250101T000000Z';

describe('search answers: value quoting and the answer buffer', () => {
  const reference = (text: string) => pkgQuote(text).replace(/%2F/g, '/');

  it('quotes every ASCII character as Python quote() with safe "/" does, and other text as pkgQuote', () => {
    for (let c = 0; c < 128; c++) {
      const text = `a${String.fromCharCode(c)}b`;
      assert.equal(quoteValue(text), reference(text), `character ${c}`);
    }
    for (const text of ['', 'plain', 'two words', '/usr/bin/x', '100%', 'é', 'mixed é and spaces', '中文/路径', '😀 emoji', "it's (quoted)*!"]) {
      assert.equal(quoteValue(text), reference(text), JSON.stringify(text));
    }
  });

  it('gives the bytes of the lines added, however long, and nothing of an earlier answer', () => {
    const lines = Array.from({ length: 40_000 }, (_, i) => `${i} 2 pkg:/x/é${i} ${'v'.repeat(i % 90)} 😀 line\n`);
    const long = answerBytes((out) => lines.forEach((l) => out.add(l)));
    assert.ok(long.length > 2 << 20, `${long.length} bytes`);
    assert.deepEqual(long, Buffer.from(lines.join('')));
    const mid = lines.slice(0, 5000);
    assert.deepEqual(
      answerBytes((out) => mid.forEach((l) => out.add(l))),
      Buffer.from(mid.join('')),
    );
    assert.deepEqual(
      answerBytes((out) => out.add('short\n')),
      Buffer.from('short\n'),
    );
    assert.equal(answerBytes(() => {}).length, 0);
  });
});

/** Manifest lines holding the bytes the table uses to separate and escape its fields. */
const ODD = `set name=pkg.fmri value=pkg://test/odd/bytes@${VERSION}
set name=note value="ctl\x01one z1"
set name=escape value="lit\x021 z2"
dir group=bin mode=0755 owner=root path=bin
dir group=bin mode=0755 owner=root path=usr/bin
`;

describe('search token table', () => {
  const depot = new DepotHarness();
  let repo: string;
  const P = `pkg:/odd/bytes@${VERSION}`;
  const search = async (query: string, type = 2) => {
    const reply = await depot.get(`/search/1/${encodeURIComponent(`False_${type}_None_None_${query}`)}`);
    assert.equal(reply.status, 200, `${query}: ${reply.status} ${reply.body}`);
    return reply.body.toString();
  };
  const tables = () => fs.readdirSync(path.join(depot.layout.files.searchIndex), { recursive: true }).map(String).filter((f) => f.endsWith('.tokens'));
  const dictionary = () => {
    const file = fs.readdirSync(depot.layout.files.searchIndex, { recursive: true }).map(String).find((f) => f.endsWith('test.json'));
    return file ? path.join(depot.layout.files.searchIndex, file) : null;
  };
  /** The token tables the depot holds open: the link of each descriptor. */
  const openTables = () =>
    fs
      .readdirSync(`/proc/${depot.pid}/fd`)
      .map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${depot.pid}/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .filter((link) => link.includes('.tokens'));

  before(async () => {
    repo = path.join(depot.root, 'repo');
    writeRepository(repo, 'test', [{ stem: 'odd/bytes', version: VERSION, text: ODD }]);
    await depot.start(['-d', repo]);
    await depot.indexed();
  });
  after(() => depot.stop());

  it('gives back values and lines holding its separator and escape bytes as the manifest has them', async () => {
    const line = (n: number) => ODD.split('\n')[n]!;
    assert.equal(await search('z1'), `Return from search v1\n0 2 ${P} ctl%01one%20z1 ${line(1)}\n`);
    assert.equal(await search('z2'), `Return from search v1\n0 2 ${P} lit%021%20z2 ${line(2)}\n`);
    // A token with the escape byte in it is found by itself.
    assert.equal(await search('lit\x021'), `Return from search v1\n0 2 ${P} lit%021%20z2 ${line(2)}\n`);
  });

  it('keeps every line a posting comes from: one basename in two directories', async () => {
    assert.equal(await search('bin'), `Return from search v1\n0 2 ${P} basename ${ODD.split('\n')[3]}\n0 2 ${P} basename ${ODD.split('\n')[4]}\n`);
    assert.equal(await search('bin', 1), `Return from search v1\n0 1 ${P}\n`);
  });

  it('rebuilds an index left in an earlier form instead of reading it', async () => {
    const file = dictionary();
    assert.ok(file, 'the dictionary is written');
    await search('z1');
    await killAndWait(depot.pid, 'SIGTERM');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { format: number; table: string };
    assert.equal(stored.format, FORMAT);
    const oldTable = stored.table;
    // The dictionary of the form before this one, over a table of that form's lines.
    fs.writeFileSync(file, JSON.stringify({ ...stored, format: FORMAT - 1 }));
    fs.writeFileSync(path.join(path.dirname(file), oldTable), `z1\x01[0,"set","note","wrong",0]\n`);
    await depot.start(['-d', repo]);
    await depot.indexed();
    const rebuilt = JSON.parse(fs.readFileSync(file, 'utf8')) as { format: number; table: string };
    assert.equal(rebuilt.format, FORMAT);
    assert.notEqual(rebuilt.table, oldTable);
    assert.equal(await search('z1'), `Return from search v1\n0 2 ${P} ctl%01one%20z1 ${ODD.split('\n')[1]}\n`);
    await waitFor('the old table removed', async () => !tables().some((t) => t.endsWith(oldTable)), 15000);
  });

  it('closes the table of an index a newer one replaced', async () => {
    await search('z1');
    assert.equal(openTables().length, 1, openTables().join(', '));
    const scratch = tempDir('search-table');
    try {
      // A second package published elsewhere and moved in, as a publication tool replaces a catalog.
      writeRepository(scratch, 'test', [
        { stem: 'odd/bytes', version: VERSION, text: ODD },
        { stem: 'odd/more', version: VERSION, text: `set name=pkg.fmri value=pkg://test/odd/more@${VERSION}\nset name=pkg.summary value="one more z1"\n` },
      ]);
      fs.cpSync(path.join(scratch, 'publisher/test/pkg'), path.join(repo, 'publisher/test/pkg'), { recursive: true });
      for (const part of ['catalog.base.C', 'catalog.attrs']) fs.renameSync(path.join(scratch, 'publisher/test/catalog', part), path.join(repo, 'publisher/test/catalog', part));
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    await waitFor('the new package in search', async () => (await search('z1', 1)).includes('odd/more'));
    const open = openTables();
    assert.equal(open.length, 1, open.join(', '));
    assert.ok(!open[0]!.endsWith('(deleted)'), open[0]);
    assert.equal(path.basename(open[0]!), (JSON.parse(fs.readFileSync(dictionary()!, 'utf8')) as { table: string }).table);
  });
});
