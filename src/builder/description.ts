import fs from 'node:fs';
import path from 'node:path';
import { cacheFiles, DAEMON_SPECS, type Layout } from '../flavor';

/**
 * What a package is, in terms every format shares: the packagers (rpm today) turn this into their
 * own files and scripts, and know neither daemons nor layouts.
 */

/** Files the package installs, by what they are to the operator. */
export type FileKind = 'program' | 'library' | 'config' | 'service' | 'doc' | 'license';

/** A file rendered from the project's templates for a daemon's package. */
export interface RenderedFile {
  /** Installed path. */
  path: string;
  content: string;
  mode: number;
  kind: FileKind;
  /** Outside the prefix yet naming paths under it: rewritten after `rpm -i --prefix`. */
  namesPrefix?: true;
}

export interface PackageFile {
  /** Installed path. */
  path: string;
  kind: FileKind;
  mode: number;
  /**
   * Rewritten by a scriptlet after install (the prefix line of a relocated init script):
   * its content is not verified.
   */
  rewritten?: true;
}

/**
 * Directories the package owns, by lifetime: `package` ones come and go with it; `runtime` ones
 * live on a tmpfs and are made by the daemon (owned, not installed); `log` and `data` ones hold
 * what the operator's instance wrote, which erase keeps.
 */
export type DirLifetime = 'package' | 'runtime' | 'log' | 'data';

export interface PackageDir {
  path: string;
  lifetime: DirLifetime;
  /** Owner and group when not root (the flavor's service user). */
  user: string | null;
}

/** A versioned name, as every format writes dependencies: `name`, `name >= 20`. */
export interface Dependency {
  name: string;
  op?: '=' | '>=' | '<=';
  version?: string;
}

/** What the scriptlets must do; each format words them its own way. */
export interface ScriptIntents {
  /** Create this system user on install when it is missing; never delete it. */
  createUser: string | null;
  /** A relocatable package: its default prefix, and the files outside it whose paths follow --prefix. */
  relocation: { prefix: string; rewrite: string[] } | null;
  /** The service: registered for boot on install, deregistered on erase. */
  service: {
    name: string;
    script: string;
    /** The systemd unit of the same service, used where systemd runs, and its tmpfiles.d file. */
    unit: string;
    tmpfiles: string;
    /** Action of the script run before erase: stops the daemon and everything it supervises. */
    stopOnErase: string;
    /** Action run after an upgrade: a running daemon restarts on the new version, keeping what it supervises. */
    restartOnUpgrade: string;
  };
  /** Derived files the daemon rebuilds by itself, removed on erase so their directory can go. */
  removeOnErase: string[];
  /** Directories whose content (logs, data) erase keeps, and reports when not empty. */
  keepOnErase: string[];
  /** Run directories the daemon or tmpfiles.d made: emptied and removed on erase. */
  runtimeDirs: string[];
}

export interface ChangelogEntry {
  /** Seconds since the epoch. */
  time: number;
  author: string;
  version: string;
  text: string;
}

export interface PackageDescription {
  name: string;
  version: string;
  release: string;
  /** Node's name of the CPU the compiled addons were built for; null: no compiled file. */
  machine: string | null;
  summary: string;
  /** Paragraph text; packagers wrap it. */
  description: string;
  license: string;
  url: string;
  vendor: string;
  packager: string;
  /** Relocatable packages' default prefix. */
  prefix: string | null;
  /**
   * The Node.js the package runs on: at least major `engine`; with compiled addons, exactly the
   * major `abi` they were built for (one NODE_MODULE_VERSION per major). Each format names it its way.
   */
  node: { engine: number; abi: number | null };
  requires: Dependency[];
  provides: Dependency[];
  conflicts: Dependency[];
  files: PackageFile[];
  dirs: PackageDir[];
  /** Files a running instance makes in its runtime directories: owned, never installed, gone on erase. */
  ghosts: string[];
  intents: ScriptIntents;
  changelog: ChangelogEntry[];
  /** Where the files lie before packaging, at their installed paths below it. */
  root: string;
}

export interface DescribeOptions {
  version: string;
  release: string;
  /** Seconds since the epoch of the build (the changelog entry's date). */
  buildTime: number;
  url: string;
  license: string;
  vendor: string;
  packager: string;
  /** The Node.js the compiled addons were built for. */
  node: { major: number; machine: string };
}

const isUnder = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/**
 * The directories the package owns, so that `rpm -e` removes them: everything under the prefix
 * of a relocatable package; for the default layout only the package's own directories (never
 * /usr/bin, /etc/init.d or /etc/pam.d, which the system owns).
 */
export function ownedDirs(l: Layout, stagedDirs: string[]): string[] {
  const layoutDirs = [l.binDir, l.libDir, l.configDir, l.runDir, l.logDir, l.dataDir];
  const bases = l.relocatable ? [l.prefix] : [l.libDir, l.configDir, l.runDir, l.logDir, l.dataDir, docDir(l)];
  const owned = new Set<string>();
  for (const dir of [...layoutDirs, ...stagedDirs]) {
    const base = bases.find((b) => isUnder(dir, b));
    if (!base) continue;
    for (let d = dir; isUnder(d, base); d = path.posix.dirname(d)) owned.add(d);
  }
  return [...owned].sort();
}

/** The package's documentation directory: README and license. */
export function docDir(l: Layout): string {
  return path.posix.join(l.prefix, 'share', 'doc', l.packageName);
}

/**
 * The systemd files of a daemon, named after its init script (so systemd's SysV compatibility
 * sees the unit replace the script): the unit, its tmpfiles.d entry, and its sysusers.d entry
 * when the flavor names a user.
 */
export function systemdFiles(l: Layout): { unit: string; tmpfiles: string; sysusers: string | null } {
  const name = path.posix.basename(l.initScript);
  return {
    unit: `/usr/lib/systemd/system/${name}.service`,
    tmpfiles: `/usr/lib/tmpfiles.d/${name}.conf`,
    sysusers: l.user ? `/usr/lib/sysusers.d/${name}.conf` : null,
  };
}

/**
 * What a running instance writes in its run dir: PID file, start lock, control socket, and the
 * daemon's extra run-dir files. Logs and data are not here: they are the operator's.
 */
export function runtimeFiles(l: Layout): string[] {
  const inRunDir = Object.values(l.files).filter((f) => path.posix.dirname(f) === l.runDir);
  return [...new Set([l.pidFile, l.startLock, l.controlSocket, ...inRunDir])].sort();
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

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function isCompiled(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    return fs.readSync(fd, head, 0, 4, 0) === 4 && head.equals(ELF_MAGIC);
  } finally {
    fs.closeSync(fd);
  }
}

/** What the package's scriptlets must do, from the layout alone. */
export function scriptIntents(l: Layout): ScriptIntents {
  return {
    createUser: l.user,
    relocation: l.relocatable ? { prefix: l.prefix, rewrite: [l.initScript, l.logrotateFile, systemdFiles(l).unit, systemdFiles(l).tmpfiles] } : null,
    service: { name: l.packageName, script: l.initScript, unit: path.posix.basename(systemdFiles(l).unit), tmpfiles: path.posix.basename(systemdFiles(l).tmpfiles), stopOnErase: 'stop-all', restartOnUpgrade: 'try-restart' },
    removeOnErase: cacheFiles(l),
    keepOnErase: [l.logDir, l.dataDir],
    runtimeDirs: [l.runDir],
  };
}

/**
 * The description of one daemon's package, from its layout and its staging root (bundles, addons
 * and rendered files already in place). Built once; every packager reads it.
 */
export function describePackage(l: Layout, root: string, rendered: RenderedFile[], options: DescribeOptions): PackageDescription {
  const staged = walk(root);
  const files: PackageFile[] = staged.files.map((file) => {
    const r = rendered.find((x) => x.path === file);
    const kind: FileKind = r ? r.kind : isUnder(file, l.binDir) ? 'program' : 'library';
    const mode = fs.statSync(path.join(root, file)).mode & 0o7777;
    return { path: file, kind, mode, ...(r?.namesPrefix ? { rewritten: true as const } : {}) };
  });
  const compiled = staged.files.some((f) => isCompiled(path.join(root, f)));
  const lifetimeOf = (d: string): DirLifetime => {
    if (isUnder(d, l.runDir)) return 'runtime';
    if (isUnder(d, l.logDir)) return 'log';
    if (isUnder(d, l.dataDir)) return 'data';
    return 'package';
  };
  const dirs: PackageDir[] = ownedDirs(l, staged.dirs).map((d) => {
    const lifetime = lifetimeOf(d);
    return { path: d, lifetime, user: l.user && (d === l.logDir || d === l.dataDir) ? l.user : null };
  });

  const spec = DAEMON_SPECS[l.daemon];
  const program = Object.keys(l.programs)[0]!;
  // The default flavor installs the plain names a distribution's own package of the same program
  // uses (/usr/bin/pen): it replaces that package, so it says so.
  const replaced = l.isDefault ? spec.distributionPackage : undefined;

  return {
    name: l.packageName,
    version: options.version,
    release: options.release,
    machine: compiled ? options.node.machine : null,
    summary: `${spec.summary} (flavor ${l.flavor})`,
    description:
      `${spec.summary}: ${program} and its tools built for flavor ${l.flavor}, with this flavor's own ` +
      `paths, ports, PID file, control socket, log identity and PAM service, so that it runs beside ` +
      `the other flavors' instances on one host. Installed under ${l.prefix}; configured in ${l.configDir}.`,
    license: options.license,
    url: options.url,
    vendor: options.vendor,
    packager: options.packager,
    prefix: l.relocatable ? l.prefix : null,
    node: { engine: options.node.major, abi: compiled ? options.node.major : null },
    requires: [],
    provides: replaced ? [{ name: replaced.name, op: '=', version: replaced.version }] : [],
    conflicts: replaced ? [{ name: replaced.name }] : [],
    files,
    dirs,
    ghosts: runtimeFiles(l),
    intents: scriptIntents(l),
    changelog: [{ time: options.buildTime, author: options.packager, version: `${options.version}-${options.release}`, text: `Built for flavor ${l.flavor}.` }],
    root,
  };
}

/** What every packager is given besides the description. */
export interface PackagingOptions {
  /** Seconds since the epoch; fixes build time and file times for reproducible packages. */
  sourceDateEpoch: string | null;
  /** GPG key (id, fingerprint or user id) that signs every package; null: unsigned. */
  signKey: string | null;
}

/** One package format: turns a description into a file with the format's conventional name. */
export interface Packager {
  format: string;
  fileName(d: PackageDescription): string;
  package(d: PackageDescription, outDir: string, workDir: string, options: PackagingOptions): Promise<string>;
}
