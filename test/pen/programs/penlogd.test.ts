import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor } from '../../../src/flavor';
import { underRoot } from '../../../src/flavor/layout';
import { isAlive, tempDir, waitFor } from '../../support/process';
import { freePort, runDebian, runOurs, spawnDebian, spawnOurs, stop, waitForTcp, type Collected } from '../debian';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function udpFrom(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

function send(s: dgram.Socket, port: number, text: string): Promise<void> {
  return new Promise((resolve, reject) => s.send(Buffer.from(text, 'latin1'), port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

/** Waits until penlogd answers: a datagram it must pass through shows up in its output. */
async function waitForPenlogd(c: Collected, port: number, from: dgram.Socket): Promise<void> {
  await waitFor('penlogd to receive', async () => {
    await send(from, port, 'ready "PING" 0\n');
    await pause(50);
    return c.stdout().includes('ready "PING" 0\n');
  });
}

const LONG = `GET /${'a'.repeat(120)} HTTP/1.1`;

/** [sender, datagram]: "pen" sends from 127.0.0.1, web server A is 127.0.0.1, B is 127.0.0.2. */
const SCRIPT: Array<['a' | 'b', string]> = [
  ['a', '+ 10.0.0.1 127.0.0.1 GET /index.html HTTP/1.1'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:00 +0000] "GET /index.html HTTP/1.1" 200 123\n'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:01 +0000] "GET /nomatch HTTP/1.1" 404 0\n'],
  ['a', '+ 10.0.0.2 127.0.0.2 GET /b HTTP/1.1'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:02 +0000] "GET /b HTTP/1.1" 200 1\n'],
  ['b', '127.0.0.2 - - [24/Nov/2026:00:20:03 +0000] "GET /b HTTP/1.1" 200 1\n'],
  ['a', '+ 10.0.0.3 127.0.0.1 GET /index.html HTTP/1.1'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:04 +0000] "GET /index.html HTTP/1.1" 200 123\n'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:05 +0000] "GET /index" 200 1\n'],
  ['a', '+ bogus'],
  ['a', 'a line without a request\n'],
  ['a', 'one "quote only\n'],
  ['a', `+ 10.0.0.5 127.0.0.1 ${LONG}`],
  ['a', `127.0.0.1 - - [24/Nov/2026:00:20:06 +0000] "${LONG}" 200 1\n`],
  ['a', '"GET /hex HTTP/1.1"\n'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:07 +0000] "" 200 1\n'],
  ['a', '+ 10.0.0.7 127.0.0.1 GET /evicted HTTP/1.1'],
  ['a', '+ 10.0.0.8 127.0.0.1 GET /x1 HTTP/1.1'],
  ['a', '+ 10.0.0.9 127.0.0.1 GET /x2 HTTP/1.1'],
  ['a', '127.0.0.1 - - [24/Nov/2026:00:20:08 +0000] "GET /evicted HTTP/1.1" 200 1\n'],
  ['a', 'no newline at the end "GET /x2 HTTP/1.1" 200 1'],
];

describe('penlogd side by side with Debian penlogd', () => {
  let dir: string;
  let fromA: dgram.Socket;
  let fromB: dgram.Socket;
  const children: Collected[] = [];

  before(async () => {
    dir = tempDir('penlogd');
    fromA = await udpFrom('127.0.0.1');
    fromB = await udpFrom('127.0.0.2');
  });

  after(async () => {
    for (const c of children) await stop(c, 'SIGKILL');
    fromA.close();
    fromB.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function merged(extra: string[]): Promise<[string, string]> {
    const debianPort = await freePort('udp');
    const ourPort = await freePort('udp');
    const theirs = spawnDebian('penlogd', ['-f', ...extra, String(debianPort)]);
    const mine = spawnOurs('penlogd', ['-f', ...extra, `127.0.0.1:${ourPort}`], { FLAVORKIT_ROOT: path.join(dir, 'root') });
    children.push(theirs, mine);
    await waitForPenlogd(mine, ourPort, fromA);
    // Debian's penlogd buffers stdout until it exits; a short wait covers its start.
    await pause(300);
    await send(fromA, debianPort, 'ready "PING" 0\n');
    for (const [who, datagram] of SCRIPT) {
      for (const port of [debianPort, ourPort]) await send(who === 'a' ? fromA : fromB, port, datagram);
      await pause(5);
    }
    await pause(300);
    assert.equal(await stop(theirs), 0);
    assert.equal(await stop(mine), 0);
    const strip = (text: string) => text.replace(/^(ready "PING" 0\n)+/, '');
    return [strip(theirs.stdout()), strip(mine.stdout())];
  }

  it('merges the same datagrams into the same log as Debian penlogd', async () => {
    const [theirs, mine] = await merged([]);
    assert.match(theirs, /^10\.0\.0\.1 - - \[24\/Nov\/2026:00:20:00 \+0000\] "GET \/index\.html HTTP\/1\.1" 200 123\n/);
    assert.match(theirs, /^10\.0\.0\.2 - - .*"GET \/b HTTP\/1\.1"/m, 'matched by the server address');
    assert.equal(mine, theirs);
  });

  it('forgets what falls out of a small ring (-n) as Debian penlogd does', async () => {
    const [theirs, mine] = await merged(['-n', '3']);
    assert.match(theirs, /^127\.0\.0\.1 - - \[24\/Nov\/2026:00:20:08 \+0000\] "GET \/evicted/m);
    assert.equal(mine, theirs);
  });

  it('discards a pen record whose server is no IPv4 address, where Debian penlogd crashes', async () => {
    const port = await freePort('udp');
    const mine = spawnOurs('penlogd', ['-f', `127.0.0.1:${port}`], { FLAVORKIT_ROOT: path.join(dir, 'root') });
    children.push(mine);
    await waitForPenlogd(mine, port, fromA);
    await send(fromA, port, '+ 10.0.0.4 not-an-address GET /x HTTP/1.1');
    await send(fromA, port, '127.0.0.1 "GET /x HTTP/1.1" 200 1\n');
    await waitFor('the line after the bad record', () => mine.stdout().includes('GET /x'));
    assert.match(mine.stdout(), /^127\.0\.0\.1 "GET \/x HTTP\/1\.1" 200 1$/m);
    assert.equal(await stop(mine), 0);
  });

  it('prints the same usage as Debian for a missing port, but exits non-zero with the reason', async () => {
    const theirs = await runDebian('penlogd', []);
    const mine = await runOurs('penlogd', []);
    assert.equal(theirs.code, 0);
    assert.equal(mine.stdout, theirs.stdout);
    assert.equal(mine.code, 1);
    assert.match(mine.stderr, /no port given; give the UDP port/);
    const badN = await runOurs('penlogd', ['-n', '0', '10000']);
    assert.equal(badN.code, 1);
    assert.match(badN.stderr, /-n 0: the number of pen log entries to cache must be at least 1/);
    const chroot = await runOurs('penlogd', ['-j', '/tmp', '10000']);
    assert.equal(chroot.code, 1);
    assert.match(chroot.stderr, /cannot chroot itself; start it inside the chroot/);
  });
});

describe('penlogd in use', () => {
  let dir: string;
  let root: string;
  const children: Collected[] = [];
  const pids: number[] = [];

  before(() => {
    dir = tempDir('penlogd-use');
    root = path.join(dir, 'root');
  });

  after(async () => {
    for (const c of children) await stop(c, 'SIGKILL');
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gets the real client from Debian pen's -l records and lines from our penlog", async () => {
    const port = await freePort('udp');
    const out = path.join(dir, 'merged.log');
    const penlogd = spawnOurs('penlogd', ['-f', '-l', out, `127.0.0.1:${port}`], { FLAVORKIT_ROOT: root });
    children.push(penlogd);
    await waitFor('penlogd to create its log', () => fs.existsSync(out));
    const backend = net.createServer((s) => s.once('data', () => s.end('HTTP/1.0 200 OK\r\n\r\nhi')));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const listen = await freePort();
    const pen = spawnDebian('pen', ['-f', '-r', '-l', `127.0.0.1:${port}`, `127.0.0.1:${listen}`, `127.0.0.1:${(backend.address() as net.AddressInfo).port}`]);
    children.push(pen);
    try {
      await waitForTcp(listen);
      // The client comes from 127.0.0.2, the backend sees pen (127.0.0.1).
      await new Promise<void>((resolve, reject) => {
        const s = net.connect({ port: listen, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.on('connect', () => s.write('GET /index.html?x=1 HTTP/1.1\r\nHost: x\r\n\r\n'));
        s.on('data', () => s.end());
        s.on('close', () => resolve());
        s.on('error', reject);
      });
      await pause(200);
      const lines = '127.0.0.1 - - [24/Nov/2026:00:20:00 +0000] "GET /index.html?x=1 HTTP/1.1" 200 123\n127.0.0.1 - - [24/Nov/2026:00:20:01 +0000] "GET /nomatch HTTP/1.1" 404 0\n';
      const penlog = await runOurs('penlog', ['127.0.0.1', String(port), '127.0.0.1'], lines);
      assert.equal(penlog.code, 0, penlog.stderr);
      const text = await waitFor('two merged lines', () => {
        const t = fs.readFileSync(out, 'latin1');
        return t.split('\n').length > 2 && t;
      });
      assert.equal(
        text,
        '127.0.0.2 - - [24/Nov/2026:00:20:00 +0000] "GET /index.html?x=1 HTTP/1.1" 200 123\n127.0.0.1 - - [24/Nov/2026:00:20:01 +0000] "GET /nomatch HTTP/1.1" 404 0\n',
      );
    } finally {
      await stop(pen);
      backend.close();
      assert.equal(await stop(penlogd), 0);
    }
  });

  it('reopens its log on HUP, so that mv + kill -HUP rotates it', async () => {
    const port = await freePort('udp');
    const out = path.join(dir, 'rotate.log');
    const penlogd = spawnOurs('penlogd', ['-f', '-l', out, `127.0.0.1:${port}`], { FLAVORKIT_ROOT: root });
    children.push(penlogd);
    const sender = await udpFrom('127.0.0.1');
    try {
      await waitFor('first line', async () => {
        await send(sender, port, 'x "GET /1" 200\n');
        await pause(50);
        return fs.existsSync(out) && fs.readFileSync(out, 'latin1').includes('GET /1');
      });
      fs.renameSync(out, `${out}.1`);
      process.kill(penlogd.child.pid!, 'SIGHUP');
      await waitFor('the new log', async () => {
        await send(sender, port, 'x "GET /2" 200\n');
        await pause(50);
        return fs.existsSync(out) && fs.readFileSync(out, 'latin1').includes('GET /2');
      });
      // Lines sent before the HUP was handled may still land in the old file; one sent after the
      // new file exists must not.
      await send(sender, port, 'x "GET /3" 200\n');
      await waitFor('GET /3 in the new log', () => fs.readFileSync(out, 'latin1').includes('GET /3'));
      assert.doesNotMatch(fs.readFileSync(`${out}.1`, 'latin1'), /GET \/3/);
    } finally {
      sender.close();
      assert.equal(await stop(penlogd), 0);
    }
  });

  it("detaches with its PID file and merged log from the flavor's layout", async () => {
    const l = underRoot(layout(loadFlavor('abc'), 'pen'), root);
    const port = await freePort('udp');
    const started = await runOurs('penlogd', [`127.0.0.1:${port}`], undefined, { FLAVOR: 'abc', FLAVORKIT_ROOT: root });
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(fs.readFileSync(l.files.penlogdPid, 'utf8').trim());
    pids.push(pid);
    assert.ok(isAlive(pid));
    const second = await runOurs('penlogd', ['-f', `127.0.0.1:${await freePort('udp')}`], undefined, { FLAVOR: 'abc', FLAVORKIT_ROOT: root });
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`${pid}`), 'a second penlogd of the flavor names the running one');
    const sender = await udpFrom('127.0.0.1');
    try {
      await send(sender, port, '+ 10.9.9.9 127.0.0.1 GET /d HTTP/1.1');
      await pause(50);
      await send(sender, port, '127.0.0.1 - - [24/Nov/2026:00:20:00 +0000] "GET /d HTTP/1.1" 200 1\n');
      const text = await waitFor('the merged log', () => fs.existsSync(l.files.mergedLog) && fs.readFileSync(l.files.mergedLog, 'latin1'));
      assert.equal(text, '10.9.9.9 - - [24/Nov/2026:00:20:00 +0000] "GET /d HTTP/1.1" 200 1\n');
    } finally {
      sender.close();
      process.kill(pid, 'SIGTERM');
      await waitFor('penlogd to stop', () => !isAlive(pid));
    }
    assert.equal(fs.existsSync(l.files.penlogdPid), false, 'PID file removed on a clean stop');
  });
});

describe('penlog side by side with Debian penlog', () => {
  let receiver: dgram.Socket;
  let port: number;
  let received: Array<{ from: string; data: string }> = [];

  before(async () => {
    receiver = dgram.createSocket('udp4');
    receiver.on('message', (msg, rinfo) => received.push({ from: rinfo.address, data: msg.toString('latin1') }));
    await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', () => r()));
    port = receiver.address().port;
  });

  after(() => receiver.close());

  const input = `first line\n\n${'x'.repeat(2500)}\nlast line without newline`;

  async function datagrams(run: typeof runOurs, args: string[]): Promise<Array<{ from: string; data: string }>> {
    received = [];
    const result = await run('penlog' as never, args, input);
    assert.equal(result.code, 0, result.stderr);
    await waitFor('six datagrams', () => received.length >= 6);
    await pause(100);
    return received;
  }

  it('sends each fgets piece of stdin as one datagram, as Debian penlog', async () => {
    const theirs = await datagrams(runDebian as typeof runOurs, ['127.0.0.1', String(port)]);
    const mine = await datagrams(runOurs, ['127.0.0.1', String(port)]);
    assert.deepEqual(theirs.map((d) => d.data.length), [11, 1, 1023, 1023, 455, 25]);
    assert.deepEqual(mine, theirs);
  });

  it('sends from the address given as my_ip', async () => {
    const theirs = await datagrams(runDebian as typeof runOurs, ['127.0.0.1', String(port), '127.0.0.2']);
    const mine = await datagrams(runOurs, ['127.0.0.1', String(port), '127.0.0.2']);
    assert.ok(theirs.every((d) => d.from === '127.0.0.2'));
    assert.deepEqual(mine, theirs);
  });

  it('fails like Debian penlog on bad arguments, saying what to give', async () => {
    for (const args of [[], ['127.0.0.1'], ['127.0.0.1', 'nosuchservice'], ['nosuchhost.invalid', '1']]) {
      const theirs = await runDebian('penlog', args, '');
      const mine = await runOurs('penlog', args, '');
      assert.equal(theirs.code, 1);
      assert.equal(mine.code, 1, `status for ${args.join(' ')}`);
      const first = theirs.stderr.split('\n')[0].replace(/^Usage: \S+/, 'Usage: PROGRAM');
      assert.ok(mine.stderr.replace(/^Usage: \S+/, 'Usage: PROGRAM').startsWith(first), `${mine.stderr} starts with ${first}`);
      assert.match(mine.stderr, /give|e\.g\./);
    }
  });
});
