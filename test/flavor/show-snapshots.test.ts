// `flavor show NAME --json` of every shipped flavor and of one without a file, against the
// snapshots committed in test/flavor/snapshots/: a change to any flavored name shows in review.
// After a deliberate change, rewrite the snapshots and commit them with it:
//   FLAVORKIT_UPDATE_SNAPSHOTS=1 node --import tsx --test test/flavor/show-snapshots.test.ts
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { knownFlavorNames } from '../../src/flavor';
import { PROJECT_ROOT, run } from '../support/process';

const SNAPSHOTS = path.join(__dirname, 'snapshots');
const UPDATE = process.env.FLAVORKIT_UPDATE_SNAPSHOTS === '1';
/** A flavor with no file in flavors/: everything derived from its name. */
const WITHOUT_FILE = 'xyz';

describe('flavor show --json snapshots', () => {
  const names = [...knownFlavorNames(), WITHOUT_FILE];

  it('cover every shipped flavor and one without a file', () => {
    assert.deepEqual(knownFlavorNames(), ['abc', 'acme', 'tog']);
    assert.ok(!fs.existsSync(path.join(PROJECT_ROOT, 'flavors', `${WITHOUT_FILE}.json`)));
  });

  for (const name of names) {
    it(name, async () => {
      const { FLAVORKIT_FLAVORS_DIR: _shipped, ...env } = process.env;
      const shown = await run(process.execPath, [path.join(PROJECT_ROOT, 'bin/flavor'), 'show', name, '--json'], { cwd: PROJECT_ROOT, env, timeoutMs: 60000 });
      assert.equal(shown.code, 0, shown.stderr);
      const file = path.join(SNAPSHOTS, `${name}.json`);
      if (UPDATE) fs.writeFileSync(file, shown.stdout);
      assert.ok(fs.existsSync(file), `no snapshot ${file}; write it with FLAVORKIT_UPDATE_SNAPSHOTS=1 (see the top of this file)`);
      assert.equal(shown.stdout, fs.readFileSync(file, 'utf8'), `flavor show ${name} --json differs from ${file}; if the change is meant, update the snapshots (see the top of this file)`);

      // What the snapshots must show, whatever else changes.
      const layouts = JSON.parse(shown.stdout) as Array<{ daemon: string; etcdPrefix: string; companions: Record<string, { pidFile: string; logIdentity: string }> }>;
      for (const l of layouts) {
        if (l.daemon === 'init') assert.equal(l.etcdPrefix, `/flavorkit/${name}/isinit/`);
        if (l.daemon === 'pen') {
          assert.match(l.companions.penlogd?.pidFile ?? '(none)', /\/penlogd\.pid$/);
          assert.equal(l.companions.penlogd?.logIdentity, name === 'tog' ? 'penlogd' : `penlogd${name}`);
        }
      }
    });
  }
});
