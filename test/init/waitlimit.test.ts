// A wait or test entry that does not end is stopped at the file's waitlimit, so its group goes on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInittab, WAIT_LIMIT_DEFAULT_S } from '../../src/init/inittab';
import { isGone } from '../support/process';
import { GRACE_S, harnessPerTest } from './harness';

const harness = harnessPerTest();

describe('the waitlimit directive', () => {
  it('is 300 s unless the file sets it', () => {
    assert.equal(WAIT_LIMIT_DEFAULT_S, 300);
    assert.equal(parseInittab('g:t:1:wait:true\n').waitLimitS, 300);
    assert.equal(parseInittab(':::waitlimit:45\ng:t:1:wait:true\n').waitLimitS, 45);
  });

  it('refuses what is not whole seconds from 1 to a day, naming the line and the fix', () => {
    for (const value of ['0', '-5', '1.5', 'soon', '', ' 30', '86401']) {
      assert.throws(
        () => parseInittab(`g:t:1:wait:true\n:::waitlimit:${value}\n`),
        new RegExp(`^Error: isinittab:2: the waitlimit directive takes whole seconds from 1 to 86400, not "${value}"; write e.g. :::waitlimit:300$`),
        value,
      );
    }
  });
});

describe('a wait or test entry that does not end', () => {
  it('is stopped at the limit, logged with its group and tag, reported failed, and the group goes on', async () => {
    const h = harness(':::waitlimit:1\ng:hang:1:wait:/bin/echo $$ >> OUT; exec sleep 30\ng:next:1:wait:/bin/echo next >> OUT\n');
    await h.startLogged();
    const { reply, took } = await h.timedTell('g', '1');
    assert.deepEqual(reply.results?.map((r) => [r.tag, r.action]), [['hang', 'failed'], ['next', 'started']]);
    assert.match(reply.results![0]!.error ?? '', /^did not end within 1 s; stopped \(raise :::waitlimit: if it needs longer\)$/);
    assert.ok(took >= 1000, `the switch answered after ${took} ms, before the limit`);
    const [pid, next] = h.lines();
    assert.equal(Number(pid), reply.results![0]!.pid);
    assert.ok(isGone(Number(pid)), 'the hung entry was stopped');
    assert.equal(next, 'next');
    await h.waitLog('the log line', new RegExp(`g:hang: wait entry did not end within 1 s \\(:::waitlimit:\\); stopping PID ${pid} and going on with group g$`));
    assert.equal(h.groupState('g')?.state, 'fail');
    const status = await h.status();
    assert.equal(status.entries?.find((e) => e.tag === 'hang')?.state, 'failed');
    // The group's queue is free: the next switch is taken.
    assert.deepEqual((await h.tell('g', '0')).ok, true);
  });

  it('one that ignores TERM at the limit is killed after the grace period, a test entry alike', async () => {
    const h = harness(":::waitlimit:1\ng:deaf:t:test:trap '' TERM; /bin/echo $$ >> OUT; while :; do sleep 0.1; done\n");
    await h.start();
    const { reply, took } = await h.timedTell('g', 't');
    assert.deepEqual(reply.results?.map((r) => [r.tag, r.action]), [['deaf', 'failed']]);
    assert.ok(took >= 1000 + GRACE_S * 1000, `answered after ${took} ms: the limit, then the grace period before KILL`);
    assert.ok(isGone(Number(h.lines()[0])));
  });
});
