import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor } from '../../src/flavor';
import { ownedDirs } from '../../src/build/description';
import { defaultPackageOptions, packageDaemon } from '../../src/build/rpm';
import { tempDir } from '../support/process';
import { assembleFlavor, type AssembledDaemon } from './assemble';

const work = tempDir('rpm');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const list = (rpm: string) => execFileSync('rpm', ['-qpl', rpm]).toString().trim().split('\n');
const dirsOf = (rpm: string) =>
  execFileSync('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILENAMES}\n]', rpm]).toString().trim().split('\n')
    .filter((l) => l.startsWith('d')).map((l) => l.split(' ')[1]!);

describe('package contents', () => {
  let tog: AssembledDaemon[];
  let abc: AssembledDaemon[];
  before(async () => {
    tog = await assembleFlavor('tog', path.join(work, 'tog'), defaultPackageOptions());
    abc = await assembleFlavor('abc', path.join(work, 'abc'), defaultPackageOptions());
  });

  it('a relocatable package holds only paths under its prefix, its init script and its PAM file', () => {
    for (const d of abc) {
      const l = d.layout;
      for (const p of list(d.rpm)) {
        assert.ok(p === l.prefix || p.startsWith(`${l.prefix}/`) || p === l.initScript || p === l.pamFile, `${p} in ${l.packageName}`);
      }
      assert.match(execFileSync('rpm', ['-qp', '--qf', '%{PREFIXES}', d.rpm]).toString(), new RegExp(`^${l.prefix}$`));
    }
  });

  it('the default flavor owns its own directories and never a system one', () => {
    for (const d of tog) {
      const dirs = dirsOf(d.rpm);
      for (const system of ['/usr', '/usr/bin', '/usr/lib', '/etc', '/etc/init.d', '/etc/pam.d', '/var', '/var/run', '/var/log', '/var/lib']) {
        assert.ok(!dirs.includes(system), `${d.layout.packageName} does not own ${system}`);
      }
      for (const own of [d.layout.libDir, d.layout.configDir, d.layout.runDir, d.layout.logDir, d.layout.dataDir]) {
        assert.ok(dirs.includes(own), `${d.layout.packageName} owns ${own}`);
      }
      assert.equal(execFileSync('rpm', ['-qp', '--qf', '%{PREFIXES}', d.rpm]).toString(), '(none)');
    }
  });

  it('the init script is executable and the PAM file names the flavored service', () => {
    const pen = abc.find((d) => d.layout.daemon === 'pen')!;
    const modes = execFileSync('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILENAMES}\n]', pen.rpm]).toString();
    assert.match(modes, /^-rwxr-xr-x \/etc\/init\.d\/abc-pen$/m);
    assert.match(modes, /^-rw-r--r-- \/etc\/pam\.d\/penabc$/m);
    assert.match(fs.readFileSync(path.join(pen.root, 'etc/pam.d/penabc'), 'utf8'), /PAM service penabc of abc-pen/);
  });

  it('ownedDirs climbs from each directory up to the prefix only', () => {
    const l = layout(loadFlavor('abc'), 'depot');
    const owned = ownedDirs(l, ['/usr', '/usr/local', '/usr/local/abc-depot/lib/abc-depot/node_modules/x']);
    assert.ok(owned.includes('/usr/local/abc-depot'));
    assert.ok(owned.includes('/usr/local/abc-depot/lib/abc-depot/node_modules'));
    assert.ok(!owned.includes('/usr/local') && !owned.includes('/usr'));
  });

  it('refuses to run rpmbuild in a path with a space, before writing anything', async () => {
    const l = layout(loadFlavor('abc'), 'pen');
    const root = path.join(work, 'with space', 'root');
    await assert.rejects(packageDaemon(l, root, work, path.join(work, 'w'), defaultPackageOptions()), /spaces or shell metacharacters/);
    assert.ok(!fs.existsSync(root));
  });

  it('refuses a bad release', () => {
    assert.throws(() => defaultPackageOptions({ FLAVORKIT_RPM_RELEASE: '1; rm' }), /not a valid RPM release/);
    assert.throws(() => defaultPackageOptions({ SOURCE_DATE_EPOCH: 'yesterday' }), /SOURCE_DATE_EPOCH/);
  });
});
