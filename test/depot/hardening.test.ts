// What the real pkg client and an attacker found: lookups across publishers, patterns that must
// cost linear time, log lines nobody can forge, bodies nobody asked for, and ranges as nginx serves them.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderDaemonFiles } from '../../src/builder/templates';
import { pkgQuote } from '../../src/depot/fmri';
import { generateRepository } from '../../tools/repogen/generate';
import { tempDir, waitFor } from '../support/process';
import { createTestUser, writeTestPamService, type TestUser } from '../support/pam';
import { DepotHarness } from './harness';

const VERSION = '1.0,5.11-0:20250101T000000Z';
const stamp = new Date('2025-01-01T00:00:00Z');

/** Sends raw bytes and collects what comes back until the depot closes the connection (or `limitMs`). */
function raw(port: number, request: string, limitMs: number): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.from(request, 'latin1')));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false, ms: Date.now() - started });
    }, limitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true, ms: Date.now() - started });
    });
    socket.on('error', reject);
  });
}

describe('depot: two publishers, requests that name neither', () => {
  const depot = new DepotHarness();
  const worldManifest = () => fs.readFileSync(path.join(depot.root, 'repo/publisher/beta/pkg', pkgQuote('beta/world'), pkgQuote(VERSION)));
  before(async () => {
    generateRepository(path.join(depot.root, 'repo'), {
      created: stamp,
      lastModified: stamp,
      defaultPublisher: 'alpha',
      publishers: [
        { name: 'alpha', packages: [{ stem: 'alpha/hello', versions: [{ version: VERSION, summary: 'hello' }] }] },
        { name: 'beta', packages: [{ stem: 'beta/world', versions: [{ version: VERSION, summary: 'world' }] }] },
      ],
    });
    await depot.start(['-S', '-d', path.join(depot.root, 'repo')]);
  });
  after(() => depot.stop());

  it('manifest/0 finds the package of the non-default publisher, by GET and HEAD', async () => {
    const url = `/manifest/0/${encodeURIComponent(`beta/world@${VERSION}`)}`;
    const got = await depot.get(url);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(worldManifest()));
    const head = await depot.get(url, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(worldManifest().length));
  });

  it('manifest/0 takes the publisher the FMRI names, also split by a proxy after pkg:', async () => {
    assert.equal((await depot.get(`/manifest/0/${encodeURIComponent(`pkg://beta/beta/world@${VERSION}`)}`)).status, 200);
    assert.equal((await depot.get(`/manifest/0/pkg:/beta/${encodeURIComponent(`beta/world@${VERSION}`)}`)).status, 200);
    assert.equal((await depot.get(`/manifest/0/${encodeURIComponent(`pkg://alpha/beta/world@${VERSION}`)}`)).status, 404);
    assert.equal((await depot.get(`/alpha/manifest/0/${encodeURIComponent(`beta/world@${VERSION}`)}`)).status, 404);
  });

  it('p5i/0 finds the package of the non-default publisher and names that publisher', async () => {
    const reply = await depot.get('/p5i/0/beta%2Fworld');
    assert.equal(reply.status, 200);
    const p5i = JSON.parse(reply.body.toString()) as { publishers: Array<{ name: string; packages: string[] }> };
    assert.deepEqual(p5i.publishers.map((p) => [p.name, p.packages]), [['beta', ['beta/world']]]);
    assert.equal((await depot.get(`/p5i/0/${encodeURIComponent(`beta/world@${VERSION}`)}`)).status, 200);
    assert.equal((await depot.get('/p5i/0/world')).status, 200);
    assert.equal((await depot.get('/alpha/p5i/0/world')).status, 404);
    const both = JSON.parse((await depot.get('/p5i/0/*')).body.toString()) as { publishers: Array<{ name: string }> };
    assert.deepEqual(both.publishers.map((p) => p.name), ['alpha', 'beta']);
  });

  it('a pattern of many stars is answered at once, and a bystander is not held up', async () => {
    for (const pattern of ['*********Z', `${'*'.repeat(40)}Z`, `${'*a'.repeat(200)}Z`]) {
      const started = Date.now();
      const [reply, bystander] = await Promise.all([depot.get(`/p5i/0/${encodeURIComponent(pattern)}`), depot.get('/versions/0/')]);
      assert.equal(reply.status, 404);
      assert.equal(bystander.status, 200);
      assert.ok(Date.now() - started < 1000, `${pattern}: ${Date.now() - started} ms`);
    }
  });
});

describe('depot: requests an attacker writes', () => {
  const depot = new DepotHarness();
  let hash = '';
  let payload: Buffer;
  before(async () => {
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, {
      created: stamp,
      lastModified: stamp,
      publishers: [{ name: 'test', packages: [{ stem: 'big/file', versions: [{ version: VERSION, files: [{ path: 'usr/share/data', content: Buffer.alloc(100_000, 7) }] }] }] }],
    });
    const store = path.join(repo, 'publisher/test/file');
    const dir = fs.readdirSync(store)[0]!;
    hash = fs.readdirSync(path.join(store, dir))[0]!;
    payload = fs.readFileSync(path.join(store, dir, hash));
    await depot.start(['-S', '-d', repo]);
  });
  after(() => depot.stop());

  const logLine = (agent: string) => waitFor(`the access log line of ${agent}`, () => fs.readFileSync(depot.layout.files.accessLog!, 'utf8').split('\n').find((l) => l.includes(agent)));

  it('the access log escapes quotes, backslashes and control bytes as nginx does', async () => {
    await raw(depot.port, 'GET /versions/0/ HTTP/1.1\r\nHost: x\r\nUser-Agent: forge-test a" 200 0 "b\\c\t\xe9\r\nConnection: close\r\n\r\n', 5000);
    const line = await logLine('forge-test');
    assert.ok(line.endsWith(' "forge-test a\\x22 200 0 \\x22b\\x5Cc\\x09\\xE9"'), line);
    assert.equal(line.split('"').length, 5, 'four quotes: the request and the agent');
    const sent = await raw(depot.port, 'GET /versions/0/?a"b\x7f HTTP/1.1\r\nHost: x\r\nUser-Agent: forge-url\r\nConnection: close\r\n\r\n', 5000);
    assert.match(sent.text, /^HTTP\/1.1 (200|400)/);
    if (sent.text.startsWith('HTTP/1.1 200')) assert.match(await logLine('forge-url'), /"GET \/versions\/0\/\?a\\x22b\\x7F HTTP\/1.1"/);
  });

  it('a body where none is taken is refused at once and the connection closed', async () => {
    for (const method of ['POST', 'PUT', 'GET']) {
      const sent = await raw(depot.port, `${method} /versions/0/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n`, 3000);
      assert.match(sent.text, /^HTTP\/1.1 (400|405) /, method);
      assert.ok(sent.closed, `${method}: the connection was held ${sent.ms} ms`);
    }
    const search = await raw(depot.port, 'POST /search/1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n', 3000);
    assert.match(search.text, /^HTTP\/1.1 (413|503) /);
    assert.ok(search.closed, 'an oversized search form closes the connection');
  });

  it('a client that never finishes its headers is dropped after the documented 10 s', async () => {
    const sent = await raw(depot.port, 'GET /versions/0/ HTTP/1.1\r\nHost: x\r\n', 15_000);
    assert.ok(sent.closed && sent.ms < 13_000, `held ${sent.ms} ms`);
  });

  it('500 ranges or overlapping ranges get 200 and the whole file, as nginx answers them', async () => {
    const url = `/file/1/${hash}`;
    const many = Array.from({ length: 500 }, (_, i) => `${i * 10}-${i * 10 + 4}`).join(',');
    for (const range of [`bytes=${many}`, 'bytes=0-99,50-149', 'bytes=0-0,-1,0-']) {
      const reply = await depot.get(url, { Range: range });
      assert.equal(reply.status, 200, range.slice(0, 40));
      assert.ok(reply.body.equals(payload));
    }
  });

  it('adjacent ranges are served as one, disjoint ones as multipart/byteranges', async () => {
    const url = `/file/1/${hash}`;
    const joined = await depot.get(url, { Range: 'bytes=0-9,10-19' });
    assert.equal(joined.status, 206);
    assert.equal(joined.headers['content-range'], `bytes 0-19/${payload.length}`);
    assert.ok(joined.body.equals(payload.subarray(0, 20)));
    const two = await depot.get(url, { Range: 'bytes=0-9,100-109' });
    assert.equal(two.status, 206);
    const boundary = /^multipart\/byteranges; boundary=(\S+)$/.exec(String(two.headers['content-type']))?.[1];
    assert.ok(boundary, String(two.headers['content-type']));
    const text = two.body.toString('latin1');
    assert.equal(text.split(`--${boundary}\r\n`).length, 3);
    assert.ok(text.includes(`Content-Range: bytes 100-109/${payload.length}\r\n\r\n${payload.subarray(100, 110).toString('latin1')}`));
    assert.ok(text.endsWith(`--${boundary}--\r\n`));
    assert.equal(Number(two.headers['content-length']), two.body.length);
    assert.equal((await depot.get(url, { Range: `bytes=${payload.length}-` })).status, 416);
  });
});

describe('depot: patterns in search', () => {
  const depot = new DepotHarness();
  let scratch = '';
  before(async () => {
    scratch = tempDir('glob');
    generateRepository(path.join(scratch, 'repo'), {
      created: stamp,
      lastModified: stamp,
      publishers: [{ name: 'test', packages: [{ stem: 'tools/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', versions: [{ version: VERSION, summary: 'a aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa tool' }] }] }],
    });
    await depot.start(['-d', path.join(scratch, 'repo')]);
    await depot.indexed();
  });
  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('a glob of many stars is answered at once, and patterns still match', async () => {
    for (const glob of ['******#', `${'*'.repeat(30)}#`, `${'*a'.repeat(100)}#`]) {
      const started = Date.now();
      const reply = await depot.get(`/search/0/${encodeURIComponent(glob)}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.body.length, 0);
      assert.ok(Date.now() - started < 1000, `${glob}: ${Date.now() - started} ms`);
    }
    assert.match((await depot.get(`/search/0/${encodeURIComponent('*o[!x]?/a*a')}`)).body.toString(), /tools\/a+/);
    assert.match((await depot.get(`/search/0/${encodeURIComponent('[s-u]OOL')}`)).body.toString(), /tools\/a+/);
  });
});

describe('depot: admin/0 logins under attack', () => {
  const depot = new DepotHarness();
  let user: TestUser;
  let removePam: () => void;
  let hash = '';
  before(async () => {
    user = createTestUser();
    removePam = writeTestPamService(depot.layout.pamService, ['auth required pam_unix.so', 'account required pam_unix.so']);
    const repo = path.join(depot.root, 'repo');
    // Larger than the memory cache takes: every fetch reads the disk through the thread pool.
    generateRepository(repo, {
      created: stamp,
      lastModified: stamp,
      publishers: [{ name: 'test', packages: [{ stem: 'big/file', versions: [{ version: VERSION, files: [{ path: 'usr/share/data', content: crypto.randomBytes(3 << 20) }] }] }] }],
    });
    const store = path.join(repo, 'publisher/test/file');
    const dir = fs.readdirSync(store)[0]!;
    hash = fs.readdirSync(path.join(store, dir))[0]!;
    await depot.start(['--admin-over-http', '-S', '-d', repo]);
  });
  after(async () => {
    await depot.stop();
    removePam();
    user.remove();
  });
  const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('16 wrong passwords at once leave file serving as quick as before, and the address is then refused', async () => {
    const fetchFile = async () => {
      const started = Date.now();
      const reply = await depot.get(`/file/1/${hash}`);
      assert.equal(reply.status, 200);
      return Date.now() - started;
    };
    const quiet = Math.max(...[await fetchFile(), await fetchFile(), await fetchFile()]);
    const attack = Promise.all(Array.from({ length: 16 }, () => depot.get('/admin/0?cmd=status', basic(user.name, 'wrong'))));
    const during: number[] = [];
    // pam_unix answers a wrong password after about 2 s: fetch while the attempts are being checked.
    const until = Date.now() + 2500;
    while (Date.now() < until) during.push(await fetchFile());
    const statuses = (await attack).map((r) => r.status);
    assert.ok(Math.max(...during) < Math.max(1000, quiet * 5), `fetches took ${during.join(', ')} ms during the attack (${quiet} ms before)`);
    assert.ok(statuses.every((s) => s === 401 || s === 429), statuses.join(' '));
    assert.ok(statuses.includes(429), 'logins beyond those checked at once are refused without a PAM call');
  });

  it('checks passwords in a process of the idle scheduling class, apart from the depot', () => {
    const children = fs.readFileSync(`/proc/${depot.pid}/task/${depot.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    // Field 41 of /proc/PID/stat is the scheduling policy; 5 is SCHED_IDLE.
    const policies = children.map((pid) => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[38]);
    assert.deepEqual(policies, ['5'], `children ${children.join(', ')}`);
    assert.equal(fs.readFileSync(`/proc/${depot.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[38], '0', 'the depot itself keeps the normal class');
  });

  it('after five failures from one address even the right password is refused for a while, and that is logged', async () => {
    for (let i = 0; i < 5; i++) await depot.get('/admin/0?cmd=status', basic(user.name, 'wrong'));
    const asked = Date.now();
    const refused = await depot.get('/admin/0?cmd=status', basic(user.name, user.password));
    assert.equal(refused.status, 429);
    // Held as long as a wrong password: a client waiting for each answer is slowed, not served fast.
    assert.ok(Date.now() - asked >= 1900, `refused after ${Date.now() - asked} ms`);
    assert.ok(Number(refused.headers['retry-after']) > 0);
    const consoleLog = () => (fs.existsSync(depot.layout.consoleLog) ? fs.readFileSync(depot.layout.consoleLog, 'utf8') : '');
    await waitFor('the throttling in the log', () => /failed logins from 127\.0\.0\.1 within 60 s; its logins are refused for 60 s/.test(consoleLog()));
  });

  it('a user name with a newline is escaped in the log', async () => {
    // A depot of its own: this address is refused by the first one by now.
    const other = new DepotHarness();
    try {
      await other.start(['--admin-over-http', '-S', '-d', path.join(depot.root, 'repo')]);
      await other.get('/admin/0?cmd=status', basic('x\nforged line', 'wrong'));
      const log = await waitFor('the login in the log', () => {
        const text = fs.existsSync(other.layout.consoleLog) ? fs.readFileSync(other.layout.consoleLog, 'utf8') : '';
        return text.includes('admin/0 login of x') ? text : undefined;
      });
      assert.match(log, /admin\/0 login of x\\x0Aforged line from 127\.0\.0\.1: /);
      assert.ok(!log.split('\n').some((l) => l.startsWith('forged line')));
    } finally {
      await other.stop();
    }
  });
});

describe('depot: the PAM file it ships admits only its group', () => {
  const depot = new DepotHarness();
  let user: TestUser;
  let removePam: () => void;
  const group = depot.layout.pamService;
  before(async () => {
    const rendered = renderDaemonFiles(depot.layout).find((f) => f.path === depot.layout.pamFile)!;
    removePam = writeTestPamService(depot.layout.pamService, rendered.content.split('\n'));
    if (spawnSync('getent', ['group', group]).status === 0) throw new Error(`group ${group} exists on this host; the test creates and removes its own`);
    execFileSync('groupadd', [group]);
    user = createTestUser();
    const repo = path.join(depot.root, 'repo');
    generateRepository(repo, { created: stamp, lastModified: stamp, publishers: [{ name: 'test', packages: [{ stem: 'a/b', versions: [{ version: VERSION }] }] }] });
    await depot.start(['--admin-over-http', '-S', '-d', repo]);
  });
  after(async () => {
    await depot.stop();
    removePam();
    user.remove();
    execFileSync('groupdel', [group]);
  });
  const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

  it('refuses a user outside the group with the right password, and admits them once a member', async () => {
    assert.equal((await depot.get('/admin/0?cmd=status', basic(user.name, user.password))).status, 401);
    execFileSync('usermod', ['-aG', group, user.name]);
    assert.equal((await depot.get('/admin/0?cmd=status', basic(user.name, user.password))).status, 200);
  });

  it('refuses root even when root is a member', async () => {
    execFileSync('usermod', ['-aG', group, 'root']);
    try {
      assert.equal((await depot.get('/admin/0?cmd=status', basic('root', 'anything'))).status, 401);
    } finally {
      execFileSync('gpasswd', ['-d', 'root', group], { stdio: 'ignore' });
    }
  });
});
