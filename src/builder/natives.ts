import { execFile } from 'node:child_process';
import fs from 'fs-extra';
import { promisify } from 'node:util';
import path from 'node:path';
import { BuildError } from './project';

const run = promisify(execFile);

/**
 * Native addons a bundle loads at run time (esbuild cannot inline them), with the files each
 * needs to load: its loader, its compiled addon, and the small packages `bindings` pulls in.
 */
export const NATIVE_PACKAGES: Readonly<Record<string, readonly string[]>> = {
  'node-linux-pam': ['package.json', 'index.js', 'pam-error.js', 'build/Release/node-linux-pam.node'],
  'unix-dgram': ['package.json', 'lib/unix_dgram.js', 'build/Release/unix_dgram.node'],
  bindings: ['package.json', 'bindings.js'],
  'file-uri-to-path': ['package.json', 'index.js'],
  // pen's FFI data path: koffi's loader (its addon: KOFFI_ADDON below).
  koffi: ['package.json', 'index.cjs', 'src/koffi/index.cjs', 'src/koffi/src/static.cjs', 'LICENSE.txt'],
};

/**
 * koffi's prebuilt addon for the building machine's architecture comes in an optional dependency
 * npm installs from the registry (no compiler involved), under a scoped name a package path may
 * not hold ('@'); it ships where koffi's loader also looks, inside koffi itself.
 */
export const KOFFI_ADDON = {
  from: `@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`,
  to: `koffi/build/koffi/linux_${process.arch}/koffi.node`,
};

export const NATIVE_EXTERNALS = ['node-linux-pam', 'unix-dgram', 'koffi'];

async function stripAddon(file: string): Promise<void> {
  try {
    await run('strip', ['--strip-unneeded', file]);
  } catch (err) {
    throw new BuildError(`strip ${file} failed (${(err as Error).message.trim()}); install binutils`);
  }
}

/**
 * pen's FFI loop relays in C where this library loads (src/pen/ffi/relay.c; without it the loop
 * runs its rounds in TypeScript): compiled per build, hardened as Debian's dpkg-buildflags
 * harden a shared object, and shipped in the lib dir beside koffi.
 */
export const RELAY = {
  source: 'src/pen/ffi/relay.c',
  library: 'pen-relay.so',
  /** The module that loads it: a bundle that holds this one ships the library. */
  loadedBy: 'src/pen/ffi/libc.ts',
  flags: ['-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-Wformat', '-Werror=format-security', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-Wl,-z,relro,-z,now'],
};

/**
 * Compiles the relay library into `outFile`, stripped; where no C compiler is installed, says so
 * (the returned note) and leaves the file out: pen then runs its FFI loop's rounds in TypeScript.
 */
export async function compileRelay(projectRoot: string, outFile: string): Promise<string | null> {
  const compiler = process.env.CC || 'cc';
  await fs.ensureDir(path.dirname(outFile));
  try {
    await run(compiler, [...RELAY.flags, '-o', outFile, path.join(projectRoot, RELAY.source)]);
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') return `${compiler} is missing: pen's FFI loop ships without ${RELAY.library} and relays in TypeScript rounds (apt-get install gcc libc6-dev for the C ones)`;
    throw new BuildError(`${compiler} could not compile ${RELAY.source}: ${(e.stderr || e.message).trim()}`);
  }
  // Read as a shared object only (dlopen needs no execute bit), without the compiler's symbols.
  await fs.chmod(outFile, 0o644);
  await stripAddon(outFile);
  return null;
}

/** Copies the addons into <libDir>/node_modules of a staging tree, and compiles pen's relay library into <libDir> where a bundle loads it. */
export async function copyNatives(projectRoot: string, targetLibDir: string, withRelay: boolean): Promise<void> {
  const copies = Object.entries(NATIVE_PACKAGES).flatMap(([pkg, files]) => files.map((file) => ({ from: `${pkg}/${file}`, to: `${pkg}/${file}` })));
  for (const { from: source, to: target } of [...copies, KOFFI_ADDON]) {
    const from = path.join(projectRoot, 'node_modules', source);
    if (!(await fs.pathExists(from))) {
      throw new BuildError(`${from} is missing; run 'npm ci' (native addons build from source after 'apt-get install libpam0g-dev')`);
    }
    const to = path.join(targetLibDir, 'node_modules', target);
    await fs.copy(from, to, { preserveTimestamps: false });
    // npm leaves some sources executable; only the compiled addons are loaded as code objects,
    // and they ship without the symbols node-gyp's build leaves in.
    const addon = target.endsWith('.node');
    await fs.chmod(to, addon ? 0o755 : 0o644);
    if (addon) await stripAddon(to);
  }
  if (!withRelay) return;
  const missing = await compileRelay(projectRoot, path.join(targetLibDir, RELAY.library));
  if (missing && !warnedNoCompiler) process.stderr.write(`flavor: warning: ${missing}\n`);
  warnedNoCompiler ||= missing !== null;
}

/** The missing compiler is told once per build, not once per daemon. */
let warnedNoCompiler = false;

/**
 * Bundled packages that read data files by path at run time, as etcd3 reads its gRPC
 * definitions: the loader's path expression, and the files to ship in <libDir>/node_modules/<pkg>.
 * The bundle asks the runtime (globalThis.FLAVORKIT_PACKAGE_DATA) where those files lie.
 */
export const PACKAGE_DATA: Readonly<Record<string, { loader: RegExp; pathExpression: string; file: string; files: readonly string[] }>> = {
  etcd3: {
    loader: /[\\/]node_modules[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/,
    pathExpression: '`${__dirname}/../proto/rpc.proto`',
    file: 'proto/rpc.proto',
    files: ['package.json', 'proto/rpc.proto', 'proto/kv.proto', 'proto/auth.proto'],
  },
};

/** Copies the data files of the packages a bundle took in. */
export async function copyPackageData(projectRoot: string, targetLibDir: string, packages: Iterable<string>): Promise<void> {
  for (const pkg of packages) {
    for (const file of PACKAGE_DATA[pkg]!.files) {
      const from = path.join(projectRoot, 'node_modules', pkg, file);
      if (!(await fs.pathExists(from))) throw new BuildError(`${from} is missing; run 'npm ci'`);
      await fs.copy(from, path.join(targetLibDir, 'node_modules', pkg, file), { preserveTimestamps: false });
    }
  }
}
