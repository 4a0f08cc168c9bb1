import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor, underRoot } from '../../src/flavor';
import { askSocket, isAlive, killAndWait, runTs, tempDir, waitFor } from '../support/process';

const DAEMON = 'test/support/runtime-daemon.ts';

describe('two flavors of a daemon built on src/runtime', () => {
  let root: string;
  const pids: number[] = [];
  const paths = (flavor: string, daemon: 'pen' | 'depot' = 'pen') => underRoot(layout(loadFlavor(flavor), daemon), root);
  const start = (flavor: string) => runTs(DAEMON, [], { FLAVOR: flavor, FLAVORKIT_ROOT: root });
  const pidOf = (flavor: string) => Number(fs.readFileSync(paths(flavor).pidFile, 'utf8'));

  before(() => {
    root = tempDir('instances');
  });
  after(async () => {
    for (const pid of pids) await killAndWait(pid);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('runs tog and abc at the same time, each on its own files', async () => {
    for (const flavor of ['tog', 'abc']) {
      const started = await start(flavor);
      assert.equal(started.code, 0, started.stderr);
      pids.push(pidOf(flavor));
    }
    const [tog, abc] = [pidOf('tog'), pidOf('abc')];
    assert.notEqual(tog, abc);
    assert.ok(isAlive(tog) && isAlive(abc));
    assert.equal(await askSocket(paths('tog').controlSocket, 'who'), `tog ${tog} who\n`);
    assert.equal(await askSocket(paths('abc').controlSocket, 'who'), `abc ${abc} who\n`);
    assert.equal((fs.statSync(paths('abc').controlSocket).mode & 0o777).toString(8), '600');
  });

  it('refuses a second start of abc, naming the holder, and leaves the first alone', async () => {
    const holder = pidOf('abc');
    const second = await start('abc');
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`already running as PID ${holder}\\b`));
    assert.ok(isAlive(holder));
    assert.equal(pidOf('abc'), holder, 'PID file untouched');
    assert.equal(await askSocket(paths('abc').controlSocket, 'still'), `abc ${holder} still\n`);
  });

  it('starts again after the holder was killed with SIGKILL', async () => {
    const old = pidOf('abc');
    await killAndWait(old, 'SIGKILL');
    assert.ok(fs.existsSync(paths('abc').startLock), 'the crash left its lock behind');
    const again = await start('abc');
    assert.equal(again.code, 0, again.stderr);
    const fresh = pidOf('abc');
    pids.push(fresh);
    assert.notEqual(fresh, old);
    assert.equal(await askSocket(paths('abc').controlSocket, 'x'), `abc ${fresh} x\n`);
  });

  it('reloads on HUP and keeps serving', async () => {
    const pid = pidOf('abc');
    assert.equal(await askSocket(paths('abc').controlSocket, 'reloads'), '0\n');
    process.kill(pid, 'SIGHUP');
    await waitFor('the reload', async () => (await askSocket(paths('abc').controlSocket, 'reloads')) === '1\n');
    assert.ok(isAlive(pid));
  });

  it('drops privileges to the configured user after opening its socket, and still cleans up', async () => {
    const l = paths('abc', 'depot');
    // The unprivileged user must be able to reach its run directory, as in a real install.
    fs.chmodSync(root, 0o755);
    const started = await runTs(DAEMON, [], { FLAVOR: 'abc', FLAVORKIT_ROOT: root, TEST_DAEMON: 'depot', TEST_USER: 'nobody' });
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(fs.readFileSync(l.pidFile, 'utf8'));
    pids.push(pid);
    const uids = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m);
    assert.deepEqual(uids?.slice(1), ['65534', '65534', '65534']);
    assert.match(await askSocket(l.controlSocket, 'hi'), /^abc \d+ hi\n$/);
    process.kill(pid, 'SIGTERM');
    await waitFor('depot to exit', () => !isAlive(pid));
    for (const file of [l.pidFile, l.startLock, l.controlSocket]) assert.equal(fs.existsSync(file), false, `${file} left behind`);
  });

  it('refuses to start as a user that does not exist, with the fix named', async () => {
    const started = await runTs(DAEMON, [], { FLAVOR: 'abc', FLAVORKIT_ROOT: root, TEST_DAEMON: 'depot', TEST_USER: 'nosuchuser' });
    assert.equal(started.code, 1);
    assert.match(started.stderr, /user "nosuchuser" does not exist; create it or set another user/);
  });

  it('stops cleanly on TERM: PID file, lock and socket are removed', async () => {
    const l = paths('tog');
    const pid = pidOf('tog');
    process.kill(pid, 'SIGTERM');
    await waitFor('tog to exit', () => !isAlive(pid));
    for (const file of [l.pidFile, l.startLock, l.controlSocket]) assert.equal(fs.existsSync(file), false, `${file} left behind`);
    assert.ok(fs.existsSync(paths('abc').controlSocket), "abc's files untouched");
  });

  it('keeps every file below its own run directory', () => {
    const files = fs.readdirSync(path.dirname(paths('abc').pidFile));
    assert.deepEqual(files.sort(), ['pen.pid', 'pen.sock', 'pen_start.lock']);
  });
});
