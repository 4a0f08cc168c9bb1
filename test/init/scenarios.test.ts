// The scenarios of IS::Init's own test suite, against ours: the same isinittab entries and the
// same observable behaviour, with its fixed sleeps shortened and replaced by acknowledged replies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/process';
import { InitHarness } from './harness';

const TAB = `# resourcegroup:tag:runlevels:mode:command
hellogrp:hello1:1:wait:/bin/echo "hello world!" > OUT
hellogrp:hello2:2:respawn:/bin/echo "hello world!" >> OUT
hellogrp:hello3:3:wait:sleep 0.6; cat /dev/null > OUT
hellogrp:hello4:4:once:/bin/echo 1 > OUT; sleep 0.8; /bin/echo 3 >> OUT
hellogrp:hello4a:4:wait:sleep 0.4; /bin/echo 2 >> OUT
hellogrp:hellolong:long1,long2,5:wait:/bin/echo long > OUT
hellogrp:hellolong3:long3,:wait:/bin/echo long3 > OUT
pidgrp:pid1:1:respawn:/bin/echo $$ >> OUT; exec sleep 30
foogrp:foo1:12:once:/bin/echo foo1start > OUT; sleep 0.8; /bin/echo foo1end > OUT
foogrp:foo3:3:once:/bin/echo foo3 > OUT
bargrp:bar1:1:once:/bin/echo bar1start > OUT; sleep 0.8; /bin/echo bar1end > OUT
bazgrp:baz1:1:once:sleep 1.6; /bin/echo baz1 > OUT
hellogrp:test1:f:test:/bin/true
hellogrp:test2:f:test:/bin/false
hellogrp:test3:t:test:/bin/true
`;

describe('IS::Init scenarios', () => {
  let h: InitHarness;
  before(async () => {
    h = new InitHarness(TAB);
    await h.start();
  });
  after(() => h.cleanup());

  it('20wait: a wait entry runs once per entry into its level, the group is "start" while it runs', async () => {
    h.clearOut();
    const one = await h.tell('hellogrp', '1');
    assert.deepEqual(one.results?.map((r) => [r.tag, r.action, r.exitCode]), [['hello1', 'started', 0]]);
    assert.deepEqual(h.lines(), ['hello world!']);
    const three = h.tell('hellogrp', '3');
    await waitFor('state start', () => h.groupState('hellogrp')?.state === 'start');
    assert.deepEqual(h.groupState('hellogrp'), { group: 'hellogrp', state: 'start', level: '3' });
    assert.equal(h.lines().length, 1);
    await three;
    assert.deepEqual(h.groupState('hellogrp'), { group: 'hellogrp', state: 'run', level: '3' });
    assert.equal(h.lines().length, 0);
    await h.tell('hellogrp', '1');
    assert.equal(h.lines().length, 1);
    h.clearOut();
    const again = await h.tell('hellogrp', '1');
    assert.deepEqual(again.results?.map((r) => r.action), ['kept']);
    assert.equal(h.lines().length, 0, 'a wait entry does not run again while the group stays in its level');
  });

  it('25long: multi-character levels, and a single long label with a trailing comma', async () => {
    for (const [level, expected] of [['long2', ['long']], ['long3', ['long3']], ['5', ['long']], ['long1', []]] as const) {
      h.clearOut();
      await h.tell('hellogrp', level);
      // From 5 to long1 the entry stays in its level: it is not run again.
      assert.deepEqual(h.lines(), expected, `level ${level}`);
    }
  });

  it('30once: once and wait of one level, in file order', async () => {
    h.clearOut();
    await h.tell('hellogrp', '4');
    // The wait entry (after the once entry in the file) is done when the reply comes.
    assert.deepEqual(h.lines(), ['1', '2']);
    await h.waitLines('the once entry to finish', (l) => l.length === 3);
    assert.deepEqual(h.lines(), ['1', '2', '3']);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(h.lines(), ['1', '2', '3'], 'a once entry is not restarted');
  });

  it('40respawn: a killed respawn entry is restarted with a new PID', async () => {
    h.clearOut();
    await h.tell('pidgrp', '1');
    const [first] = await h.waitLines('the first PID', (l) => l.length === 1);
    process.kill(Number(first), 'SIGKILL');
    const lines = await h.waitLines('a new PID', (l) => l.length === 2);
    assert.notEqual(lines[1], first);
    await h.tell('pidgrp', '0');
  });

  it('40respawn: an entry that exits at once is held after 5 starts, visibly, and retried by itself', async () => {
    h.clearOut();
    await h.tell('hellogrp', '2');
    await h.waitLines('5 starts', (l) => l.length === 5);
    // The fifth run's exit puts it on hold.
    const held = await waitFor('the hold', async () => (await h.status()).entries?.find((e) => e.tag === 'hello2' && e.state === 'held'));
    assert.equal(held.state, 'held');
    assert.ok(held.heldUntil && Date.parse(held.heldUntil) > Date.now() - 1000, `release time shown: ${held.heldUntil}`);
    assert.equal(h.lines().length, 5);
    // Held for its backoff, then retried without any request.
    await h.waitLines('the retry after the hold', (l) => l.length > 5, 5000);
    await h.tell('hellogrp', '0');
  });

  it('45init0: level 0 stops the group and is recorded in initstat', async () => {
    h.clearOut();
    await h.tell('pidgrp', '1');
    const [pid] = await h.waitLines('the PID', (l) => l.length === 1);
    const zero = await h.tell('pidgrp', '0');
    assert.deepEqual(zero.results?.map((r) => [r.tag, r.action]), [['pid1', 'stopped']]);
    assert.throws(() => process.kill(Number(pid), 0));
    assert.deepEqual(h.groupState('pidgrp'), { group: 'pidgrp', state: 'stopped', level: '0' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.lines().length, 1, 'not respawned');
  });

  it('50multigrp: groups run side by side, each at its own level', async () => {
    h.clearOut();
    // Every entry overwrites OUT: the order of what it held shows which entries overlapped.
    const held: string[] = [];
    const watch = setInterval(() => {
      const line = h.lines()[0];
      if (line !== undefined && held.at(-1) !== line) held.push(line);
    }, 10);
    try {
      await h.tell('foogrp', '1');
      await h.tell('bazgrp', '1');
      await h.waitLines('foo1start', (l) => l[0] === 'foo1start');
      await new Promise((r) => setTimeout(r, 400));
      await h.tell('bargrp', '1');
      await h.waitLines('bar1start', (l) => l[0] === 'bar1start');
      for (const group of ['foogrp', 'bargrp', 'bazgrp']) assert.equal(h.groupState(group)?.level, '1', `${group} is at level 1 while the others are`);
      await waitFor('baz1 to end', () => held.includes('baz1'));
    } finally {
      clearInterval(watch);
    }
    // bar1 started while foo1 still ran, and baz1, started with foo1, ended after both: the
    // three groups' entries ran at the same time, none waiting for another group.
    assert.deepEqual(held, ['foo1start', 'bar1start', 'foo1end', 'bar1end', 'baz1']);
    for (const g of ['foogrp', 'bargrp', 'bazgrp']) await h.tell(g, '0');
  });

  it('60multichar: an entry in the old and the new level keeps running; others stop and start', async () => {
    h.clearOut();
    await h.tell('foogrp', '1');
    await h.waitLines('foo1start', (l) => l[0] === 'foo1start');
    const two = await h.tell('foogrp', '2');
    assert.deepEqual(two.results?.map((r) => [r.tag, r.action]), [['foo1', 'kept']]);
    await h.waitLines('foo1end', (l) => l[0] === 'foo1end');
    await h.tell('foogrp', '0');
    await h.tell('foogrp', '1');
    await h.waitLines('foo1start again', (l) => l[0] === 'foo1start');
    const three = await h.tell('foogrp', '3');
    assert.deepEqual(three.results?.map((r) => [r.tag, r.action]), [['foo1', 'stopped'], ['foo3', 'started']]);
    await h.waitLines('foo3', (l) => l[0] === 'foo3');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(h.lines(), ['foo3'], 'the stopped once entry wrote nothing more');
    await h.tell('foogrp', '0');
  });

  it('test mode: a failing test marks the group fail, passing tests mark it run', async () => {
    const f = await h.tell('hellogrp', 'f');
    assert.deepEqual(f.results?.map((r) => [r.tag, r.action, r.exitCode]), [['test1', 'passed', 0], ['test2', 'failed', 1]]);
    assert.deepEqual(h.groupState('hellogrp'), { group: 'hellogrp', state: 'fail', level: 'f' });
    const t = await h.tell('hellogrp', 't');
    assert.deepEqual(t.results?.map((r) => [r.tag, r.action]), [['test3', 'passed']]);
    assert.deepEqual(h.groupState('hellogrp'), { group: 'hellogrp', state: 'run', level: 't' });
    const client = await h.isinit(['hellogrp', 'f']);
    assert.equal(client.code, 1, 'the client exits non-zero when a test fails');
    assert.match(client.stdout, /hellogrp:test2 failed \(PID \d+\) exit 1/);
  });
});
