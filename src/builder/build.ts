import fs from 'fs-extra';
import path from 'node:path';
import { findCollisions, knownFlavorNames, layout, loadFlavor, type DaemonName, type Flavor, type Layout } from '../flavor';
import { bundleDaemon, type BundleResult } from './bundle';
import { BuildError, PROJECT_ROOT } from './project';
import type { PackageDescription, Packager } from './description';
import { copyNatives, copyPackageData } from './natives';
import { defaultPackageOptions, describeStaged, SAFE_PATH, stageDaemonFiles, type PackageOptions } from './package';
import { PACKAGERS } from './packagers';
import { TEMPLATE_DIRS, type RenderedFile } from './templates';

/** Output of every build; $FLAVORKIT_DIST_DIR moves it (tests build into a temp dir). */
export function distDir(): string {
  return process.env.FLAVORKIT_DIST_DIR ?? path.join(PROJECT_ROOT, 'dist');
}

export interface DaemonBuild {
  daemon: DaemonName;
  /** Derived once per build; everything below comes from it. */
  layout: Layout;
  /** Staging root: every file at its installed path below it. */
  root: string;
  bundles: BundleResult[];
  rendered: RenderedFile[];
  description: PackageDescription | null;
  /** Package files written for this daemon, by format, with their size in bytes. */
  packages: Array<{ format: string; file: string; bytes: number }>;
}

export interface FlavorBuild {
  flavor: Flavor;
  outDir: string;
  daemons: DaemonBuild[];
}

/** The phases a build times, for the benchmark. */
export type Phase = 'bundle' | 'natives' | 'render' | string;

export interface BuildOptions {
  /** Where dist/<flavor>/ goes; default distDir(). */
  distDir?: string;
  /** Version, release, epoch, signing key; default from the environment. */
  packaging?: PackageOptions;
  /** The formats to build, by packager; default every format. [] builds bundles only. */
  formats?: Packager[];
  templates?: typeof TEMPLATE_DIRS;
  /** Told how long each phase of each daemon took (milliseconds). */
  onPhase?: (phase: Phase, ms: number) => void;
}

/** Refuses a flavor that collides with another known flavor, before anything is written. */
export function checkNoCollisions(flavor: Flavor): void {
  const others = knownFlavorNames().filter((n) => n !== flavor.name).map((n) => loadFlavor(n));
  const collisions = findCollisions([flavor, ...others]).filter((c) => c.owners.some((o) => o.startsWith(`${flavor.name}/`)));
  if (collisions.length) {
    const lines = collisions.map((c) => `  ${c.item} ${c.value}: ${c.owners.join(' and ')}`);
    throw new BuildError(`flavor ${flavor.name} collides with other flavors:\n${lines.join('\n')}\nchange its ports or prefix in its flavor file`);
  }
}

/**
 * The one build pipeline (the CLI, the tests and the benchmarks call it): per daemon, its layout
 * once, the stamped bundles, the addons, the rendered files, the package description, then one
 * package per format. Assembled in a private directory and moved into <distDir>/<flavor>/ whole,
 * so a failed build leaves the previous output, and other flavors' outputs, untouched.
 */
export async function buildFlavor(name: string, options: BuildOptions = {}): Promise<FlavorBuild> {
  const flavor = loadFlavor(name);
  checkNoCollisions(flavor);
  const base = options.distDir ?? distDir();
  const formats = options.formats ?? PACKAGERS;
  const packaging = options.packaging ?? (formats.length ? defaultPackageOptions() : null);
  const templates = options.templates ?? TEMPLATE_DIRS;
  const timed = async <T>(phase: Phase, work: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      options.onPhase?.(phase, Number(process.hrtime.bigint() - started) / 1e6);
    }
  };
  if (packaging && !SAFE_PATH.test(path.resolve(base))) {
    throw new BuildError(`${base}: packages cannot be built in a path with spaces or shell metacharacters; build from a plain path`);
  }
  const outDir = path.join(base, flavor.name);
  const staging = path.join(base, `.${flavor.name}.building-${process.pid}`);
  await fs.remove(staging);
  try {
    const build: FlavorBuild = { flavor, outDir, daemons: [] };
    for (const daemon of flavor.daemons) {
      const l = layout(flavor, daemon);
      const root = path.join(staging, daemon, 'root');
      const bundles = await timed('bundle', () => bundleDaemon(flavor, daemon, path.join(root, l.binDir)));
      await timed('natives', async () => {
        await copyNatives(PROJECT_ROOT, path.join(root, l.libDir), bundles.some((b) => b.loadsRelay));
        await copyPackageData(PROJECT_ROOT, path.join(root, l.libDir), new Set(bundles.flatMap((b) => b.packageData)));
      });
      await fs.outputJson(path.join(staging, daemon, 'layout.json'), l, { spaces: 2 });
      const d: DaemonBuild = { daemon, layout: l, root, bundles, rendered: [], description: null, packages: [] };
      build.daemons.push(d);
      if (!packaging) continue;
      d.rendered = await timed('render', () => stageDaemonFiles(l, root, templates));
      d.description = describeStaged(l, root, d.rendered, packaging);
    }
    // The packagers run rpmbuild and dpkg-deb on the finished staging roots: every daemon's
    // packages of every format at once, as they read the roots and write only their own files.
    if (packaging) {
      // All settle before a failure is thrown, so none writes into a staging dir being removed.
      const results = await Promise.allSettled(
        build.daemons.flatMap((d) =>
          formats.map(async (packager) => {
            const work = path.join(staging, d.daemon, `${packager.format}work`);
            const file = await timed(packager.format, () => packager.package(d.description!, staging, work, packaging));
            await fs.remove(work);
            d.packages.push({ format: packager.format, file, bytes: (await fs.stat(file)).size });
          }),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      // In the order of the formats, whatever order they finished in.
      for (const d of build.daemons) d.packages.sort((a, b) => formats.findIndex((f) => f.format === a.format) - formats.findIndex((f) => f.format === b.format));
    }
    await fs.remove(outDir);
    await fs.move(staging, outDir);
    // Paths recorded during the build pointed into the staging directory.
    const moved = (p: string) => path.join(outDir, path.relative(staging, p));
    for (const d of build.daemons) {
      d.root = moved(d.root);
      if (d.description) d.description = { ...d.description, root: d.root };
      for (const b of d.bundles) b.file = moved(b.file);
      for (const p of d.packages) p.file = moved(p.file);
    }
    return build;
  } catch (err) {
    await fs.remove(staging);
    throw err;
  }
}
