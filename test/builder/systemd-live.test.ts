// The units tried live: systemd 252 booted in a container over an overlay of this host's /, the
// .deb packages of two flavors installed there and driven with systemctl (scripts/systemd-live.sh
// holds the scenario, so an operator can run the same check by hand).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PROJECT_ROOT, run } from '../support/process';

function cannotBoot(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (overlay mount, systemd-nspawn)';
  for (const tool of ['systemd-nspawn', 'jq', 'curl']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  return null;
}

describe('systemd units, live', () => {
  it('tog and abc: start, serve, reload in place, stop and purge under a booted systemd', { skip: cannotBoot() ?? false, timeout: 420_000 }, async () => {
    // The script bounds the container's life (300 s) and removes what it made.
    const ran = await run('bash', [path.join(PROJECT_ROOT, 'scripts', 'systemd-live.sh'), 'tog', 'abc'], { cwd: PROJECT_ROOT, timeoutMs: 400_000 });
    const report = `${ran.stdout}${ran.stderr}`;
    assert.equal(ran.code, 0, `the live check passed:\n${report}`);
    for (const unit of ['tog-pen', 'tog-depot', 'tog-init', 'abc-pen', 'abc-depot', 'abc-init']) {
      for (const finding of ['active', 'reloaded in place', 'stopped']) {
        assert.match(ran.stdout, new RegExp(`^ok ${unit}\\.service: ${finding}`, 'm'), `${unit}: ${finding}`);
      }
    }
    assert.match(ran.stdout, /^ok tog-pen\.service: port \d+ serves its own backend$/m);
    assert.match(ran.stdout, /^ok abc-pen\.service: port \d+ serves its own backend$/m);
    assert.match(ran.stdout, /^ok purged$/m);
  });
});
