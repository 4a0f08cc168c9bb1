// The runtime every daemon shares, under faults: a crash during the start.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { layout, loadFlavor, underRoot } from '../../src/flavor';
import { PROJECT_ROOT, run, tempDir, TSX_LOADER } from '../support/process';

describe('a daemon that dies while starting', () => {
  it('fails the start, names its console file, and says its lock and PID file are taken over by the next start', async () => {
    const root = tempDir('crash-at-start');
    try {
      const l = underRoot(layout(loadFlavor('abc'), 'pen'), root);
      const daemon = [...TSX_LOADER, path.join(PROJECT_ROOT, 'test/support/runtime-daemon.ts')];
      const env = { ...process.env, FLAVOR: 'abc', FLAVORKIT_ROOT: root };
      const crashed = await run(process.execPath, daemon, { env: { ...env, TEST_CRASH_AT_START: '1' }, timeoutMs: 30000 });
      assert.equal(crashed.code, 1);
      assert.equal(
        crashed.stderr,
        `penabc: was killed by SIGKILL while starting (see ${l.consoleLog}); its start lock ${l.startLock} and PID file ${l.pidFile} are stale and the next start takes them over\n`,
      );
      assert.ok(fs.existsSync(l.startLock), 'the crash left its lock');
      const next = await run(process.execPath, daemon, { env, timeoutMs: 30000 });
      assert.equal(next.code, 0, next.stderr);
      process.kill(Number(fs.readFileSync(l.pidFile, 'utf8')), 'SIGTERM');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
