import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../../support/process';
import { runDebian, runOurs } from '../debian';

// pen's -l log (client, unix time, server, request) and two web servers' access logs,
// including lines mergelogs skips, a record outside the jitter window and a long line.
const PEN_LOG = [
  '10.1.1.1 1795479100 127.0.0.1 GET / HTTP/1.1',
  '10.1.1.2 1795479105 127.0.0.2 GET /a HTTP/1.1',
  'bogus',
  '10.1.1.3 1795479110 127.0.0.1 GET /b HTTP/1.1',
  '10.1.1.4 1795479200 127.0.0.1 GET / HTTP/1.1',
  '10.1.1.6 1795479201 127.0.0.9 GET / HTTP/1.1',
  '10.1.1.5 1795480500 127.0.0.2 POST /form HTTP/1.1',
  `10.1.1.7 1795480600 127.0.0.2 GET /${'l'.repeat(1100)}`,
  '',
]
  // The same day as the access logs: 24/Nov/2026 00:11:40 + 21:20 is 21:31:40 UTC.
  .map((line) => line.replace(/^(\S+) (\d+)/, (_m, client: string, t: string) => `${client} ${Number(t) + 76800}`))
  .join('\n');

const SERVER_A = [
  '127.0.0.1 - - [24/Nov/2026:21:31:40 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"',
  '127.0.0.1 - - [24/Nov/2026:21:31:50 +0000] "GET /b HTTP/1.1" 404 0',
  'broken line',
  '127.0.0.1 - - [24/Nov/2026:21:33:21 +0000] "GET / HTTP/1.1" 200 612',
  '127.0.0.1 - - [24/Nov/2026:21:33:22 +0000] "GET /nomatch HTTP/1.1"',
  '127.0.0.1 - - [24/Nov/2026:21:33:23 +0000] "GET /z HTTP/1.1" 200',
  '127.0.0.1 [24/Nov/2026:21:33:24 +0000] "GET / HTTP/1.1" 200',
  '',
].join('\n');

const SERVER_B = [
  '127.0.0.2 - frank [24/Nov/2026:21:31:45 +0000] "GET /a HTTP/1.1" 200 1',
  '127.0.0.2 - - [24/Nov/2026:21:55:00 +0000] "POST /form HTTP/1.1" 302 0',
  '127.0.0.2 - - [xx/Foo/2026:21:55:00 +0000] "POST /form HTTP/1.1" 302 0',
  `127.0.0.2 - - [24/Nov/2026:21:56:40 +0000] "GET /${'l'.repeat(1100)}" 200 1`,
  '127.0.0.2 - - [24/Nov/2026:22:30:00 +0000] "GET /a HTTP/1.1" 200 1',
].join('\n');

// Debian's binary passes an uninitialised struct tm to mktime(): from the second line of a log
// on, leftover stack bytes can set tm_isdst and move a stamp by an hour. Side by side, each web
// server log therefore has one access line (after lines mergelogs skips); several servers make
// the merge. Longer logs are checked against the expected result below.
const ONE_LINE_LOGS: Record<string, string> = {
  '127.0.0.1': 'broken line\n127.0.0.1 - - [24/Nov/2026:21:31:40 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"\n',
  '127.0.0.2': '127.0.0.2 - frank [24/Nov/2026:21:31:45 +0000] "GET /a HTTP/1.1" 200 1\n',
  '127.0.0.3': '127.0.0.3 - - [24/Nov/2026:21:31:50 +0000] "GET /nomatch HTTP/1.1"\n127.0.0.3 - - [24/Nov/2026:21:31:50 +0100] "GET /b HTTP/1.1" 404 0\n',
  '127.0.0.4': `127.0.0.4 - - [24/Nov/2026:21:56:40 -0130] "GET /${'l'.repeat(1100)}" 200 1`,
  '127.0.0.5': '127.0.0.5 [24/Nov/2026:21:33:24 +0000] "GET / HTTP/1.1" 200\n127.0.0.5 - - [24/Nov/2026:22:40:00 +0000] "GET /far HTTP/1.1" 200 1\n',
  '127.0.0.6': '127.0.0.6 - - [24/Nov/2026:21:33:23 +0000] "GET /z HTTP/1.1" 200\n',
};

const ONE_LINE_PEN_LOG = [
  '10.1.1.1 1795479100 127.0.0.1 GET / HTTP/1.1',
  '10.1.1.2 1795479105 127.0.0.2 GET /a HTTP/1.1',
  'bogus',
  '10.1.1.3 1795475510 127.0.0.3 GET /b HTTP/1.1',
  '10.1.1.8 1795475515 127.0.0.3 GET /b HTTP/1.1',
  '10.1.1.4 1795479200 127.0.0.1 GET / HTTP/1.1',
  '10.1.1.6 1795479201 127.0.0.9 GET / HTTP/1.1',
  '10.1.1.9 1795483200 127.0.0.5 GET /far HTTP/1.1',
  `10.1.1.7 1795485990 127.0.0.4 GET /${'l'.repeat(1100)}`,
  '',
]
  .map((line) => line.replace(/^(\S+) (\d+)/, (_m, client: string, t: string) => `${client} ${Number(t) + 76800}`))
  .join('\n');

describe('mergelogs side by side with Debian mergelogs', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  before(() => {
    dir = tempDir('mergelogs-debian');
    fs.writeFileSync(file('pen.log'), ONE_LINE_PEN_LOG);
    for (const [server, text] of Object.entries(ONE_LINE_LOGS)) fs.writeFileSync(file(`${server}.log`), text);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const servers = () => Object.keys(ONE_LINE_LOGS).map((s) => `${s}:${file(`${s}.log`)}`);

  for (const flags of [[], ['-c'], ['-j', '5'], ['-j', '5', '-c'], ['-t', '3600'], ['-t', '-3600', '-c'], ['-j', '100000', '-c'], ['-d']]) {
    it(`writes the same merged log as Debian with ${flags.join(' ') || 'no options'}`, async () => {
      const args = ['-p', file('pen.log'), ...flags, ...servers()];
      const theirs = await runDebian('mergelogs', args);
      const mine = await runOurs('mergelogs', args);
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.equal(mine.code, 0, mine.stderr);
      assert.equal(theirs.stdout.split('\n').length, 6);
      assert.equal(mine.stdout, theirs.stdout);
      if (flags.length === 0) assert.match(theirs.stdout, /^10\.1\.1\.2 - frank \[24\/Nov\/2026:21:31:45 \+0000\]/m);
    });
  }

  it('accepts options after the log files, as glibc getopt does', async () => {
    const theirs = await runDebian('mergelogs', [...servers(), '-p', file('pen.log')]);
    const mine = await runOurs('mergelogs', [...servers(), '-p', file('pen.log')]);
    assert.equal(mine.stdout, theirs.stdout);
  });
});

describe('mergelogs on longer logs', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  before(() => {
    dir = tempDir('mergelogs');
    fs.writeFileSync(file('pen.log'), PEN_LOG);
    fs.writeFileSync(file('a.log'), SERVER_A);
    fs.writeFileSync(file('b.log'), SERVER_B);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const servers = () => [`127.0.0.1:${file('a.log')}`, `127.0.0.2:${file('b.log')}`];

  it('replaces the server with the real client, in time order', async () => {
    const mine = await runOurs('mergelogs', ['-p', file('pen.log'), ...servers()]);
    const lines = mine.stdout.split('\n');
    assert.equal(lines[0], '10.1.1.1 - - [24/Nov/2026:21:31:40 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"');
    assert.equal(lines[1], '10.1.1.2 - frank [24/Nov/2026:21:31:45 +0000] "GET /a HTTP/1.1" 200 1');
    assert.match(mine.stdout, /^127\.0\.0\.1 - - \[24\/Nov\/2026:21:33:23 \+0000\] "GET \/z/m, 'no pen record: the server stays');
  });

  it('fails with the reason and the fix where Debian prints usage or a terse error', async () => {
    const cases: Array<[string[], RegExp, number]> = [
      [[], /no web server log given; name at least one as server:logfile/, 0],
      [['-x', 'a:b'], /unknown option -x/, 0],
      [['a:b'], /no pen log given \(pfile null\); name pen's -l file with -p/, 1],
      [['-p', file('missing.log'), 'a:b'], /cannot open pen log '.*missing\.log' \(pfp null: ENOENT\)/, 1],
      [['-p', file('pen.log'), 'ab'], /Bogus server 'ab': write server:logfile/, 1],
      [['-p', file('pen.log'), `127.0.0.1:${file('missing.log')}`], /Can't open logfile '.*missing\.log' \(ENOENT\)/, 1],
    ];
    for (const [args, message, debianCode] of cases) {
      const theirs = await runDebian('mergelogs', args);
      const mine = await runOurs('mergelogs', args);
      assert.equal(theirs.code, debianCode, `Debian's status for ${args.join(' ')}`);
      assert.equal(mine.code, 1, `status for ${args.join(' ')}`);
      assert.match(mine.stderr, message);
      if (debianCode === 0) assert.equal(mine.stdout, theirs.stdout, 'the same usage text');
      else assert.equal(mine.stdout, '');
    }
  });
});
