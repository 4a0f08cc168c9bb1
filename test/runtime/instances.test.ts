import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { layout, loadFlavor, underRoot } from '../../src/flavor';
import { askSocket, isAlive, killAndWait, runTs, tempDir, waitFor } from '../support/process';

const DAEMON = 'test/support/runtime-daemon.ts';

// Each test starts what it needs in a private root of its own, so it passes or fails alone.
describe('two flavors of a daemon built on src/runtime', () => {
  const roots: string[] = [];
  const pids: number[] = [];
  const newRoot = () => {
    const root = tempDir('instances');
    roots.push(root);
    return root;
  };
  const paths = (root: string, flavor: string, daemon: 'pen' | 'depot' = 'pen') => underRoot(layout(loadFlavor(flavor), daemon), root);
  const start = (root: string, flavor: string, env: NodeJS.ProcessEnv = {}) => runTs(DAEMON, [], { FLAVOR: flavor, FLAVORKIT_ROOT: root, ...env });
  const pidOf = (root: string, flavor: string, daemon: 'pen' | 'depot' = 'pen') => Number(fs.readFileSync(paths(root, flavor, daemon).pidFile, 'utf8'));
  /** Starts FLAVOR's daemon detached in ROOT; its PID, stopped after the tests if still alive. */
  const running = async (root: string, flavor: string): Promise<number> => {
    const started = await start(root, flavor);
    assert.equal(started.code, 0, started.stderr);
    const pid = pidOf(root, flavor);
    pids.push(pid);
    return pid;
  };

  after(async () => {
    for (const pid of pids) await killAndWait(pid);
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
  });

  it('runs tog and abc at the same time, each on its own files', async () => {
    const root = newRoot();
    const tog = await running(root, 'tog');
    const abc = await running(root, 'abc');
    assert.notEqual(tog, abc);
    assert.ok(isAlive(tog) && isAlive(abc));
    assert.equal(await askSocket(paths(root, 'tog').controlSocket, 'who'), `tog ${tog} who\n`);
    assert.equal(await askSocket(paths(root, 'abc').controlSocket, 'who'), `abc ${abc} who\n`);
    assert.equal((fs.statSync(paths(root, 'abc').controlSocket).mode & 0o777).toString(8), '600');
  });

  it('refuses a second start of abc, naming the holder, and leaves the first alone', async () => {
    const root = newRoot();
    const holder = await running(root, 'abc');
    const second = await start(root, 'abc');
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`already running as PID ${holder}\\b`));
    assert.ok(isAlive(holder));
    assert.equal(pidOf(root, 'abc'), holder, 'PID file untouched');
    assert.equal(await askSocket(paths(root, 'abc').controlSocket, 'still'), `abc ${holder} still\n`);
  });

  it('starts again after the holder was killed with SIGKILL', async () => {
    const root = newRoot();
    const old = await running(root, 'abc');
    await killAndWait(old, 'SIGKILL');
    assert.ok(fs.existsSync(paths(root, 'abc').startLock), 'the crash left its lock behind');
    const fresh = await running(root, 'abc');
    assert.notEqual(fresh, old);
    assert.equal(await askSocket(paths(root, 'abc').controlSocket, 'x'), `abc ${fresh} x\n`);
  });

  it('reloads on HUP and keeps serving', async () => {
    const root = newRoot();
    const pid = await running(root, 'abc');
    const socket = paths(root, 'abc').controlSocket;
    assert.equal(await askSocket(socket, 'reloads'), '0\n');
    process.kill(pid, 'SIGHUP');
    await waitFor('the reload', async () => (await askSocket(socket, 'reloads')) === '1\n');
    assert.ok(isAlive(pid));
  });

  it('drops privileges to the configured user after opening its socket, and still cleans up', async () => {
    const root = newRoot();
    const l = paths(root, 'abc', 'depot');
    // The unprivileged user must be able to reach its run directory, as in a real install.
    fs.chmodSync(root, 0o755);
    const started = await start(root, 'abc', { TEST_DAEMON: 'depot', TEST_USER: 'nobody' });
    assert.equal(started.code, 0, started.stderr);
    const pid = pidOf(root, 'abc', 'depot');
    pids.push(pid);
    const uids = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m);
    assert.deepEqual(uids?.slice(1), ['65534', '65534', '65534']);
    assert.match(await askSocket(l.controlSocket, 'hi'), /^abc \d+ hi\n$/);
    process.kill(pid, 'SIGTERM');
    await waitFor('depot to exit', () => !isAlive(pid));
    for (const file of [l.pidFile, l.startLock, l.controlSocket]) assert.equal(fs.existsSync(file), false, `${file} left behind`);
  });

  it('refuses to start as a user that does not exist, with the fix named', async () => {
    const started = await start(newRoot(), 'abc', { TEST_DAEMON: 'depot', TEST_USER: 'nosuchuser' });
    assert.equal(started.code, 1);
    assert.match(started.stderr, /user "nosuchuser" does not exist; create it or set another user/);
  });

  it("stops cleanly on TERM: PID file, lock and socket are removed, the other flavor's are not", async () => {
    const root = newRoot();
    const tog = await running(root, 'tog');
    const abc = await running(root, 'abc');
    const l = paths(root, 'tog');
    process.kill(tog, 'SIGTERM');
    await waitFor('tog to exit', () => !isAlive(tog));
    for (const file of [l.pidFile, l.startLock, l.controlSocket]) assert.equal(fs.existsSync(file), false, `${file} left behind`);
    assert.equal(await askSocket(paths(root, 'abc').controlSocket, 'after'), `abc ${abc} after\n`, 'abc still serves on its own socket');
  });

  it('keeps every file below its own run directory', async () => {
    const root = newRoot();
    await running(root, 'abc');
    const files = fs.readdirSync(path.dirname(paths(root, 'abc').pidFile));
    assert.deepEqual(files.sort(), ['pen.pid', 'pen.sock', 'pen_start.lock']);
  });
});
