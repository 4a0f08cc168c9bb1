// The fence guard is a process of its own: it kills what it holds at the deadline it was last
// given, whether or not the daemon that feeds it is still there.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { FenceGuard, monotonicMs } from '../../src/init/fence-guard';
import { createLogger } from '../../src/runtime';
import { isAlive, waitFor } from '../support/process';

const log = createLogger({ identity: 'fence-guard-test', foreground: true, libDir: '/nonexistent' });
const started: number[] = [];

/** A `sleep` leading its own process group, as the supervisor starts entries. */
function entry(): number {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

/** Alive and not a zombie: a killed child of this process stays a zombie until reaped. */
const running = (pid: number) => isAlive(pid) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

after(() => {
  for (const pid of started) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
});

describe('isinit fence guard', () => {
  it('kills a held process group at the deadline, not before, and a renewal moves the deadline', async () => {
    const guard = new FenceGuard(log);
    guard.start();
    try {
      const pid = entry();
      guard.setDeadline(monotonicMs() + 800);
      guard.hold(pid);
      await new Promise((r) => setTimeout(r, 500));
      guard.setDeadline(monotonicMs() + 800);
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(running(pid), 'renewed in time: still running 1.1 s after the first deadline was set');
      const t0 = Date.now();
      await waitFor('the kill at the deadline', () => !running(pid), 3000);
      assert.ok(Date.now() - t0 < 700, `killed ${Date.now() - t0} ms after the check, deadline 200 ms away`);
    } finally {
      guard.close();
    }
  });

  it('a released group is left alone', async () => {
    const guard = new FenceGuard(log);
    guard.start();
    try {
      const pid = entry();
      guard.hold(pid);
      guard.release(pid);
      guard.setDeadline(monotonicMs() + 100);
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(running(pid));
    } finally {
      guard.close();
    }
  });

  it('with its daemon gone (its input closed) it still kills at the last deadline, then ends', async () => {
    const guard = new FenceGuard(log);
    guard.start();
    const guardPid = guard.pid!;
    const pid = entry();
    guard.hold(pid);
    guard.setDeadline(monotonicMs() + 1000);
    guard.close();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(running(pid), 'not before the deadline');
    await waitFor('the kill at the deadline', () => !running(pid), 3000);
    await waitFor('the guard to end', () => !isAlive(guardPid), 3000);
  });
});
