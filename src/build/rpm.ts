import { execFileSync } from 'node:child_process';
import fs from 'fs-extra';
import path from 'node:path';
import type { Layout } from '../flavor';
import { BuildError, PROJECT_ROOT } from './bundle';
import { renderDaemonFiles, renderScriptlets, TEMPLATE_DIRS, type RenderedFile } from './templates';

// rpm-builder 1.2.1 ships no types; this is the part of its interface used here.
interface RpmFileEntry {
  cwd: string;
  src: string;
  dest: string;
  directive?: string;
}
interface RpmBuilderOptions {
  name: string;
  version: string;
  release: string;
  buildArch: string;
  summary: string;
  description: string;
  license: string;
  vendor: string;
  group: string;
  prefix?: string;
  requires: string[];
  autoReq: boolean;
  autoProv: boolean;
  files: RpmFileEntry[];
  preInstallScript: string[];
  postInstallScript: string[];
  preUninstallScript: string[];
  postUninstallScript: string[];
  tempDir: string;
  rpmDest: string;
  keepTemp: boolean;
  verbose: boolean;
  execOpts: { env: NodeJS.ProcessEnv; maxBuffer: number };
}
type RpmBuilder = (options: RpmBuilderOptions, cb: (err: Error | null, rpm: string | null) => void) => void;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const buildRpm: RpmBuilder = require('rpm-builder');

export interface PackageOptions {
  version: string;
  release: string;
  /** Seconds since the epoch; fixes build time and file times for reproducible packages. */
  sourceDateEpoch: string | null;
}

/** rpm-builder runs rpmbuild through an unquoted shell string: its paths must hold no metacharacter. */
const RPMBUILD_SAFE_PATH = /^\/[A-Za-z0-9._\/-]+$/;
const RELEASE_PATTERN = /^[A-Za-z0-9._+]+$/;

/**
 * Version and release of the packages: the project's version, release from $FLAVORKIT_RPM_RELEASE
 * (default 1), and SOURCE_DATE_EPOCH from the environment or else the last commit's time, so two
 * builds of the same tree give the same packages.
 */
export function defaultPackageOptions(env: NodeJS.ProcessEnv = process.env): PackageOptions {
  const version = (fs.readJsonSync(path.join(PROJECT_ROOT, 'package.json')) as { version: string }).version;
  const release = env.FLAVORKIT_RPM_RELEASE || '1';
  if (!RELEASE_PATTERN.test(release)) {
    throw new BuildError(`FLAVORKIT_RPM_RELEASE=${release} is not a valid RPM release; use letters, digits, ".", "_" and "+"`);
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
  return { version, release, sourceDateEpoch: epoch };
}

/** Macros that make rpmbuild's output depend on the inputs only, and keep it from adding paths. */
export function rpmMacros(): string {
  return [
    '%_buildhost flavorkit.build',
    '%use_source_date_epoch_as_buildtime 1',
    '%clamp_mtime_to_source_date_epoch 1',
    '%source_date_epoch_from_changelog 0',
    // Native addons are ELF files: no /usr/lib/.build-id links (every flavor would ship the same
    // paths), no debuginfo, no stripping, and no refusal of binaries in a noarch package.
    '%_build_id_links none',
    '%debug_package %{nil}',
    '%__os_install_post %{nil}',
    '%_binaries_in_noarch_packages_terminate_build 0',
    '',
  ].join('\n');
}

const isUnder = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/**
 * The directories the package owns, so that `rpm -e` removes them: everything under the prefix
 * of a relocatable package; for the default layout only the package's own directories (never
 * /usr/bin, /etc/init.d or /etc/pam.d, which the system owns).
 */
export function ownedDirs(l: Layout, stagedDirs: string[]): string[] {
  const layoutDirs = [l.binDir, l.libDir, l.configDir, l.runDir, l.logDir, l.dataDir];
  const bases = l.relocatable ? [l.prefix] : [l.libDir, l.configDir, l.runDir, l.logDir, l.dataDir];
  const owned = new Set<string>();
  for (const dir of [...layoutDirs, ...stagedDirs]) {
    const base = bases.find((b) => isUnder(dir, b));
    if (!base) continue;
    for (let d = dir; isUnder(d, base); d = path.posix.dirname(d)) owned.add(d);
  }
  return [...owned].sort();
}

function walk(root: string, rel = ''): { files: string[]; dirs: string[] } {
  const out = { files: [] as string[], dirs: [] as string[] };
  for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = path.posix.join(rel, entry.name);
    if (entry.isDirectory()) {
      out.dirs.push(`/${child}`);
      const inner = walk(root, child);
      out.files.push(...inner.files);
      out.dirs.push(...inner.dirs);
    } else {
      out.files.push(`/${child}`);
    }
  }
  return out;
}

export interface PackagedDaemon {
  rpm: string;
  rendered: RenderedFile[];
  files: string[];
  dirs: string[];
  ghosts: string[];
}

/**
 * What a running instance writes beside its package's files and that goes with the package:
 * PID file, start lock, control socket, console log, and the daemon's extra files in its run dir.
 * The daemon's own log files are too; data kept in the data dir is the operator's and stays.
 */
export function runtimeFiles(l: Layout): string[] {
  const inRunDir = Object.values(l.files).filter((f) => path.posix.dirname(f) === l.runDir);
  // The daemon's own log files (access log, request log) go with the package; a name without a
  // dot in the log dir is a directory of per-entry logs, which stays with the operator's data.
  const ownLogs = Object.values(l.files).filter((f) => path.posix.dirname(f) === l.logDir && path.posix.basename(f).includes('.'));
  return [...new Set([l.pidFile, l.startLock, l.controlSocket, l.consoleLog, ...inRunDir, ...ownLogs])].sort();
}

/**
 * Renders one daemon's init script, PAM file and default configs into its staging root, then
 * builds its RPM from that root with rpm-builder. Knows no daemon: everything comes from the
 * layout and the templates.
 */
export async function packageDaemon(
  l: Layout,
  root: string,
  outDir: string,
  workDir: string,
  options: PackageOptions,
  dirs = TEMPLATE_DIRS,
): Promise<PackagedDaemon> {
  for (const p of [root, outDir, workDir]) {
    if (!RPMBUILD_SAFE_PATH.test(p)) throw new BuildError(`${p}: rpmbuild cannot work in a path with spaces or shell metacharacters; build from a plain path`);
  }
  const rendered = renderDaemonFiles(l, dirs);
  for (const file of rendered) {
    const target = path.join(root, file.path);
    await fs.outputFile(target, file.content, { mode: file.mode });
    await fs.chmod(target, file.mode);
  }
  const staged = walk(root);
  const owned = ownedDirs(l, staged.dirs).filter((d) => d !== l.runDir);
  for (const dir of owned) await fs.ensureDir(path.join(root, dir));
  // The run dir and what a running instance writes there are %ghost: owned (so `rpm -qf` names
  // the package and `rpm -e` removes them) but not installed, so a run dir on a tmpfs that is
  // gone after a reboot does not fail `rpm -V`. rpm-builder lists only files it finds, so empty
  // placeholders stand in for them while rpmbuild runs.
  const ghosts = runtimeFiles(l);
  await fs.ensureDir(path.join(root, l.runDir));
  for (const file of ghosts) await fs.outputFile(path.join(root, file), '');

  const directiveOf = (file: string): string | undefined => {
    const r = rendered.find((x) => x.path === file);
    if (r?.kind === 'config') return 'config(noreplace)';
    // %post rewrites the prefix line of a relocated package's init script.
    if (r?.kind === 'initScript' && l.relocatable) return 'verify(not md5 size mtime)';
    return undefined;
  };
  // Directives are pasted into the spec after "%": rpm-builder accepts those starting with attr/verify/dir/config.
  const ownDir = (d: string) => (l.user && (d === l.logDir || d === l.dataDir) ? `attr(0755,${l.user},${l.user}) %dir` : 'dir');
  const entry = (p: string, directive?: string): RpmFileEntry => ({ cwd: root, src: p.slice(1), dest: '/', ...(directive ? { directive } : {}) });
  const files = [
    ...staged.files.map((f) => entry(f, directiveOf(f))),
    ...owned.map((d) => entry(d, ownDir(d))),
    entry(l.runDir, 'verify(not mode user group mtime) %ghost %dir'),
    ...ghosts.map((f) => entry(f, 'verify(not md5 size mtime mode user group) %ghost')),
  ];

  const home = path.join(workDir, 'home');
  await fs.outputFile(path.join(home, '.rpmmacros'), `%_tmppath ${path.join(workDir, 'tmp')}\n${rpmMacros()}`);
  await fs.ensureDir(path.join(workDir, 'tmp'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, LC_ALL: 'C', TZ: 'UTC' };
  if (options.sourceDateEpoch) env.SOURCE_DATE_EPOCH = options.sourceDateEpoch;

  const scripts = renderScriptlets(l, dirs);
  const lines = (s: string) => s.trimEnd().split('\n');
  const rpmOptions: RpmBuilderOptions = {
    name: l.packageName,
    version: options.version,
    release: options.release,
    buildArch: 'noarch',
    summary: `${Object.keys(l.programs)[0]} of flavor ${l.flavor}`,
    description: `${l.packageName}: the ${l.daemon} daemon built for flavor ${l.flavor}, installed under ${l.prefix}.`,
    license: 'MIT',
    vendor: 'flavorkit',
    group: 'System Environment/Daemons',
    ...(l.relocatable ? { prefix: l.prefix } : {}),
    requires: ['nodejs'],
    // Automatic dependencies would require /usr/bin/env and the C library for the addons;
    // the real requirement is nodejs.
    autoReq: false,
    autoProv: false,
    files,
    preInstallScript: lines(scripts.pre),
    postInstallScript: lines(scripts.post),
    preUninstallScript: lines(scripts.preun),
    postUninstallScript: lines(scripts.postun),
    tempDir: path.join(workDir, 'rpmbuild'),
    rpmDest: outDir,
    keepTemp: false,
    verbose: false,
    execOpts: { env, maxBuffer: 16 * 1024 * 1024 },
  };
  const rpm = await new Promise<string>((resolve, reject) => {
    buildRpm(rpmOptions, (err, file) => {
      if (err) reject(new BuildError(`rpmbuild failed for ${l.packageName}: ${err.message.trim()}`));
      else if (!file) reject(new BuildError(`rpmbuild wrote no package for ${l.packageName}`));
      else resolve(file);
    });
  });
  await fs.remove(workDir);
  for (const file of ghosts) await fs.remove(path.join(root, file));
  await fs.remove(path.join(root, l.runDir));
  return { rpm, rendered, files: staged.files, dirs: [...owned, l.runDir].sort(), ghosts };
}
