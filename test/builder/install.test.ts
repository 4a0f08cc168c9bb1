// Installs the packages for real: rpm with a private database, init scripts, daemons, erase.
// The test re-runs itself inside private mount, PID and network namespaces, with overlays over
// /etc, /usr and /var and a tmpfs on /run, so the host is untouched even when it fails, and
// every daemon dies with the namespace's first process.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DAEMON_SPECS, layout, loadFlavor, relocate, type Layout } from '../../src/flavor';
import { defaultPackageOptions, type PackageOptions } from '../../src/builder/package';
import { rpmPackager } from '../../src/builder/rpm';
import { configTemplates, TEMPLATE_DIRS } from '../../src/builder/templates';
import { askSocket, FIXTURES_DIR, PROJECT_ROOT, run, tempDir, waitFor } from '../support/process';
import { assembleFlavor, type AssembledDaemon } from './assemble';

const NS_ENV = 'FLAVORKIT_PKG_NAMESPACE_DIR';
const OVERLAID = ['etc', 'usr', 'var'];
const SERVICE_FLAVOR = 'svcuser';
const SERVICE_USER = 'fkpkgsvc';
/** What creating the service user changes in /etc. */
const ACCOUNT_FILES = new Set(['/etc/.pwd.lock', '/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow', '/etc/passwd-', '/etc/group-', '/etc/shadow-', '/etc/gshadow-']);

function canUseNamespaces(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (rpm -i into /, mount, unshare)';
  for (const tool of ['unshare', 'rpm', 'rpmbuild', 'mount', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  return null;
}

if (!process.env[NS_ENV]) {
  describe('packages installed for real', () => {
    const work = tempDir('pkg-ns');
    after(() => fs.rmSync(work, { recursive: true, force: true }));
    const why = canUseNamespaces();
    it('in private mount, PID and network namespaces', { skip: why ?? false, timeout: 330_000 }, async () => {
      // The runner marks its children; this one is a runner of its own.
      const childEnv: NodeJS.ProcessEnv = { ...process.env, FLAVORKIT_FLAVORS_DIR: path.join(work, 'flavors') };
      delete childEnv.NODE_TEST_CONTEXT;
      // The shipped flavors, plus one that runs as a service user of its own.
      fs.cpSync(path.join(PROJECT_ROOT, 'flavors'), path.join(work, 'flavors'), { recursive: true });
      fs.writeFileSync(path.join(work, 'flavors', `${SERVICE_FLAVOR}.json`), JSON.stringify({ daemons: ['pen'], user: SERVICE_USER }));
      const child = spawn(
        'unshare',
        ['--mount', '--pid', '--net', '--fork', '--mount-proc', process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', __filename],
        { cwd: PROJECT_ROOT, env: { ...childEnv, [NS_ENV]: work }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 320_000);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(timer);
      process.stdout.write(output.replace(/^/gm, '    ns| '));
      assert.equal(code, 0, 'the install scenario in the namespace passed (its output is above)');
      const passed = Number(/^ℹ pass (\d+)$/m.exec(output)?.[1] ?? 0);
      assert.ok(passed >= 11, `the scenario ran its tests (${passed} passed)`);
    });
  });
} else {
  inNamespace(process.env[NS_ENV]);
}

function inNamespace(work: string): void {
  const upper = path.join(work, 'ovl', 'upper');
  const lower = path.join(work, 'ovl', 'lower');
  const db = path.join(work, 'rpmdb');
  const out = path.join(work, 'out');
  const rpmHome = path.join(work, 'rpmhome');
  const built = new Map<string, AssembledDaemon[]>();
  const hasUpdateRcD = fs.existsSync('/usr/sbin/update-rc.d');
  /** One HTTP backend per flavor: a pen of that flavor must reach its own. */
  const backends = new Map<string, http.Server>();
  /** What `configure` added to each config file, so it can be taken out before erase. */
  const added = new Map<string, { original: string }>();

  const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const rpm = (args: string[], timeoutMs = 60_000) =>
    run('rpm', ['--dbpath', db, '--force-debian', ...args], { timeoutMs, env: { ...process.env, HOME: rpmHome }, stdio: ['ignore', 'pipe', 'pipe'] });
  const rpmOk = async (args: string[]) => {
    const r = await rpm(args);
    assert.equal(r.code, 0, `rpm ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const initScript = (l: Layout, action: string) => run(l.initScript, [action], { timeoutMs: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const rpmsOf = (flavor: string, release = '1') => built.get(`${flavor}-${release}`)!.map((d) => d.rpm);

  /**
   * What the overlays gained beyond what erase keeps for the operator (logs and data, and the
   * directories holding them), which is removed here as an operator would.
   */
  function leftovers(): string[] {
    for (const l of [...built.values()].flat().map((d) => d.layout)) {
      for (const dir of [l.logDir, l.dataDir]) {
        if (fs.existsSync(path.join(upper, dir)) && !fs.existsSync(path.join(lower, dir))) removeUp(dir);
      }
    }
    return gained();
  }

  /** Removes a file or directory, then its parents that are left empty and new to the overlays. */
  function removeUp(p: string): void {
    fs.rmSync(p, { recursive: true, force: true });
    for (let d = path.dirname(p); !fs.existsSync(path.join(lower, d)); d = path.dirname(d)) {
      try {
        fs.rmdirSync(d);
      } catch {
        break;
      }
    }
  }

  /** Files the overlays gained: anything but a directory the lower tree already had. */
  function gained(): string[] {
    const found: string[] = [];
    const visit = (rel: string) => {
      for (const e of fs.readdirSync(path.join(upper, rel), { withFileTypes: true })) {
        const child = path.join(rel, e.name);
        // A whiteout records a removal: the file is gone, not left over.
        if (e.isCharacterDevice() && fs.statSync(path.join(upper, child)).rdev === 0) continue;
        if (e.isDirectory() && fs.existsSync(path.join(lower, child))) visit(child);
        else found.push(`/${child}${e.isDirectory() ? '/' : ''}`);
      }
    };
    visit('');
    return found;
  }

  before(async () => {
    // Mounts made here are private to this namespace and vanish with it.
    sh('mount', ['--make-rprivate', '/']);
    fs.mkdirSync(path.join(work, 'ovl'), { recursive: true });
    sh('mount', ['-t', 'tmpfs', 'tmpfs', path.join(work, 'ovl')]);
    fs.mkdirSync(lower, { recursive: true });
    // The untouched root, to tell a copied-up parent directory from a new one.
    sh('mount', ['--bind', '/', lower]);
    for (const dir of OVERLAID) {
      const u = path.join(upper, dir);
      const w = path.join(work, 'ovl', 'work', dir);
      fs.mkdirSync(u, { recursive: true });
      fs.mkdirSync(w, { recursive: true });
      sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/${dir},upperdir=${u},workdir=${w}`, `/${dir}`]);
    }
    sh('mount', ['-t', 'tmpfs', 'tmpfs', '/run']);
    sh('ip', ['link', 'set', 'lo', 'up']);
    fs.mkdirSync(db, { recursive: true });
    fs.mkdirSync(rpmHome, { recursive: true });
    // `rpm -qf` without --dbpath (as `flavor doctor` runs it) reads this database too.
    fs.writeFileSync(path.join(rpmHome, '.rpmmacros'), `%_dbpath ${db}\n`);
    sh('rpm', ['--dbpath', db, '--initdb']);

    // Daemons without a default config of their own get one, so %config(noreplace) is exercised.
    const packaging = path.join(work, 'packaging');
    fs.cpSync(TEMPLATE_DIRS.packaging, packaging, { recursive: true });
    const dirs = { ...TEMPLATE_DIRS, packaging };
    for (const d of ['pen', 'depot', 'init'] as const) {
      const l = layout(loadFlavor('abc'), d);
      if (configTemplates(l).length === 0) {
        fs.mkdirSync(path.join(packaging, d), { recursive: true });
        fs.writeFileSync(path.join(packaging, d, path.basename(l.configFile)), '# default config of {{{packageName}}}\n');
      }
    }
    const base = defaultPackageOptions();
    const builds: Array<[string, PackageOptions]> = [
      ['tog', base], ['abc', base], ['acme', base], ['xyz', base], ['abc', { ...base, release: '2' }], [SERVICE_FLAVOR, base],
    ];
    for (const [flavor, options] of builds) {
      const daemons = await assembleFlavor(flavor, path.join(out, `${flavor}-${options.release}`), options, dirs);
      built.set(`${flavor}-${options.release}`, daemons);
    }
    // The overlays show the host's /etc as it is now: a file another program put at one of the
    // packages' system paths (a PAM file a test on this host writes for a while) is hidden here,
    // so the scenario starts from a host without it.
    for (const l of [...built.values()].flat().map((d) => d.layout)) {
      for (const p of [l.pamFile, l.initScript, l.logrotateFile]) fs.rmSync(p, { force: true });
    }
    for (const flavor of ['tog', 'abc', 'acme', 'xyz', SERVICE_FLAVOR]) {
      const server = http.createServer((_, res) => res.end(`backend of ${flavor}`));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      backends.set(flavor, server);
    }

    // The test-only package that satisfies the packages' requirements in the empty database,
    // as a distribution's shell and nodejs packages would.
    const providerRoot = path.join(work, 'provider', 'root');
    fs.mkdirSync(providerRoot, { recursive: true });
    const major = process.versions.node.split('.')[0]!;
    const provider = await rpmPackager.package(
      {
        name: 'flavorkit-test-host', version: '1', release: '1', machine: null, summary: 'Test host', description: 'Provides what the packages need.',
        license: 'MIT', url: base.url, vendor: 'flavorkit', packager: base.packager, prefix: null, node: { engine: 0, abi: null }, requires: [],
        provides: [{ name: '/bin/sh' }, { name: 'nodejs(engine)', op: '=', version: process.versions.node }, { name: `nodejs(abi${major})`, op: '=', version: process.versions.modules }],
        conflicts: [], files: [], dirs: [], ghosts: [], changelog: [], root: providerRoot,
        intents: { createUser: null, relocation: null, service: { name: 'none', script: '/bin/true', unit: 'none.service', tmpfiles: 'none.conf', stopOnErase: 'x', restartOnUpgrade: 'x' }, removeOnErase: [], keepOnErase: [], runtimeDirs: [] },
      },
      path.join(work, 'provider'),
      path.join(work, 'provider', 'work'),
      base,
    );
    await rpmOk(['-i', provider]);
  });

  after(() => {
    for (const server of backends.values()) {
      server.closeAllConnections();
      server.close();
    }
  });

  /**
   * What an operator does after install: pen gets its backend, depot a repository; the
   * packaged isinittab runs as shipped. `unconfigure` takes it out again before erase.
   */
  function configure(l: Layout): void {
    if (l.daemon === 'init' || added.has(l.configFile)) return;
    const original = fs.readFileSync(l.configFile, 'utf8');
    added.set(l.configFile, { original });
    if (l.daemon === 'pen') {
      const port = (backends.get(l.flavor)!.address() as net.AddressInfo).port;
      fs.writeFileSync(l.configFile, `${original}server 0 address 127.0.0.1 port ${port}\n`);
    } else {
      const repo = path.join(work, 'repos', l.packageName);
      fs.cpSync(path.join(FIXTURES_DIR, 'pkg5/sample-repo'), repo, { recursive: true });
      fs.writeFileSync(l.configFile, JSON.stringify({ address: '127.0.0.1', repositories: [{ path: repo }] }));
    }
  }

  function unconfigure(layouts: Layout[]): void {
    for (const l of layouts) {
      const entry = added.get(l.configFile);
      if (!entry) continue;
      added.delete(l.configFile);
      if (!fs.existsSync(l.configFile)) continue;
      const now = fs.readFileSync(l.configFile, 'utf8');
      // Lines the operator added on top (the upgrade test's) stay.
      fs.writeFileSync(l.configFile, l.daemon === 'pen' ? now.replace(/^server 0 address 127\.0\.0\.1 port \d+\n/m, '') : entry.original);
    }
  }

  /** Reaches a daemon on its own service port: a pen answers with its flavor's backend, a depot with its versions. */
  async function reachable(l: Layout): Promise<string> {
    const port = l.ports.service;
    assert.ok(port, `${l.packageName} has a service port`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: l.daemon === 'depot' ? '/versions/0/' : '/', agent: false }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve(data));
      });
      req.setTimeout(5000, () => req.destroy(new Error(`no answer on port ${port}`)));
      req.on('error', reject);
    });
    assert.equal(l.daemon === 'depot' ? body.split('\n')[0] : body, l.daemon === 'depot' ? 'pkg-server unknown' : `backend of ${l.flavor}`);
    // The package's lib dir ships koffi and the C relay round: an installed pen moves its bytes on the FFI loop, in C.
    if (l.daemon === 'pen') assert.deepEqual(dataPathOf(JSON.parse(await askSocket(l.controlSocket, 'status_json'))), { data_path: 'ffi', ffi_rounds: 'c' }, `${l.packageName}'s data path`);
    return body;
  }

  const dataPathOf = (status: { data_path?: string; data_path_reason?: string; ffi_rounds?: string; ffi_rounds_reason?: string }) => ({
    data_path: status.data_path,
    ...(status.data_path_reason && { data_path_reason: status.data_path_reason }),
    ...(status.ffi_rounds && { ffi_rounds: status.ffi_rounds }),
    ...(status.ffi_rounds_reason && { ffi_rounds_reason: status.ffi_rounds_reason }),
  });

  describe('tog and abc side by side', () => {
    it('their packages share no path', async () => {
      const list = async (f: string) => (await rpmOk(['-qpl', ...rpmsOf(f)])).split('\n').filter(Boolean);
      const tog = await list('tog');
      const abc = await list('abc');
      assert.ok(tog.includes('/usr/bin/pen') && abc.includes('/usr/local/abc-pen/bin/pen'));
      const shared = tog.filter((p) => abc.includes(p));
      assert.deepEqual(shared, [], 'no path is in both flavors');
      const r = await rpm(['-i', '--test', ...rpmsOf('tog'), ...rpmsOf('abc')]);
      assert.equal(r.code, 0, r.stderr);
    });

    it('packages are built for this machine, require the Node ABI and mark default configs %config(noreplace)', async () => {
      const arch = sh('rpm', ['--eval', '%{_arch}']).trim();
      for (const file of [...rpmsOf('tog'), ...rpmsOf('abc')]) {
        assert.equal((await rpmOk(['-qp', '--qf', '%{ARCH}', file])).trim(), arch);
        assert.match(await rpmOk(['-qpR', file]), /^nodejs\(abi\d+\)$/m);
        const configs = (await rpmOk(['-qp', '--qf', '[%{FILENAMES} %{FILEFLAGS:fflags}\n]', file])).split('\n').filter((x) => / c/.test(x));
        assert.ok(configs.length >= 1, `${file} has a config file`);
        for (const c of configs) assert.match(c, / cn$/, `${c}: config(noreplace)`);
      }
    });

    it('installs both, verifies clean, and registers nothing under the other flavor\'s name', async () => {
      await rpmOk(['-i', ...rpmsOf('tog'), ...rpmsOf('abc')]);
      for (const d of [...built.get('tog-1')!, ...built.get('abc-1')!]) {
        const r = await rpm(['-V', d.layout.packageName]);
        assert.equal(r.code, 0, `rpm -V ${d.layout.packageName}:\n${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.ok(fs.existsSync(d.layout.initScript) && fs.existsSync(d.layout.pamFile));
      }
      // Registered with update-rc.d (Debian's tool here): start links for its name only.
      if (hasUpdateRcD) {
        const links = fs.readdirSync('/etc/rc2.d');
        for (const d of [...built.get('tog-1')!, ...built.get('abc-1')!]) {
          assert.ok(links.some((x) => new RegExp(`^S\\d\\d${d.layout.packageName}$`).test(x)), `${d.layout.packageName} start link in ${links.join(' ')}`);
        }
      }
    });

    it('starts every daemon of both through its init script; status tells each apart', async () => {
      const all = [...built.get('tog-1')!, ...built.get('abc-1')!].map((d) => d.layout);
      for (const l of all) {
        assert.equal((await initScript(l, 'status')).code, 3, `${l.packageName} is stopped before start`);
      }
      for (const l of all) configure(l);
      for (const l of all) {
        const r = await initScript(l, 'start');
        assert.equal(r.code, 0, `${l.initScript} start:\n${r.stdout}${r.stderr}`);
      }
      for (const l of all) {
        const status = await initScript(l, 'status');
        const pid = Number(fs.readFileSync(l.pidFile, 'utf8').trim());
        assert.equal(status.code, 0, `${l.packageName} status: ${status.stdout}`);
        assert.match(status.stdout, new RegExp(`${l.packageName} is running \\(PID ${pid}\\)`));
        assert.ok(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(l.programs[DAEMON_SPECS[l.daemon].programs[0]!]!));
        if (l.ports.service) await reachable(l);
        // The instance's runtime files belong to its package, and verify clean while it runs.
        assert.equal((await rpmOk(['-qf', '--qf', '%{NAME}', l.pidFile])).trim(), l.packageName);
        assert.equal((await rpm(['-V', '--noconfig', l.packageName])).stdout, '', `rpm -V ${l.packageName} while running`);
      }
      // A second start is harmless and keeps the same process.
      const abcPen = layout(loadFlavor('abc'), 'pen');
      const before = fs.readFileSync(abcPen.pidFile, 'utf8');
      assert.equal((await initScript(abcPen, 'start')).code, 0);
      assert.equal(fs.readFileSync(abcPen.pidFile, 'utf8'), before);
      assert.equal((await initScript(abcPen, 'reload')).code, 0);
      // restart gives a new process; try-restart of a running daemon too.
      for (const action of ['restart', 'try-restart']) {
        const old = fs.readFileSync(abcPen.pidFile, 'utf8');
        const r = await initScript(abcPen, action);
        assert.equal(r.code, 0, `${action}: ${r.stdout}${r.stderr}`);
        assert.notEqual(fs.readFileSync(abcPen.pidFile, 'utf8'), old, `${action} started a new process`);
        assert.equal((await initScript(abcPen, 'status')).code, 0);
      }
    });

    it('stopping abc leaves tog running: status reads the flavor\'s own PID file and process', async () => {
      const abc = built.get('abc-1')!.map((d) => d.layout);
      const tog = built.get('tog-1')!.map((d) => d.layout);
      for (const l of abc) assert.equal((await initScript(l, 'stop')).code, 0);
      for (const l of abc) {
        const s = await initScript(l, 'status');
        assert.equal(s.code, 3, `${l.packageName}: ${s.stdout}`);
        assert.equal((await initScript(l, 'reload')).code, 7);
      }
      for (const l of tog) assert.equal((await initScript(l, 'status')).code, 0);
      // A PID file naming a live process that is not ours (PID 1, this test) is "dead", not "running".
      fs.writeFileSync(abc[0]!.pidFile, '1\n');
      assert.equal((await initScript(abc[0]!, 'status')).code, 1);
      fs.rmSync(abc[0]!.pidFile);
      for (const l of tog) assert.equal((await initScript(l, 'stop')).code, 0);
      assert.equal((await initScript(tog[0]!, 'bogus')).code, 2);
    });

    it('a changed config file and PAM file survive an upgrade to a newer build; rpm -V shows only them', async () => {
      const l = layout(loadFlavor('abc'), 'pen');
      fs.appendFileSync(l.configFile, '# changed by the operator\n');
      fs.appendFileSync(l.pamFile, '# changed by the operator\n');
      const changed = fs.readFileSync(l.configFile, 'utf8');
      const pam = fs.readFileSync(l.pamFile, 'utf8');
      await rpmOk(['-U', ...rpmsOf('abc', '2')]);
      assert.equal((await rpmOk(['-q', '--qf', '%{RELEASE}', l.packageName])).trim(), '2');
      assert.equal(fs.readFileSync(l.configFile, 'utf8'), changed);
      assert.equal(fs.readFileSync(l.pamFile, 'utf8'), pam);
      const verify = await rpm(['-V', l.packageName]);
      const lines = verify.stdout.trim().split('\n').sort();
      assert.deepEqual(lines.map((x) => x.split(/\s+/).slice(1).join(' ')).sort(), [`c ${l.pamFile}`, `c ${l.configFile}`].sort(), verify.stdout);
      assert.equal((await rpm(['-V', '--noconfig', l.packageName])).stdout, '');
    });

    it('erases both and leaves nothing of theirs on disk', async () => {
      unconfigure([...built.get('tog-1')!, ...built.get('abc-2')!].map((d) => d.layout));
      await rpmOk(['-e', ...built.get('tog-1')!.map((d) => d.layout.packageName), ...built.get('abc-2')!.map((d) => d.layout.packageName)]);
      // The operator's changed configs are kept by rpm as .rpmsave: remove them, as an operator would.
      const saved = `${layout(loadFlavor('abc'), 'pen').configFile}.rpmsave`;
      assert.ok(fs.existsSync(saved), 'the changed config is saved on erase');
      removeUp(saved);
      removeUp(`${layout(loadFlavor('abc'), 'pen').pamFile}.rpmsave`);
      assert.deepEqual(leftovers(), []);
    });
  });

  describe('relocation', () => {
    it('abc-pen installed with --prefix runs from the new prefix through its init script', async () => {
      const newPrefix = '/usr/local/relocated/abc';
      const l0 = layout(loadFlavor('abc'), 'pen');
      const l = relocate(l0, newPrefix);
      const pkg = built.get('abc-1')!.find((d) => d.layout.daemon === 'pen')!.rpm;
      const bad = await rpm(['-i', '--prefix', '/usr/local/bad prefix', pkg]);
      assert.notEqual(bad.code, 0, 'a prefix with a space is refused');
      await rpmOk(['-i', '--prefix', newPrefix, pkg]);
      assert.ok(fs.existsSync(l.programs.pen!) && !fs.existsSync(l0.programs.pen!));
      assert.equal((await rpm(['-V', l.packageName])).stdout, '');
      const flavorJson = JSON.parse(sh(l.programs.pen!, ['--flavor', '--json'])) as Layout;
      assert.equal(flavorJson.prefix, newPrefix);
      assert.equal(flavorJson.pidFile, l.pidFile);
      configure(l);
      const r = await initScript(l, 'start');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      await waitFor('the relocated PID file', () => fs.existsSync(l.pidFile));
      assert.equal((await initScript(l, 'status')).code, 0);
      if (l.ports.service) await reachable(l);
      unconfigure([l]);
      await rpmOk(['-e', l.packageName]);
      assert.ok(!fs.existsSync(l.pidFile), 'erase stopped the daemon');
      // Only what the instance wrote is left under the prefix: its logs.
      const kept = fs.readdirSync(newPrefix, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => path.join(e.parentPath, e.name));
      assert.ok(kept.length > 0 && kept.every((f) => f.startsWith(`${l.logDir}/`)), kept.join(' '));
      assert.ok(!fs.existsSync(l.logrotateFile) && !fs.existsSync(`${l.logrotateFile}.rpmsave`), 'the logrotate file %post rewrote goes on erase');
      fs.rmSync(path.dirname(newPrefix), { recursive: true });
      assert.deepEqual(leftovers(), []);
    });

    it('the default flavor is not relocatable', async () => {
      const r = await rpm(['-i', '--prefix', '/usr/local/x', ...rpmsOf('tog')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not relocatable/);
    });
  });

  describe('four flavors at once', () => {
    it('tog, abc, acme and xyz run side by side, each on its own ports; doctor is clean', async () => {
      const flavors = ['tog', 'abc', 'acme', 'xyz'];
      await rpmOk(['-i', ...flavors.flatMap((f) => rpmsOf(f))]);
      const layouts = flavors.flatMap((f) => built.get(`${f}-1`)!.map((d) => d.layout));
      for (const l of layouts) configure(l);
      for (const l of layouts) {
        const r = await initScript(l, 'start');
        assert.equal(r.code, 0, `${l.packageName}: ${r.stdout}${r.stderr}`);
      }
      const ports = new Set<number>();
      for (const l of layouts) {
        assert.equal((await initScript(l, 'status')).code, 0, l.packageName);
        for (const p of Object.values(l.ports)) {
          assert.ok(!ports.has(p!), `port ${p} is used once`);
          ports.add(p!);
        }
        if (l.ports.service) await reachable(l);
      }
      const doctor = await run(process.execPath, [path.join(PROJECT_ROOT, 'bin/flavor'), 'doctor', ...flavors], {
        env: { ...process.env, HOME: rpmHome },
        timeoutMs: 30_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
      assert.doesNotMatch(doctor.stdout, /^(collision|warning):/m, doctor.stdout);
      assert.match(doctor.stdout, /^no collisions between tog, abc, acme, xyz$/m);

      // abc's isinit supervises an entry; erasing abc stops it with everything abc runs.
      const abcInit = layout(loadFlavor('abc'), 'init');
      const childPidFile = path.join(work, 'abc-entry.pid');
      fs.appendFileSync(abcInit.configFile, `web:sleeper:2:respawn:/bin/sh -c 'echo $$ > ${childPidFile}; exec sleep 1000'\n`);
      const switched = await run(abcInit.programs.isinit!, ['-c', abcInit.configFile, 'web', '2'], { timeoutMs: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(switched.code, 0, switched.stdout + switched.stderr);
      const child = await waitFor('the supervised entry', () => fs.existsSync(childPidFile) && Number(fs.readFileSync(childPidFile, 'utf8')));
      assert.ok(fs.existsSync(`/proc/${child}`));
      // An upgrade restarts isinit, which adopts the running entry: same process, new daemon.
      const daemonBefore = fs.readFileSync(abcInit.pidFile, 'utf8');
      const abcInit2 = built.get('abc-2')!.find((d) => d.layout.daemon === 'init')!.rpm;
      await rpmOk(['-U', abcInit2]);
      assert.notEqual(fs.readFileSync(abcInit.pidFile, 'utf8'), daemonBefore, 'the upgrade restarted isinit');
      assert.ok(fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('sleep'), 'the entry ran on through the upgrade');
      const abcLayouts = layouts.filter((l) => l.flavor === 'abc');
      const others = layouts.filter((l) => l.flavor !== 'abc');
      const othersPids = others.map((l) => fs.readFileSync(l.pidFile, 'utf8'));
      unconfigure(abcLayouts);
      const erased = await rpm(['-e', ...abcLayouts.map((l) => l.packageName)]);
      assert.equal(erased.code, 0, erased.stderr);
      await waitFor('the supervised entry to be gone', () => !fs.existsSync(`/proc/${child}/cmdline`) || fs.readFileSync(`/proc/${child}/cmdline`, 'utf8') === '');
      for (const l of abcLayouts) {
        assert.ok(!fs.existsSync(l.pidFile), `${l.packageName} stopped`);
        // What the instance wrote stays, and erase says where.
        assert.ok(fs.existsSync(l.consoleLog), `${l.consoleLog} kept`);
        assert.match(erased.stdout, new RegExp(`${l.packageName}: kept ${l.logDir} `));
      }
      removeUp(`${abcInit.configFile}.rpmsave`);
      // The other flavors ran on, untouched.
      for (const [i, l] of others.entries()) {
        assert.equal(fs.readFileSync(l.pidFile, 'utf8'), othersPids[i], `${l.packageName} kept its process`);
        assert.equal((await initScript(l, 'status')).code, 0, l.packageName);
        if (l.ports.service) await reachable(l);
        assert.equal((await rpm(['-V', '--noconfig', l.packageName])).stdout, '', `rpm -V ${l.packageName}`);
      }
      unconfigure(layouts);
      await rpmOk(['-e', ...others.map((l) => l.packageName)]);
      assert.deepEqual(leftovers(), []);
    });
  });

  describe('service user', () => {
    it('is created on install if missing, runs the daemon, and survives erase', async () => {
      const getent = () => run('getent', ['passwd', SERVICE_USER], { stdio: ['ignore', 'pipe', 'pipe'] });
      assert.notEqual((await getent()).code, 0, 'the user does not exist before install');
      const [d] = built.get(`${SERVICE_FLAVOR}-1`)!;
      const l = d!.layout;
      assert.equal(l.user, SERVICE_USER);
      await rpmOk(['-i', d!.rpm]);
      const entry = await getent();
      assert.equal(entry.code, 0, 'the user exists after install');
      const uid = entry.stdout.split(':')[2];
      configure(l);
      const r = await initScript(l, 'start');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const pid = Number(fs.readFileSync(l.pidFile, 'utf8'));
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'), 'the daemon dropped to the service user');
      assert.equal((await initScript(l, 'status')).code, 0);
      const verify = await rpm(['-V', '--noconfig', l.packageName]);
      assert.equal(verify.stdout, '', 'rpm -V is clean while it runs as its user');
      assert.equal(fs.statSync(l.logDir).uid, Number(uid), 'its log dir belongs to the user');
      unconfigure([l]);
      await rpmOk(['-e', l.packageName]);
      assert.equal((await getent()).code, 0, 'erase keeps the user');
      assert.deepEqual(leftovers().filter((p) => !ACCOUNT_FILES.has(p)), []);
    });
  });
  describe('the Debian path', () => {
    it('tog, abc and acme as .debs install together, start, serve, and dpkg --purge leaves only logs and data', async () => {
      const dpkg = (args: string[]) => run('dpkg', args, { timeoutMs: 120_000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      const daemons = ['tog', 'abc', 'acme'].flatMap((f) => built.get(`${f}-1`)!);
      // A container image's policy-rc.d (exit 101: "start nothing during an image build") would
      // deny invoke-rc.d every action; a host has none. Removed in the overlay only.
      fs.rmSync('/usr/sbin/policy-rc.d', { force: true });
      const installed = await dpkg(['-i', ...daemons.map((d) => d.deb)]);
      assert.equal(installed.code, 0, installed.stdout + installed.stderr);
      const layouts = daemons.map((d) => d.layout);
      for (const l of layouts) {
        const status = await run('dpkg-query', ['-W', '-f', '${Status}', l.packageName], { stdio: ['ignore', 'pipe', 'pipe'] });
        assert.equal(status.stdout, 'install ok installed', l.packageName);
        assert.ok(fs.existsSync(l.initScript) && fs.existsSync(l.pamFile), `${l.packageName}: init script and PAM file`);
        // Registered for boot by update-rc.d, under its own name only.
        if (hasUpdateRcD) assert.ok(fs.readdirSync('/etc/rc2.d').some((x) => new RegExp(`^S\\d\\d${l.packageName}$`).test(x)), `${l.packageName} start link`);
        assert.equal((await initScript(l, 'status')).code, 3, `${l.packageName} installed, not started`);
      }
      for (const l of layouts) configure(l);
      for (const l of layouts) {
        const r = await initScript(l, 'start');
        assert.equal(r.code, 0, `${l.initScript} start:\n${r.stdout}${r.stderr}`);
      }
      for (const l of layouts) {
        assert.equal((await initScript(l, 'status')).code, 0, l.packageName);
        if (l.ports.service) await reachable(l);
      }
      const pids = layouts.map((l) => Number(fs.readFileSync(l.pidFile, 'utf8')));
      // Purged while running: prerm stops every daemon (and all it supervises) first.
      const purged = await dpkg(['--purge', ...layouts.map((l) => l.packageName)]);
      assert.equal(purged.code, 0, purged.stdout + purged.stderr);
      for (const [i, l] of layouts.entries()) {
        assert.ok(!fs.existsSync(`/proc/${pids[i]}/cmdline`) || fs.readFileSync(`/proc/${pids[i]}/cmdline`, 'utf8') === '', `${l.packageName} stopped`);
        assert.ok(!fs.existsSync(l.configFile), `${l.configFile} purged`);
      }
      unconfigure(layouts);
      // dpkg's own records of what it did are the system's, not the packages'.
      const dpkgRecords = (p: string) => p.startsWith('/var/lib/dpkg/') || p === '/var/log/dpkg.log';
      // The service user made above stays (no erase removes a user).
      assert.deepEqual(leftovers().filter((p) => !dpkgRecords(p) && !ACCOUNT_FILES.has(p)), []);
    });
  });
}
