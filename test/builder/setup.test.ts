// scripts/setup.sh on a ready machine: no apt-get at all (no network, no apt lock), and apt's
// lists are recognised whatever their compression.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { PROJECT_ROOT, run, tempDir } from '../support/process';

const SETUP = path.join(PROJECT_ROOT, 'scripts', 'setup.sh');
const work = tempDir('setup');
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('scripts/setup.sh', () => {
  it('on a machine with every package and node_modules in place, runs neither apt-get nor npm', async () => {
    // Placed first on PATH, these record any call: a ready machine must make none.
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    for (const tool of ['apt-get', 'npm']) fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "$0 $*" >> ${work}/calls\nexit 1\n`, { mode: 0o755 });
    const r = await run('bash', [SETUP], { cwd: PROJECT_ROOT, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, timeoutMs: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(path.join(work, 'calls')), fs.existsSync(path.join(work, 'calls')) ? fs.readFileSync(path.join(work, 'calls'), 'utf8') : '');
  });

  it('takes apt lists for present whether plain or compressed, and an empty directory for none', async () => {
    const lists = (files: string[]) => {
      const dir = fs.mkdtempSync(path.join(work, 'lists-'));
      for (const f of files) fs.writeFileSync(path.join(dir, f), '');
      return dir;
    };
    const script = fs.readFileSync(SETUP, 'utf8');
    const fn = /^lists_empty\(\) \{[\s\S]*?^\}$/m.exec(script)?.[0];
    assert.ok(fn, 'setup.sh defines lists_empty');
    const empty = async (dir: string) => (await run('bash', ['-c', `${fn}\nlists_empty`], { env: { ...process.env, APT_LISTS_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] })).code === 0;
    assert.equal(await empty(lists([])), true);
    assert.equal(await empty(lists(['lock', 'deb.debian.org_debian_dists_bookworm_InRelease'])), true);
    for (const name of ['_Packages', '_Packages.lz4', '_Packages.gz', '_Packages.xz', '_Packages.zst']) {
      assert.equal(await empty(lists([`deb.debian.org_debian_dists_bookworm_main_binary-amd64${name}`])), false, name);
    }
  });
});
