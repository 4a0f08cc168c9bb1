import { execFileSync } from 'node:child_process';
import fs from 'fs-extra';
import path from 'node:path';
import type { Layout } from '../flavor';
import { BuildError, PROJECT_ROOT } from './project';
import { describePackage, ownedDirs, type PackageDescription, type PackagingOptions } from './description';
import { renderDaemonFiles, TEMPLATE_DIRS, type RenderedFile } from './templates';

/** What every package of a build shares: version, release, URL, packager, epoch, signing key. */
export interface PackageOptions extends PackagingOptions {
  version: string;
  release: string;
  url: string;
  packager: string;
}

const RELEASE_PATTERN = /^[A-Za-z0-9._+]+$/;
/** Paths reach package tools' control files and macros: letters, digits and a few marks only. */
export const SAFE_PATH = /^\/[A-Za-z0-9._\/-]+$/;
/** A value that goes on one header line unquoted. */
export const HEADER_TEXT = /^[A-Za-z0-9 ._:\/@<>()+,=-]+$/;

/**
 * Version and release of the packages: the project's version, release from $FLAVORKIT_RPM_RELEASE
 * (default 1), and SOURCE_DATE_EPOCH from the environment or else the last commit's time, so two
 * builds of the same tree give the same packages. $FLAVORKIT_URL, $FLAVORKIT_PACKAGER and
 * $FLAVORKIT_SIGN_KEY set the URL, the packager and the signing key.
 */
export function defaultPackageOptions(env: NodeJS.ProcessEnv = process.env): PackageOptions {
  const project = fs.readJsonSync(path.join(PROJECT_ROOT, 'package.json')) as { version: string; homepage: string };
  const release = env.FLAVORKIT_RPM_RELEASE || '1';
  if (!RELEASE_PATTERN.test(release)) {
    throw new BuildError(`FLAVORKIT_RPM_RELEASE=${release} is not a valid package release; use letters, digits, ".", "_" and "+"`);
  }
  let epoch = env.SOURCE_DATE_EPOCH || null;
  if (!epoch) {
    try {
      epoch = execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || null;
    } catch {
      epoch = null;
    }
  }
  if (epoch !== null && !/^\d+$/.test(epoch)) throw new BuildError(`SOURCE_DATE_EPOCH=${epoch} is not a number of seconds; unset it or give an integer`);
  const url = env.FLAVORKIT_URL || project.homepage;
  const packager = env.FLAVORKIT_PACKAGER || 'flavorkit <packages@flavorkit.invalid>';
  for (const [name, value] of [['FLAVORKIT_URL', url], ['FLAVORKIT_PACKAGER', packager]] as const) {
    if (!HEADER_TEXT.test(value)) throw new BuildError(`${name}=${value} holds characters a package header cannot take; use letters, digits, spaces and . _ : / @ < > ( ) + , = -`);
  }
  const signKey = env.FLAVORKIT_SIGN_KEY || null;
  if (signKey !== null && !/^[A-Za-z0-9@._<> -]+$/.test(signKey)) throw new BuildError(`FLAVORKIT_SIGN_KEY=${signKey} is not a GPG key id, fingerprint or user id`);
  return { version: project.version, release, sourceDateEpoch: epoch, url, packager, signKey };
}

/** The Node.js the addons in node_modules were built for: this one, which ran npm ci. */
export function buildNode(): { major: number; machine: string } {
  return { major: Number(process.versions.node.split('.')[0]), machine: process.arch };
}

/**
 * Renders one daemon's init script, unit, PAM file, configs and docs into its staging root, and
 * makes the directories the package owns (the run dir excepted: it is a ghost).
 */
export async function stageDaemonFiles(l: Layout, root: string, dirs = TEMPLATE_DIRS): Promise<RenderedFile[]> {
  if (!SAFE_PATH.test(root)) throw new BuildError(`${root}: packages cannot be built in a path with spaces or shell metacharacters; build from a plain path`);
  const rendered = renderDaemonFiles(l, dirs);
  for (const dir of ownedDirs(l, [])) if (dir !== l.runDir && !dir.startsWith(`${l.runDir}/`)) await fs.ensureDir(path.join(root, dir));
  for (const file of rendered) {
    const target = path.join(root, file.path);
    await fs.outputFile(target, file.content, { mode: file.mode });
    await fs.chmod(target, file.mode);
  }
  return rendered;
}

/** The description every packager reads, of a staged daemon. */
export function describeStaged(l: Layout, root: string, rendered: RenderedFile[], options: PackageOptions): PackageDescription {
  return describePackage(l, root, rendered, {
    version: options.version,
    release: options.release,
    buildTime: Number(options.sourceDateEpoch ?? Math.floor(Date.now() / 1000)),
    url: options.url,
    license: 'MIT',
    vendor: 'flavorkit',
    packager: options.packager,
    node: buildNode(),
  });
}
