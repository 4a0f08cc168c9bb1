// Draining: `server N drain` sent by Debian's penctl while 50 clients loop through pen, and the
// drain on TERM bounded by drain_timeout. Real backends, real sockets, pen as a child process.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isGone, waitFor } from '../support/process';
import { Backend, fetchName, PenInstance } from './harness';

/** A connection through pen holding half a request; `finish` sends the rest and gives the reply. */
async function heldRequest(port: number): Promise<{ finish(): Promise<string>; closed: Promise<void> }> {
  const s = net.connect(port, '127.0.0.1');
  let reply = '';
  s.on('data', (d) => (reply += d));
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  await new Promise<void>((resolve) => s.on('connect', () => resolve()));
  s.write('GET / HTTP/1.0\r\n');
  return {
    closed,
    finish: async () => {
      s.write('\r\n');
      await closed;
      return reply;
    },
  };
}

/** The `conn` counts of pen's `servers` reply, by server index. */
async function connsOf(pen: PenInstance): Promise<number[]> {
  return (await pen.ctl('servers'))
    .trim()
    .split('\n')
    .map((l) => Number(/ conn (\d+) /.exec(l)![1]));
}

describe('server N drain from Debian\'s penctl, 50 clients looping', () => {
  const backends = [new Backend('b0'), new Backend('b1')];
  let pen: PenInstance;

  before(async () => {
    for (const b of backends) await b.start();
    pen = await new PenInstance('ours').start(['-r'], backends.map((b) => `127.0.0.1:${b.port}`));
  });
  after(async () => {
    await pen?.stop();
    for (const b of backends) await b.stop();
  });

  it('no client fails, the drained server gets no new client, and its open connection finishes', async () => {
    const held = await heldRequest(pen.port);
    const drained = (await waitFor('the held connection on a server', async () => {
      const conns = await connsOf(pen);
      const i = conns.indexOf(1);
      return i >= 0 ? [i] : null;
    }))[0]!;
    const name = `b${drained}`;
    const other = `b${1 - drained}`;
    let looping = true;
    const failures: string[] = [];
    const servedBy: Record<string, number> = { b0: 0, b1: 0 };
    // A request that starts once penctl has its reply is balanced after the drain.
    let drainedAt = Infinity;
    let afterDrain = 0;
    const loop = async () => {
      while (looping) {
        const started = Date.now();
        const body = await fetchName(pen.port);
        if (body !== 'b0' && body !== 'b1') failures.push(body);
        else {
          servedBy[body]!++;
          if (started > drainedAt && body === name) afterDrain++;
        }
      }
    };
    const loops = Array.from({ length: 50 }, loop);
    await new Promise((r) => setTimeout(r, 700));
    const r = await pen.penctl(['server', String(drained), 'drain']);
    drainedAt = Date.now();
    assert.equal(r.code, 0, r.stderr);
    await new Promise((r) => setTimeout(r, 1200));
    looping = false;
    await Promise.all(loops);
    assert.deepEqual(failures, [], `${failures.length} requests failed`);
    assert.ok(servedBy[name]! > 0 && servedBy[other]! > 0, `both served before the drain: ${JSON.stringify(servedBy)}`);
    assert.equal(afterDrain, 0, `${name} got no new client once draining`);
    assert.match(await held.finish(), /^HTTP\/1\.1 200[^]*b\d$/);
    // `servers` keeps pen's format, byte for byte.
    assert.match(await pen.ctl('servers'), /^0 addr 127\.0\.0\.1 port \d+ conn \d+ max 0 hard 0 weight 0 prio 0 sx \d+ rx \d+\n1 addr/);
    assert.equal((await pen.penctl(['server', String(drained), 'no', 'drain'])).code, 0);
    const names = new Set(await Promise.all(Array.from({ length: 6 }, () => fetchName(pen.port))));
    assert.ok(names.has(name), `${name} takes clients again after "no drain"`);
  });
});

describe('drain on TERM', () => {
  const backend = new Backend('b0');
  before(() => backend.start());
  after(() => backend.stop());

  it('drain_timeout: pen stops accepting, lets an open connection finish, then exits', async () => {
    const pen = await new PenInstance('ours').start(['-o', 'drain_timeout 10'], [`127.0.0.1:${backend.port}`]);
    try {
      const held = await heldRequest(pen.port);
      await waitFor('the held connection', async () => (await connsOf(pen))[0] === 1);
      process.kill(pen.pid, 'SIGTERM');
      await waitFor('the listener to close', () => new Promise<boolean>((resolve) => {
        const s = net.connect(pen.port, '127.0.0.1');
        s.on('connect', () => (s.destroy(), resolve(false)));
        s.on('error', () => resolve(true));
      }));
      assert.ok(!isGone(pen.pid), 'pen still runs while a connection is open');
      assert.match(await held.finish(), /^HTTP\/1\.1 200[^]*b0$/);
      await waitFor('pen to exit once drained', () => isGone(pen.pid), 5000);
    } finally {
      await pen.stop();
    }
  });

  it('a connection that does not finish is closed when drain_timeout passes', async () => {
    const pen = await new PenInstance('ours').start(['-o', 'drain_timeout 1'], [`127.0.0.1:${backend.port}`]);
    try {
      const held = await heldRequest(pen.port);
      await waitFor('the held connection', async () => (await connsOf(pen))[0] === 1);
      const t0 = Date.now();
      process.kill(pen.pid, 'SIGTERM');
      await held.closed;
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 4000, `closed after the drain (${took} ms)`);
      await waitFor('pen to exit', () => isGone(pen.pid), 5000);
    } finally {
      await pen.stop();
    }
  });

  it('without drain_timeout, TERM closes open connections at once, as pen 0.34 does', async () => {
    const pen = await new PenInstance('ours').start([], [`127.0.0.1:${backend.port}`]);
    try {
      assert.equal(await pen.ctl('drain_timeout'), '0\n');
      const held = await heldRequest(pen.port);
      await waitFor('the held connection', async () => (await connsOf(pen))[0] === 1);
      const t0 = Date.now();
      process.kill(pen.pid, 'SIGTERM');
      await held.closed;
      assert.ok(Date.now() - t0 < 800, 'closed at once');
      assert.match(await new PenInstance('ours').start([], [`127.0.0.1:${backend.port}`]).then(async (p) => {
        const reply = await p.ctl('drain_timeout 99999');
        await p.stop();
        return reply;
      }), /drain_timeout takes a whole number from 0 to 10, not '99999'/);
    } finally {
      await pen.stop();
    }
  });
});
