// Assembles and packages a flavor into a test's own directory, the way buildFlavor does into
// dist/: real bundles for every daemon whose entry points exist, the stand-in for the others.
import esbuild from 'esbuild';
import fs from 'fs-extra';
import path from 'node:path';
import { DAEMON_SPECS, FEATURE_NAMES, layout, loadFlavor, type DaemonName, type Flavor, type Layout } from '../../src/flavor';
import { bundleDaemon, entryOf, PROJECT_ROOT } from '../../src/build/bundle';
import { copyNatives, NATIVE_EXTERNALS } from '../../src/build/natives';
import { packageDaemon, type PackageOptions } from '../../src/build/rpm';
import { TEMPLATE_DIRS } from '../../src/build/templates';

export interface AssembledDaemon {
  layout: Layout;
  root: string;
  rpm: string;
  /** True when the daemon's own sources are missing and the stand-in was packaged. */
  standIn: boolean;
}

export function daemonReady(daemon: DaemonName): boolean {
  return DAEMON_SPECS[daemon].programs.every((p) => fs.existsSync(entryOf(daemon, p)));
}

export async function bundleStandIn(flavor: Flavor, daemon: DaemonName, outDir: string): Promise<void> {
  const l = layout(flavor, daemon);
  const define: Record<string, string> = { STANDIN_DAEMON: JSON.stringify(daemon) };
  for (const f of FEATURE_NAMES) define[`FLAVORKIT_FEATURES.${f}`] = String(flavor.features[f]);
  const stamp: esbuild.Plugin = {
    name: 'test-stamp',
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]runtime[\\/]stamp-source\.ts$/ }, () => ({
        loader: 'js',
        contents: `export const STAMP_ORIGIN = 'stamped'; const L = ${JSON.stringify(l)}; export function stampedLayout() { return L; }`,
      }));
    },
  };
  for (const program of DAEMON_SPECS[daemon].programs) {
    const file = path.join(outDir, program);
    await esbuild.build({
      entryPoints: [path.join(__dirname, 'standin-daemon.ts')],
      outfile: file,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      banner: { js: '#!/usr/bin/env node' },
      external: NATIVE_EXTERNALS,
      define,
      plugins: [stamp],
      logLevel: 'silent',
    });
    await fs.chmod(file, 0o755);
  }
}

/** Bundles, renders and packages one flavor into `outDir`; returns its daemons. */
export async function assembleFlavor(name: string, outDir: string, options: PackageOptions, dirs = TEMPLATE_DIRS): Promise<AssembledDaemon[]> {
  const flavor = loadFlavor(name);
  const out: AssembledDaemon[] = [];
  for (const daemon of flavor.daemons) {
    const l = layout(flavor, daemon);
    const root = path.join(outDir, daemon, 'root');
    const standIn = !daemonReady(daemon);
    if (standIn) await bundleStandIn(flavor, daemon, path.join(root, l.binDir));
    else await bundleDaemon(flavor, daemon, path.join(root, l.binDir));
    await copyNatives(PROJECT_ROOT, path.join(root, l.libDir));
    const packaged = await packageDaemon(l, root, outDir, path.join(outDir, daemon, 'rpmwork'), options, dirs);
    out.push({ layout: l, root, rpm: packaged.rpm, standIn });
  }
  return out;
}
