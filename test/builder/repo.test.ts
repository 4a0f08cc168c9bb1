// `flavor repo` publishes a flavor; apt-get and dnf install from it inside private mount and
// network namespaces whose /etc, /usr and /var are overlays over the host's (discarded after).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultPackageOptions } from '../../src/builder/package';
import { rpmPackager } from '../../src/builder/rpm';
import { PROJECT_ROOT, run, tempDir } from '../support/process';

const work = tempDir('repo');
const gnupg = path.join(work, 'gnupg');
const KEY = 'signer@flavorkit.test';
/**
 * apt-get that reads only the test's source list (the host's sources are not reachable here),
 * and fetches as root: its own user cannot enter the test's private directory.
 */
const APT = 'apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/etc/apt/flavorkit-test.d -o APT::Sandbox::User=root';

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (unshare, mount)';
  for (const tool of ['unshare', 'apt-get', 'dnf', 'createrepo_c', 'dpkg-scanpackages', 'apt-ftparchive', 'gpg']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  return null;
}

/** Runs a shell script in new mount and network namespaces, over overlays of /etc, /usr and /var. */
function inNamespace(script: string, timeoutMs = 240_000) {
  const ovl = path.join(work, `ovl-${Math.random().toString(36).slice(2)}`);
  const prologue = [
    'set -e',
    'mount --make-rprivate /',
    `mkdir -p ${ovl} && mount -t tmpfs tmpfs ${ovl}`,
    `for d in etc usr var; do mkdir -p ${ovl}/u/$d ${ovl}/w/$d; mount -t overlay overlay -o lowerdir=/$d,upperdir=${ovl}/u/$d,workdir=${ovl}/w/$d /$d; done`,
    'mount -t tmpfs tmpfs /run',
  ].join('\n');
  return run('unshare', ['--mount', '--net', '--fork', 'sh', '-c', `${prologue}\n${script}`], { stdio: ['ignore', 'pipe', 'pipe'], timeoutMs });
}

describe('package repositories', { skip: missing() ?? false }, () => {
  let repo: string;
  let host: string;
  before(async () => {
    fs.mkdirSync(gnupg, { recursive: true, mode: 0o700 });
    execFileSync('gpg', ['--homedir', gnupg, '--batch', '--passphrase', '', '--quick-generate-key', `flavorkit test signer <${KEY}>`, 'rsa2048', 'sign', '1d'], { stdio: 'ignore' });
    repo = path.join(work, 'published');
    const r = await run(path.join(PROJECT_ROOT, 'bin', 'flavor'), ['repo', '--sign-key', KEY, repo, 'abc'], {
      env: { ...process.env, GNUPGHOME: gnupg, FLAVORKIT_DIST_DIR: path.join(work, 'dist') },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The distribution's repository, as dnf sees it on an RPM host: what provides Node.
    host = path.join(work, 'host');
    const root = path.join(work, 'host-root');
    fs.mkdirSync(root, { recursive: true });
    const base = defaultPackageOptions();
    const major = process.versions.node.split('.')[0]!;
    await rpmPackager.package(
      {
        name: 'flavorkit-test-node', version: '1', release: '1', machine: null, summary: 'Test host', description: 'Provides what the packages need.',
        license: 'MIT', url: base.url, vendor: 'flavorkit', packager: base.packager, prefix: null, node: { engine: 0, abi: null }, requires: [],
        provides: [{ name: '/bin/sh' }, { name: 'nodejs(engine)', op: '=', version: process.versions.node }, { name: `nodejs(abi${major})`, op: '=', version: process.versions.modules }],
        conflicts: [], files: [], dirs: [], ghosts: [], changelog: [], root,
        intents: { createUser: null, relocation: null, service: { name: 'none', script: '/bin/true', unit: 'none.service', tmpfiles: 'none.conf', stopOnErase: 'x', restartOnUpgrade: 'x' }, removeOnErase: [], keepOnErase: [], runtimeDirs: [] },
      },
      host, path.join(work, 'host-work'), { sourceDateEpoch: null, signKey: null },
    );
    execFileSync('createrepo_c', ['--quiet', host]);
  });
  after(() => {
    execFileSync('gpgconf', ['--homedir', gnupg, '--kill', 'all'], { stdio: 'ignore' });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('the apt repository is signed, and apt-get installs abc-pen from it by name, then purges it', async () => {
    for (const f of ['Packages', 'Release', 'InRelease', 'Release.gpg']) assert.ok(fs.existsSync(path.join(repo, 'apt', f)), f);
    const r = await inNamespace(`
      mkdir /etc/apt/flavorkit-test.d
      echo "deb [signed-by=${repo}/flavorkit.gpg] file:${repo}/apt ./" > /etc/apt/flavorkit-test.d/abc.list
      ${APT} update
      DEBIAN_FRONTEND=noninteractive ${APT} -y install abc-pen
      dpkg-query -W -f='\${Status} \${Version}\\n' abc-pen
      test -x /usr/local/abc-pen/bin/pen && echo "pen installed"
      test -f /usr/lib/systemd/system/abc-pen.service && echo "unit installed"
      dpkg --purge abc-pen
      dpkg-query -W abc-pen 2>/dev/null || echo "abc-pen gone"
      test ! -e /usr/local/abc-pen/bin && echo "files gone"`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /install ok installed 0\.\d+\.\d+-1/);
    assert.match(r.stdout, /pen installed\nunit installed/);
    assert.match(r.stdout, /abc-pen gone\nfiles gone/);
  });

  it('an apt source whose signature does not check is refused', async () => {
    const r = await inNamespace(`
      mkdir /etc/apt/flavorkit-test.d
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] file:${repo}/apt ./" > /etc/apt/flavorkit-test.d/abc.list
      ${APT} update 2>&1
      DEBIAN_FRONTEND=noninteractive ${APT} -y install abc-pen 2>&1`);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /NO_PUBKEY|not signed|Unable to locate package/);
  });

  it('dnf installs abc-pen by name from the signed dnf repository, then removes it', async () => {
    assert.ok(fs.existsSync(path.join(repo, 'rpm', 'repodata', 'repomd.xml.asc')));
    const r = await inNamespace(`
      mkdir -p /etc/yum.repos.d.flavorkit
      cat > /etc/yum.repos.d.flavorkit/test.repo <<'REPO'
[flavorkit]
name=flavorkit abc
baseurl=file://${repo}/rpm
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://${repo}/RPM-GPG-KEY-flavorkit
[host]
name=host
baseurl=file://${host}
gpgcheck=0
REPO
      dnf -q -y --releasever=1 --setopt=reposdir=/etc/yum.repos.d.flavorkit --setopt=cachedir=/var/cache/dnf-flavorkit install abc-pen
      rpm -q abc-pen
      test -x /usr/local/abc-pen/bin/pen && echo "pen installed"
      dnf -q -y --releasever=1 --setopt=reposdir=/etc/yum.repos.d.flavorkit --setopt=cachedir=/var/cache/dnf-flavorkit remove abc-pen
      rpm -q abc-pen || echo "abc-pen gone"`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^abc-pen-0\.\d+\.\d+-1\.\w+$/m);
    assert.match(r.stdout, /pen installed/);
    assert.match(r.stdout, /abc-pen gone/);
  });
});
