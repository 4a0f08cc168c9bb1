import fs from 'fs-extra';
import path from 'node:path';
import { findCollisions, knownFlavorNames, layout, loadFlavor, type DaemonName, type Flavor, type Layout } from '../flavor';
import { BuildError, bundleDaemon, PROJECT_ROOT, type BundleResult } from './bundle';
import { copyNatives, copyPackageData } from './natives';

/** Output of every build; $FLAVORKIT_DIST_DIR moves it (tests build into a temp dir). */
export function distDir(): string {
  return process.env.FLAVORKIT_DIST_DIR ?? path.join(PROJECT_ROOT, 'dist');
}

export interface DaemonBuild {
  daemon: DaemonName;
  layout: Layout;
  /** Staging root: every file at its installed path below it. */
  root: string;
  bundles: BundleResult[];
  /** Package files written for this daemon, with their size in bytes. */
  packages: Array<{ file: string; bytes: number }>;
}

export interface FlavorBuild {
  flavor: Flavor;
  outDir: string;
  daemons: DaemonBuild[];
}

/** Steps after bundling (templates, packages) plug in here, so the bundler knows none of them. */
export type BuildStep = (build: FlavorBuild, stagingDir: string) => Promise<void>;

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
 * Builds one flavor into dist/<flavor>/: assembled in a private directory and moved in whole,
 * so a failed build leaves the previous output, and other flavors' outputs, untouched.
 */
export async function buildFlavor(name: string, steps: BuildStep[] = []): Promise<FlavorBuild> {
  const flavor = loadFlavor(name);
  checkNoCollisions(flavor);
  const outDir = path.join(distDir(), flavor.name);
  const staging = path.join(distDir(), `.${flavor.name}.building-${process.pid}`);
  await fs.remove(staging);
  try {
    const build: FlavorBuild = { flavor, outDir, daemons: [] };
    for (const daemon of flavor.daemons) {
      const l = layout(flavor, daemon);
      const root = path.join(staging, daemon, 'root');
      const bundles = await bundleDaemon(flavor, daemon, path.join(root, l.binDir));
      await copyNatives(PROJECT_ROOT, path.join(root, l.libDir));
      await copyPackageData(PROJECT_ROOT, path.join(root, l.libDir), new Set(bundles.flatMap((b) => b.packageData)));
      await fs.outputJson(path.join(staging, daemon, 'layout.json'), l, { spaces: 2 });
      build.daemons.push({ daemon, layout: l, root, bundles, packages: [] });
    }
    for (const step of steps) await step(build, staging);
    await fs.remove(outDir);
    await fs.move(staging, outDir);
    // Paths recorded during the build pointed into the staging directory.
    for (const d of build.daemons) {
      d.root = path.join(outDir, path.relative(staging, d.root));
      for (const b of d.bundles) b.file = path.join(outDir, path.relative(staging, b.file));
      for (const p of d.packages) p.file = path.join(outDir, path.relative(staging, p.file));
    }
    return build;
  } catch (err) {
    await fs.remove(staging);
    throw err;
  }
}
