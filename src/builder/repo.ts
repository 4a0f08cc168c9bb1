import { execFile } from 'node:child_process';
import fs from 'fs-extra';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from './project';
import type { FlavorBuild } from './build';

const run = promisify(execFile);

export interface Repositories {
  /** A flat apt repository: `deb [signed-by=<key>] file:<apt> ./`. */
  apt: string;
  /** A dnf/yum repository: `baseurl=file://<rpm>`. */
  rpm: string;
  /** The public key that checks both, when signed. */
  key: string | null;
}

async function tool(cmd: string, args: string[], cwd: string, what: string): Promise<string> {
  try {
    return (await run(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } })).stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new BuildError(`${cmd} is missing; install it (${what}) to publish repositories`);
    throw new BuildError(`${cmd} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/**
 * Publishes built flavors' packages into <dir>/apt (Packages, Release, and InRelease and
 * Release.gpg when signed) and <dir>/rpm (repodata by createrepo_c, repomd.xml.asc when signed).
 * Written beside and moved in whole, so a failure leaves any previous repository as it was.
 */
export async function publishRepositories(builds: FlavorBuild[], dir: string, signKey: string | null): Promise<Repositories> {
  const target = path.resolve(dir);
  const staging = `${target}.publishing-${process.pid}`;
  await fs.remove(staging);
  try {
    const apt = path.join(staging, 'apt');
    const rpm = path.join(staging, 'rpm');
    await fs.ensureDir(apt);
    await fs.ensureDir(rpm);
    for (const d of builds.flatMap((b) => b.daemons)) {
      for (const p of d.packages) {
        if (p.format === 'deb') await fs.copy(p.file, path.join(apt, path.basename(p.file)));
        if (p.format === 'rpm') await fs.copy(p.file, path.join(rpm, path.basename(p.file)));
      }
    }
    const packages = await tool('dpkg-scanpackages', ['--multiversion', '.'], apt, 'Debian package dpkg-dev');
    await fs.writeFile(path.join(apt, 'Packages'), packages);
    await tool('gzip', ['-9nk', 'Packages'], apt, 'gzip');
    const release = await tool('apt-ftparchive', ['-o', 'APT::FTPArchive::Release::Origin=flavorkit', '-o', `APT::FTPArchive::Release::Label=${builds.map((b) => b.flavor.name).join(' ')}`, 'release', '.'], apt, 'Debian package apt-utils');
    await fs.writeFile(path.join(apt, 'Release'), release);
    await tool('createrepo_c', ['--quiet', '.'], rpm, 'Debian package createrepo-c');
    let key: string | null = null;
    if (signKey) {
      const gpg = (args: string[], cwd: string) => tool('gpg', ['--batch', '--yes', '--local-user', signKey, ...args], cwd, 'Debian package gnupg');
      await gpg(['--clearsign', '--output', 'InRelease', 'Release'], apt);
      await gpg(['--armor', '--detach-sign', '--output', 'Release.gpg', 'Release'], apt);
      await gpg(['--armor', '--detach-sign', '--output', 'repomd.xml.asc', 'repomd.xml'], path.join(rpm, 'repodata'));
      await tool('gpg', ['--batch', '--yes', '--export', '--output', path.join(staging, 'flavorkit.gpg'), signKey], staging, 'Debian package gnupg');
      await tool('gpg', ['--batch', '--yes', '--armor', '--export', '--output', path.join(staging, 'RPM-GPG-KEY-flavorkit'), signKey], staging, 'Debian package gnupg');
      key = path.join(target, 'flavorkit.gpg');
    }
    await fs.remove(target);
    await fs.move(staging, target);
    return { apt: path.join(target, 'apt'), rpm: path.join(target, 'rpm'), key };
  } catch (err) {
    await fs.remove(staging);
    throw err;
  }
}
