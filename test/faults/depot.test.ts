// The depot under a full log disk: it keeps serving through HUPs, and says what its access log
// and its own log lost once the disk has room again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { copyFixture, DepotHarness } from '../depot/harness';
import { FIXTURES_DIR, freePort, isAlive, killAndWait, PROJECT_ROOT, tempDir, TSX_LOADER, waitFor } from '../support/process';
import { fillLogDisk, freeLogDisk, hangUps, openDescriptors, readInNamespace, runWithSmallLogDisk } from './support';

describe('depot with a full log disk', () => {
  const depot = new DepotHarness();
  const scratch = tempDir('depot-disk');

  after(async () => {
    await depot.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('keeps serving through 100 HUPs while nothing can be logged, and says what it lost once it can', async () => {
    const repo = copyFixture(path.join(FIXTURES_DIR, 'pkg5/sample-repo'), scratch);
    depot.port = await freePort();
    const started = await runWithSmallLogDisk(
      depot.layout.logDir,
      256,
      [process.execPath, ...TSX_LOADER, path.join(PROJECT_ROOT, 'src/depot/bin/depot.ts'), '-S', '-p', String(depot.port), '-d', repo],
      { FLAVOR: 'abc', FLAVORKIT_ROOT: depot.root },
    );
    assert.equal(started.code, 0, started.stderr);
    depot.pid = Number(fs.readFileSync(depot.layout.pidFile, 'utf8'));
    const pid = depot.pid;
    assert.equal((await depot.get('/versions/0/')).status, 200);
    const descriptors = openDescriptors(pid);

    await fillLogDisk(pid, depot.layout.logDir);
    // Enough requests to outgrow the access log's last page, which the fill could not take.
    for (let round = 0; round < 10; round++) {
      await hangUps(pid, 10);
      for (let i = 0; i < 20; i++) assert.equal((await depot.get('/versions/0/')).status, 200, `served in round ${round + 1} of the full disk`);
    }
    assert.ok(isAlive(pid));

    await freeLogDisk(pid, depot.layout.logDir);
    process.kill(pid, 'SIGHUP');
    assert.equal((await depot.get('/versions/0/')).status, 200);
    let console = '';
    await waitFor('the losses in the console log', async () => {
      console = await readInNamespace(pid, depot.layout.consoleLog);
      return /\d+ log line\(s\) lost from \S+ to \S+ \(ENOSPC\)/.test(console) && /\d+ access log line\(s\) lost from/.test(console);
    }).catch((err: Error) => assert.fail(`${err.message}; the console log ends:\n${console.slice(-600)}`));
    const access = (await readInNamespace(pid, depot.layout.files.accessLog)).split('\n').filter((l) => l !== '');
    assert.match(access.at(-1)!, /"GET \/versions\/0\/ HTTP\/1\.1" 200 /);
    await waitFor('descriptors back to where they were', () => openDescriptors(pid) <= descriptors);
    await killAndWait(pid, 'SIGTERM');
  });
});
