import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'fs-extra';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { BuildError } from './project';
import type { Dependency, PackageDescription, Packager } from './description';
import { HEADER_TEXT, SAFE_PATH } from './package';
import { renderFormatScripts } from './scriptlets';
import { TEMPLATE_DIRS } from './templates';

const run = promisify(execFile);

/** Debian's name of the CPU Node calls `machine`. */
export function debArch(machine: string | null): string {
  if (machine === null) return 'all';
  const arch = ({ x64: 'amd64', arm64: 'arm64', ia32: 'i386', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[machine];
  if (!arch) throw new BuildError(`no Debian architecture is known for Node's "${machine}"; build on x64, arm64, ia32, arm, ppc64, s390x or riscv64`);
  return arch;
}

const relation = (d: Dependency) => (d.op ? `${d.name} (${({ '=': '=', '>=': '>=', '<=': '<=' })[d.op]} ${d.version})` : d.name);

/**
 * Node as Debian-family distributions package it: `nodejs`; compiled addons need the major they
 * were built for, as no nodejs package there provides an ABI name.
 */
function debDepends(d: PackageDescription): string[] {
  const node = d.node.abi === null ? [`nodejs (>= ${d.node.engine})`] : [`nodejs (>= ${d.node.abi})`, `nodejs (<< ${d.node.abi + 1})`];
  // Compiled addons link the C library (RPM distributions' node brings it; Debian names it).
  const libc = d.machine === null ? [] : ['libc6'];
  return [...node, ...libc, ...d.requires.map(relation)];
}

function wrapDescription(text: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > 78) {
      lines.push(` ${line}`);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(` ${line}`);
  return lines;
}

/** An ELF shared object (e_type ET_DYN), such as a compiled Node addon. */
function isSharedObject(file: string): boolean {
  const head = Buffer.alloc(18);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, head, 0, 18, 0) < 18) return false;
  } finally {
    fs.closeSync(fd);
  }
  return head.readUInt32BE(0) === 0x7f454c46 && head.readUInt16LE(16) === 3;
}

function installedSizeKiB(root: string): number {
  let bytes = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else bytes += fs.statSync(p).size;
    }
  };
  walk(root);
  return Math.ceil(bytes / 1024);
}

/** The control file: what dpkg and apt read of the package. */
export function renderControl(d: PackageDescription, installedSize: number): string {
  for (const [name, value] of [['summary', d.summary], ['url', d.url], ['packager', d.packager]]) {
    if (!HEADER_TEXT.test(value!)) throw new BuildError(`${d.name}: ${name} "${value}" holds characters a control field cannot take`);
  }
  return [
    `Package: ${d.name}`,
    `Version: ${d.version}-${d.release}`,
    `Architecture: ${debArch(d.machine)}`,
    `Maintainer: ${d.packager}`,
    `Installed-Size: ${installedSize}`,
    `Depends: ${debDepends(d).join(', ')}`,
    // The default flavor takes the distribution's package's plain paths: it replaces that package.
    ...(d.conflicts.length ? [`Conflicts: ${d.conflicts.map(relation).join(', ')}`, `Replaces: ${d.conflicts.map(relation).join(', ')}`] : []),
    ...(d.provides.length ? [`Provides: ${d.provides.map(relation).join(', ')}`] : []),
    'Section: net',
    'Priority: optional',
    `Homepage: ${d.url}`,
    `Description: ${d.summary}`,
    ...wrapDescription(d.description),
    '',
  ].join('\n');
}

/** Debian's copyright file, machine-readable, from the license the package ships. */
function copyright(d: PackageDescription, licenseText: string): string {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    `Upstream-Name: ${d.name}`,
    `Source: ${d.url}`,
    '',
    'Files: *',
    `Copyright: ${d.vendor}`,
    `License: ${d.license}`,
    ...licenseText.trimEnd().split('\n').map((l) => (l.trim() ? ` ${l}` : ' .')),
    '',
  ].join('\n');
}

function changelog(d: PackageDescription): string {
  return d.changelog
    .map((c) => `${d.name} (${c.version}) unstable; urgency=low\n\n  * ${c.text}\n\n -- ${c.author}  ${new Date(c.time * 1000).toUTCString().replace('GMT', '+0000')}\n`)
    .join('\n');
}

export const debPackager: Packager = {
  format: 'deb',
  fileName: (d) => `${d.name}_${d.version}-${d.release}_${debArch(d.machine)}.deb`,
  async package(d, outDir, workDir, options) {
    for (const p of [d.root, outDir, workDir]) {
      if (!SAFE_PATH.test(p)) throw new BuildError(`${p}: dpkg-deb cannot work in a path with spaces or shell metacharacters; build from a plain path`);
    }
    const tree = path.join(workDir, 'tree');
    await fs.remove(tree);
    await fs.ensureDir(workDir);
    // Hard links: the staged files are not copied, only named again.
    await run('cp', ['-al', d.root, tree]);
    // Debian's rule: shared objects are not executable. Copied, so the staged file keeps its mode.
    for (const f of d.files) {
      const staged = path.join(tree, f.path);
      if (f.mode & 0o111 && isSharedObject(staged)) {
        await fs.remove(staged);
        await fs.copy(path.join(d.root, f.path), staged);
        await fs.chmod(staged, f.mode & ~0o111);
      }
    }
    const docDir = path.join(tree, 'usr', 'share', 'doc', d.name);
    const license = d.files.find((f) => f.kind === 'license');
    await fs.outputFile(path.join(docDir, 'copyright'), copyright(d, license ? await fs.readFile(path.join(d.root, license.path), 'utf8') : `${d.license}\n`), { mode: 0o644 });
    const epoch = options.sourceDateEpoch ? Number(options.sourceDateEpoch) : null;
    await fs.outputFile(path.join(docDir, 'changelog.Debian.gz'), gzipSync(changelog(d), { level: 9 }), { mode: 0o644 });
    const overrides = path.join(TEMPLATE_DIRS.packaging, 'deb', 'lintian-overrides');
    if (await fs.pathExists(overrides)) {
      const text = (await fs.readFile(overrides, 'utf8')).split('\n').map((l) => (l && !l.startsWith('#') ? `${d.name}: ${l}` : l)).join('\n');
      await fs.outputFile(path.join(tree, 'usr', 'share', 'lintian', 'overrides', d.name), text, { mode: 0o644 });
    }

    const control = path.join(tree, 'DEBIAN');
    await fs.ensureDir(control);
    await fs.writeFile(path.join(control, 'control'), renderControl(d, installedSizeKiB(tree)));
    // Debian's rule: every file under /etc is a conffile (the init script and logrotate file too).
    const conffiles = d.files.filter((f) => f.kind === 'config' || f.path.startsWith('/etc/')).map((f) => f.path);
    if (conffiles.length) await fs.writeFile(path.join(control, 'conffiles'), `${conffiles.join('\n')}\n`);
    const scripts = renderFormatScripts(d, 'deb', ['preinst', 'postinst', 'prerm', 'postrm'] as const);
    for (const [name, text] of Object.entries(scripts)) {
      // A script with nothing to do is left out (dpkg runs none).
      const doesSomething = text.split('\n').some((l) => l.trim() && !l.trim().startsWith('#') && !/^(set -e|exit 0)$/.test(l.trim()));
      if (doesSomething) await fs.writeFile(path.join(control, name), text, { mode: 0o755 });
    }
    const sums: string[] = [];
    const walk = async (dir: string) => {
      for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(dir, e.name);
        if (p === control) continue;
        if (e.isDirectory()) await walk(p);
        else sums.push(`${createHash('md5').update(await fs.readFile(p)).digest('hex')}  ${path.relative(tree, p)}`);
      }
    };
    await walk(tree);
    await fs.writeFile(path.join(control, 'md5sums'), `${sums.join('\n')}\n`, { mode: 0o644 });
    // dpkg-deb refuses group- or world-writable control directories; umask may have made one.
    await run('chmod', ['-R', 'go-w', tree]);

    const file = path.join(outDir, this.fileName(d));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LC_ALL: 'C', TZ: 'UTC' };
    if (epoch !== null) env.SOURCE_DATE_EPOCH = String(epoch);
    try {
      // gzip: every dpkg reads it, and it packs the addons ~8x faster than xz for a few KiB more.
      await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z9', '--build', tree, file], { env, maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new BuildError(`dpkg-deb failed for ${d.name}: ${(e.stderr || e.message).trim()}`);
    }
    return file;
  },
};
