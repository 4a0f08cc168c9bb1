import { execFile } from 'node:child_process';
import fs from 'fs-extra';
import path from 'node:path';
import { promisify } from 'node:util';
import { BuildError } from './project';
import type { Dependency, PackageDescription, Packager } from './description';
import { HEADER_TEXT, SAFE_PATH } from './package';
import { renderFormatScripts, type Scripted } from './scriptlets';
import { TEMPLATE_DIRS } from './templates';

const run = promisify(execFile);

/** Macros that make rpmbuild's output depend on the inputs only, and keep it from adding paths. */
export function rpmMacros(): string {
  return [
    '%_buildhost flavorkit.build',
    '%use_source_date_epoch_as_buildtime 1',
    '%clamp_mtime_to_source_date_epoch 1',
    '%source_date_epoch_from_changelog 0',
    // Native addons are ELF files: no /usr/lib/.build-id links (every flavor would ship the same
    // paths), no debuginfo, and no brp scripts (the addons are stripped when copied).
    '%_build_id_links none',
    '%debug_package %{nil}',
    '%__os_install_post %{nil}',
    '%_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
    '',
  ].join('\n');
}

/** RPM's name of the CPU Node calls `machine`. */
export function rpmArch(machine: string | null): string {
  if (machine === null) return 'noarch';
  const arch = ({ x64: 'x86_64', arm64: 'aarch64', ia32: 'i686', arm: 'armv7hl', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[machine];
  if (!arch) throw new BuildError(`no RPM architecture is known for Node's "${machine}"; build on x64, arm64, ia32, arm, ppc64, s390x or riscv64`);
  return arch;
}

const dependency = (d: Dependency) => (d.op ? `${d.name} ${d.op} ${d.version}` : d.name);

function wrap(text: string, width = 79): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** The RPM scriptlets (%pre, %post, %preun, %postun), from packaging/rpm/. */
export function renderScriptlets(d: Scripted, dirs = TEMPLATE_DIRS): Record<'pre' | 'post' | 'preun' | 'postun', string> {
  return renderFormatScripts(d, 'rpm', ['pre', 'post', 'preun', 'postun'] as const, dirs);
}

/** The %files line of each file and directory: what rpm installs, verifies, keeps and removes. */
function fileList(d: PackageDescription): string[] {
  const out = ['%defattr(-,root,root,-)'];
  for (const dir of d.dirs) {
    const attr = dir.user ? `%attr(0755,${dir.user},${dir.user}) ` : '';
    // A run dir lives on a tmpfs and is made by the daemon: owned, not installed, not verified.
    if (dir.lifetime === 'runtime') out.push(`%ghost %dir %verify(not mode user group mtime) ${attr || '%attr(0755,root,root) '}${dir.path}`);
    else out.push(`%dir ${attr}${dir.path}`);
  }
  for (const f of d.files) {
    const directive = { config: '%config(noreplace) ', doc: '%doc ', license: '%license ', service: '', program: '', library: '' }[f.kind];
    out.push(`${directive}${f.rewritten ? '%verify(not md5 size mtime) ' : ''}${f.path}`);
  }
  // Never installed: the attributes only describe the file the daemon will make.
  for (const g of d.ghosts) out.push(`%ghost %verify(not md5 size mtime mode user group) %attr(0644,root,root) ${g}`);
  return out;
}

/** Node as RPM distributions provide it: nodejs(engine) and nodejs(abiN) of the nodejs package. */
function rpmRequires(d: PackageDescription): Dependency[] {
  const node: Dependency[] = [{ name: 'nodejs(engine)', op: '>=', version: String(d.node.engine) }];
  if (d.node.abi !== null) node.push({ name: `nodejs(abi${d.node.abi})` });
  return [...node, ...d.requires];
}

/** The spec of one package: header from the description, no build steps (the files are staged). */
export function renderSpec(d: PackageDescription, dirs = TEMPLATE_DIRS): string {
  for (const [name, value] of [['summary', d.summary], ['url', d.url], ['packager', d.packager], ['vendor', d.vendor], ['license', d.license]]) {
    if (!HEADER_TEXT.test(value!)) throw new BuildError(`${d.name}: ${name} "${value}" holds characters a spec line cannot take`);
  }
  for (const p of [...d.files.map((f) => f.path), ...d.dirs.map((x) => x.path), ...d.ghosts]) {
    if (!SAFE_PATH.test(p)) throw new BuildError(`${d.name}: ${p} cannot go in a package; use letters, digits, ".", "_", "-" and "/"`);
  }
  const s = renderScriptlets(d, dirs);
  const changelogDate = (t: number) => {
    const u = new Date(t * 1000);
    const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    return `${days[u.getUTCDay()]} ${months[u.getUTCMonth()]} ${String(u.getUTCDate()).padStart(2, '0')} ${u.getUTCFullYear()}`;
  };
  return [
    `Name: ${d.name}`,
    `Version: ${d.version}`,
    `Release: ${d.release}`,
    `Summary: ${d.summary}`,
    `License: ${d.license}`,
    `URL: ${d.url}`,
    `Vendor: ${d.vendor}`,
    `Packager: ${d.packager}`,
    'Group: System Environment/Daemons',
    `BuildArch: ${rpmArch(d.machine)}`,
    ...(d.prefix ? [`Prefix: ${d.prefix}`] : []),
    // The real requirements are node's; automatic ones would add the addons' C library and
    // the scripts' interpreter, which node brings.
    'AutoReqProv: no',
    ...rpmRequires(d).map((x) => `Requires: ${dependency(x)}`),
    ...d.provides.map((x) => `Provides: ${dependency(x)}`),
    ...d.conflicts.map((x) => `Conflicts: ${dependency(x)}`),
    '',
    '%description',
    ...wrap(d.description),
    '',
    '%pre', s.pre.trimEnd(), '',
    '%post', s.post.trimEnd(), '',
    '%preun', s.preun.trimEnd(), '',
    '%postun', s.postun.trimEnd(), '',
    '%files',
    ...fileList(d),
    '',
    '%changelog',
    ...d.changelog.flatMap((c) => [`* ${changelogDate(c.time)} ${c.author} - ${c.version}`, `- ${c.text}`]),
    '',
  ].join('\n');
}

/** Where rpmbuild and rpmsign find their macros: a private HOME, so the user's own play no part. */
async function rpmHome(workDir: string): Promise<NodeJS.ProcessEnv> {
  const home = path.join(workDir, 'home');
  await fs.outputFile(path.join(home, '.rpmmacros'), `%_topdir ${path.join(workDir, 'top')}\n%_tmppath ${path.join(workDir, 'tmp')}\n${rpmMacros()}`);
  await fs.ensureDir(path.join(workDir, 'tmp'));
  return { PATH: process.env.PATH, HOME: home, LC_ALL: 'C', TZ: 'UTC', GNUPGHOME: process.env.GNUPGHOME || path.join(process.env.HOME ?? '/root', '.gnupg') };
}

export const rpmPackager: Packager = {
  format: 'rpm',
  fileName: (d) => `${d.name}-${d.version}-${d.release}.${rpmArch(d.machine)}.rpm`,
  async package(d, outDir, workDir, options) {
    for (const p of [d.root, outDir, workDir]) {
      if (!SAFE_PATH.test(p)) throw new BuildError(`${p}: rpmbuild cannot work in a path with spaces or shell metacharacters; build from a plain path`);
    }
    const env = await rpmHome(workDir);
    if (options.sourceDateEpoch) env.SOURCE_DATE_EPOCH = options.sourceDateEpoch;
    const spec = path.join(workDir, `${d.name}.spec`);
    await fs.outputFile(spec, renderSpec(d));
    const arch = rpmArch(d.machine);
    try {
      await run('rpmbuild', ['-bb', '--noclean', '--buildroot', d.root, '--target', arch, '--define', `_rpmdir ${outDir}`, spec], { env, maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new BuildError(`rpmbuild failed for ${d.name}: ${(e.stderr || e.message).trim()}`);
    }
    const file = path.join(outDir, this.fileName(d));
    if (!(await fs.pathExists(file))) throw new BuildError(`rpmbuild wrote no ${file}`);
    if (options.signKey) await signRpms([file], options.signKey, env);
    return file;
  },
};

/**
 * Signs packages with rpmsign and the GPG key named (from the keyring in $GNUPGHOME, else
 * ~/.gnupg); the key must need no passphrase, or a gpg-agent must hold it.
 */
export async function signRpms(files: string[], key: string, env: NodeJS.ProcessEnv): Promise<void> {
  try {
    // rpm's default gpg path differs between distributions (gpg2 on some): use the one on PATH.
    const gpg = (await run('sh', ['-c', 'command -v gpg'], { env })).stdout.trim();
    await run('rpmsign', ['--addsign', '--define', `_gpg_name ${key}`, '--define', `__gpg ${gpg}`, ...files], { env, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new BuildError(`rpmsign could not sign with key "${key}": ${(e.stderr || e.message).trim()}; check the key is in ${env.GNUPGHOME} (gpg --list-secret-keys) and needs no passphrase`);
  }
}

