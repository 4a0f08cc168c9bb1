import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor } from '../../src/flavor';
import { buildFlavor } from '../../src/builder/build';
import { ownedDirs, systemdFiles } from '../../src/builder/description';
import { defaultPackageOptions } from '../../src/builder/package';
import { PROJECT_ROOT, run, tempDir } from '../support/process';
import { assembleFlavor, type AssembledDaemon } from './assemble';

const work = tempDir('rpm');
const RPMLINT_CONFIG = path.join(PROJECT_ROOT, 'packaging', 'rpmlint.toml');
const query = (rpm: string, format: string) => execFileSync('rpm', ['-qp', '--qf', format, rpm]).toString();
after(() => fs.rmSync(work, { recursive: true, force: true }));

const list = (rpm: string) => execFileSync('rpm', ['-qpl', rpm]).toString().trim().split('\n');
const dirsOf = (rpm: string) =>
  execFileSync('rpm', ['-qp', '--qf', '[%{FILEMODES:perms} %{FILENAMES}\n]', rpm]).toString().trim().split('\n')
    .filter((l) => l.startsWith('d')).map((l) => l.split(' ')[1]!);

describe('package contents', () => {
  let tog: AssembledDaemon[];
  let abc: AssembledDaemon[];
  let acme: AssembledDaemon[];
  before(async () => {
    tog = await assembleFlavor('tog', path.join(work, 'tog'), defaultPackageOptions());
    abc = await assembleFlavor('abc', path.join(work, 'abc'), defaultPackageOptions());
    acme = await assembleFlavor('acme', path.join(work, 'acme'), defaultPackageOptions());
  });

  it('rpmlint finds no error and no warning in any package of tog, abc and acme', async () => {
    const rpms = [...tog, ...abc, ...acme].map((d) => d.rpm);
    assert.equal(rpms.length, 7);
    const r = await run('rpmlint', ['-c', RPMLINT_CONFIG, ...rpms], { stdio: ['ignore', 'pipe', 'pipe'], timeoutMs: 120_000 });
    assert.match(r.stdout, /7 packages and 0 specfiles checked; 0 errors, 0 warnings/, r.stdout + r.stderr);
    assert.equal(r.code, 0, r.stdout);
  });

  it('every waiver of the rpmlint config carries its reason', () => {
    const lines = fs.readFileSync(RPMLINT_CONFIG, 'utf8').split('\n');
    const filters = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s+'[^']+',$/.test(l));
    assert.ok(filters.length > 0);
    for (const [line, i] of filters) assert.match(lines[i - 1]!, /^\s+#/, `${line.trim()} has a comment above it`);
  });

  it('packages with compiled addons are built for this machine and require the Node ABI they were built for', () => {
    const arch = execFileSync('rpm', ['--eval', '%{_arch}']).toString().trim();
    const major = process.versions.node.split('.')[0];
    for (const d of [...tog, ...abc, ...acme]) {
      assert.equal(query(d.rpm, '%{ARCH}'), arch, d.rpm);
      assert.ok(d.rpm.endsWith(`.${arch}.rpm`));
      const requires = execFileSync('rpm', ['-qpR', d.rpm]).toString();
      assert.match(requires, new RegExp(`^nodejs\\(abi${major}\\)$`, 'm'));
      assert.match(requires, /^nodejs\(engine\) >= 20$/m);
      assert.doesNotMatch(requires, /^nodejs$/m);
    }
  });

  it('PAM and config files are %config(noreplace); README and LICENSE are docs; a changelog entry names the build', () => {
    for (const d of [...tog, ...abc]) {
      const flags = new Map(query(d.rpm, '[%{FILENAMES} %{FILEFLAGS:fflags}\n]').trim().split('\n').map((l) => l.split(' ') as [string, string]));
      assert.equal(flags.get(d.layout.pamFile), 'cn', `${d.layout.pamFile}`);
      assert.equal(flags.get(d.layout.configFile), 'cn', `${d.layout.configFile}`);
      for (const [file, f] of flags) if (file.startsWith(`${d.layout.configDir}/`)) assert.equal(f, 'cn', file);
      const doc = `${d.layout.prefix}/share/doc/${d.layout.packageName}`;
      assert.equal(flags.get(`${doc}/README`), 'd');
      assert.match(flags.get(`${doc}/LICENSE`)!, /l/);
      assert.match(query(d.rpm, '%{URL}'), /^https?:\/\//);
      assert.match(execFileSync('rpm', ['-qp', '--changelog', d.rpm]).toString(), new RegExp(`^\\* \\w{3} \\w{3} \\d\\d \\d{4} .* - 0\\.\\d+\\.\\d+-1\\n- Built for flavor ${d.layout.flavor}\\.`, 'm'));
    }
  });

  it('every program starts with the interpreter\'s own path, never env', () => {
    for (const d of [...tog, ...abc]) {
      for (const p of Object.values(d.layout.programs)) {
        const first = fs.readFileSync(path.join(d.root, p), 'utf8').split('\n', 1)[0]!;
        assert.match(first, /^#!\/usr\/bin\/node( --[a-z-]+)?$/, `${p}: ${first}`);
      }
    }
  });

  it('the default flavor declares the distribution\'s pen it replaces; the others conflict with nothing', () => {
    const togPen = tog.find((d) => d.layout.daemon === 'pen')!;
    assert.equal(execFileSync('rpm', ['-qp', '--conflicts', togPen.rpm]).toString().trim(), 'pen');
    assert.match(execFileSync('rpm', ['-qp', '--provides', togPen.rpm]).toString(), /^pen = 0\.34\.1$/m);
    for (const d of abc) assert.equal(execFileSync('rpm', ['-qp', '--conflicts', d.rpm]).toString().trim(), '');
  });

  it('pen.conf.sample names the flavor\'s own paths and ports', () => {
    for (const d of [...tog, ...abc].filter((x) => x.layout.daemon === 'pen')) {
      const sample = fs.readFileSync(path.join(d.root, d.layout.files.sampleConfig!), 'utf8');
      assert.match(sample, new RegExp(`^#log ${d.layout.files.requestLog}$`, 'm'));
      assert.match(sample, new RegExp(`^#web_stats ${d.layout.files.webStats}$`, 'm'));
      assert.match(sample, new RegExp(`^#ssl_sni_path ${d.layout.configDir}/sni$`, 'm'));
      assert.match(sample, new RegExp(` -r ${d.layout.ports.service} `));
      if (!d.layout.isDefault) assert.doesNotMatch(sample, /[ #]\/(var|etc)\//, 'no path outside the flavor\'s prefix');
    }
  });

  it('a relocatable package holds only paths under its prefix, its init script, unit, PAM and logrotate files', () => {
    for (const d of abc) {
      const l = d.layout;
      const units = Object.values(systemdFiles(l));
      for (const p of list(d.rpm)) {
        assert.ok(p === l.prefix || p.startsWith(`${l.prefix}/`) || p === l.initScript || p === l.pamFile || p === l.logrotateFile || units.includes(p), `${p} in ${l.packageName}`);
      }
      assert.match(execFileSync('rpm', ['-qp', '--qf', '%{PREFIXES}', d.rpm]).toString(), new RegExp(`^${l.prefix}$`));
    }
  });

  it('the default flavor owns its own directories and never a system one', () => {
    for (const d of tog) {
      const dirs = dirsOf(d.rpm);
      for (const system of ['/usr', '/usr/bin', '/usr/lib', '/etc', '/etc/init.d', '/etc/pam.d', '/var', '/var/run', '/run', '/var/log', '/var/lib', '/usr/share/doc', '/etc/logrotate.d']) {
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

  it('refuses to package in a path with a space, before writing anything', async () => {
    const spaced = path.join(work, 'with space');
    await assert.rejects(buildFlavor('abc', { distDir: spaced, packaging: defaultPackageOptions() }), /spaces or shell metacharacters/);
    assert.ok(!fs.existsSync(spaced));
  });

  it('refuses a bad release', () => {
    assert.throws(() => defaultPackageOptions({ FLAVORKIT_RPM_RELEASE: '1; rm' }), /not a valid package release/);
    assert.throws(() => defaultPackageOptions({ SOURCE_DATE_EPOCH: 'yesterday' }), /SOURCE_DATE_EPOCH/);
  });
});

describe('signed packages', () => {
  const gnupg = path.join(work, 'gnupg');
  const db = path.join(work, 'signdb');
  const rpmq = (args: string[]) => run('rpm', ['--dbpath', db, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: work } });

  it('a build given a GPG key signs every package; rpm -K passes with the public key and fails on a tampered package', async () => {
    fs.mkdirSync(gnupg, { recursive: true, mode: 0o700 });
    const gpg = (args: string[]) => execFileSync('gpg', ['--homedir', gnupg, '--batch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    // A throwaway key without a passphrase, made for this test alone.
    gpg(['--passphrase', '', '--quick-generate-key', 'flavorkit test signer <signer@flavorkit.test>', 'rsa2048', 'sign', '1d']);
    fs.writeFileSync(path.join(work, 'signer.asc'), gpg(['--armor', '--export', 'signer@flavorkit.test']));
    const saved = process.env.GNUPGHOME;
    process.env.GNUPGHOME = gnupg;
    let signed: AssembledDaemon[];
    try {
      signed = await assembleFlavor('acme', path.join(work, 'signed'), { ...defaultPackageOptions(), signKey: 'signer@flavorkit.test' });
    } finally {
      if (saved === undefined) delete process.env.GNUPGHOME;
      else process.env.GNUPGHOME = saved;
      execFileSync('gpgconf', ['--homedir', gnupg, '--kill', 'all'], { stdio: 'ignore' });
    }
    fs.mkdirSync(db, { recursive: true });
    assert.equal((await rpmq(['--initdb'])).code, 0);
    const file = signed[0]!.rpm;
    const unknown = await rpmq(['-K', file]);
    assert.notEqual(unknown.code, 0, 'the signature does not verify before the key is imported');
    assert.equal((await rpmq(['--import', path.join(work, 'signer.asc')])).code, 0);
    const ok = await rpmq(['-K', file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /signatures OK/);
    // One byte of the payload changed.
    const tampered = path.join(work, 'tampered.rpm');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 100] ^= 0xff;
    fs.writeFileSync(tampered, bytes);
    const bad = await rpmq(['-K', tampered]);
    assert.notEqual(bad.code, 0, bad.stdout);
  });
});
