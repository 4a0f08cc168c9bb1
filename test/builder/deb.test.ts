import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemdFiles } from '../../src/builder/description';
import { defaultPackageOptions } from '../../src/builder/package';
import { PROJECT_ROOT, run, tempDir } from '../support/process';
import { assembleFlavor, type AssembledDaemon } from './assemble';

const work = tempDir('deb');
const OVERRIDES = path.join(PROJECT_ROOT, 'packaging', 'deb', 'lintian-overrides');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const field = (deb: string, name: string) => execFileSync('dpkg-deb', ['-f', deb, name]).toString().trim();
const controlFile = (deb: string, name: string): string => execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar -xOf - "./${name}"`, 'sh', deb]).toString();

describe('Debian packages and systemd units', () => {
  let all: AssembledDaemon[];
  before(async () => {
    all = [];
    for (const flavor of ['tog', 'abc', 'acme']) all.push(...(await assembleFlavor(flavor, path.join(work, flavor), defaultPackageOptions())));
  });

  it('lintian finds no error and no warning in any package of tog, abc and acme', async () => {
    const debs = all.map((d) => d.deb);
    assert.equal(debs.length, 7);
    const r = await run('lintian', ['--tag-display-limit', '0', '--fail-on', 'error,warning', ...debs], { stdio: ['ignore', 'pipe', 'pipe'], timeoutMs: 300_000 });
    assert.doesNotMatch(r.stdout, /^[EW]: /m, r.stdout);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('every lintian override carries its reason', () => {
    const lines = fs.readFileSync(OVERRIDES, 'utf8').split('\n');
    const overrides = lines.map((l, i) => [l, i] as const).filter(([l]) => l.trim() && !l.startsWith('#'));
    assert.ok(overrides.length > 0);
    for (const [line, i] of overrides) {
      let j = i - 1;
      while (j >= 0 && !lines[j]!.startsWith('#') && lines[j]!.trim()) j--;
      assert.match(lines[j] ?? '', /^# \S/, `${line} follows a reason`);
    }
  });

  it('each .deb depends on the Node its addons were built for, in the addons architecture; tog replaces the distribution package', () => {
    const arch = execFileSync('dpkg', ['--print-architecture']).toString().trim();
    const major = Number(process.versions.node.split('.')[0]);
    for (const d of all) {
      assert.equal(field(d.deb, 'Architecture'), arch, d.deb);
      assert.ok(d.deb.endsWith(`_${arch}.deb`));
      assert.equal(field(d.deb, 'Depends'), `nodejs (>= ${major}), nodejs (<< ${major + 1}), libc6`);
      // The same conflicts as the RPM: the default flavor's pen takes the distribution's pen's paths.
      const rpmConflicts = execFileSync('rpm', ['-qp', '--conflicts', d.rpm]).toString().trim();
      assert.equal(field(d.deb, 'Conflicts'), rpmConflicts);
      if (d.layout.isDefault && d.layout.daemon === 'pen') {
        assert.equal(field(d.deb, 'Conflicts'), 'pen');
        assert.equal(field(d.deb, 'Replaces'), 'pen');
        assert.match(field(d.deb, 'Provides'), /^pen \(= /);
      } else {
        assert.equal(field(d.deb, 'Conflicts'), '');
        assert.equal(field(d.deb, 'Provides'), '');
      }
    }
  });

  it('conffiles hold the config directory, the PAM file and everything under /etc; the scripts parse', () => {
    for (const d of all) {
      const conffiles = controlFile(d.deb, 'conffiles').trim().split('\n');
      assert.ok(conffiles.includes(d.layout.pamFile), `${d.layout.pamFile} in ${d.deb}`);
      assert.ok(conffiles.includes(d.layout.initScript));
      const inConfigDir = d.description.files.filter((f) => f.path.startsWith(`${d.layout.configDir}/`)).map((f) => f.path);
      assert.ok(inConfigDir.length > 0);
      for (const f of inConfigDir) assert.ok(conffiles.includes(f), `${f} is a conffile`);
      assert.ok(!conffiles.some((f) => f.startsWith('/usr/lib/systemd/')), 'units are the package\'s, not conffiles');
      for (const script of ['postinst', 'prerm', 'postrm']) {
        const text = controlFile(d.deb, script);
        execFileSync('sh', ['-n'], { input: text });
        assert.match(text, new RegExp(systemdFiles(d.layout).unit.split('/').pop()!.replace('.', '\\.')));
      }
    }
  });

  it('systemd-analyze verify passes on every unit, with the package files at their installed paths', async () => {
    for (const d of all) {
      const units = systemdFiles(d.layout);
      const unitText = fs.readFileSync(path.join(d.root, units.unit), 'utf8');
      // The init script's semantics: a daemon that detaches once it serves, its own PID file,
      // HUP on reload, TERM to the daemon alone on stop.
      assert.match(unitText, /^Type=forking$/m);
      assert.match(unitText, new RegExp(`^PIDFile=${d.layout.pidFile}$`, 'm'));
      assert.match(unitText, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
      assert.match(unitText, /^KillMode=process$/m);
      assert.match(fs.readFileSync(path.join(d.root, units.tmpfiles), 'utf8'), new RegExp(`^d ${d.layout.runDir} 0755 root root -$`, 'm'));
      // A private mount namespace shows /usr with this package's files over the host's.
      const r = await run('unshare', ['--mount', 'sh', '-c', 'mount -t overlay overlay -o "lowerdir=$1/usr:/usr" /usr && exec systemd-analyze verify "$2"', 'sh', d.root, units.unit], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `${units.unit}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim(), '', `${units.unit}: ${r.stderr}`);
    }
  });
});
