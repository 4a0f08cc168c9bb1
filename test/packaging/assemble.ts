// Assembles and packages a flavor into a test's own directory, the way buildFlavor does into
// dist/: the real bundles of every daemon the flavor ships.
import path from 'node:path';
import { layout, loadFlavor, type Layout } from '../../src/flavor';
import { bundleDaemon, PROJECT_ROOT } from '../../src/build/bundle';
import { copyNatives } from '../../src/build/natives';
import { packageDaemon, type PackageOptions } from '../../src/build/rpm';
import { TEMPLATE_DIRS } from '../../src/build/templates';

export interface AssembledDaemon {
  layout: Layout;
  root: string;
  rpm: string;
}

/** Bundles, renders and packages one flavor into `outDir`; returns its daemons. */
export async function assembleFlavor(name: string, outDir: string, options: PackageOptions, dirs = TEMPLATE_DIRS): Promise<AssembledDaemon[]> {
  const flavor = loadFlavor(name);
  const out: AssembledDaemon[] = [];
  for (const daemon of flavor.daemons) {
    const l = layout(flavor, daemon);
    const root = path.join(outDir, daemon, 'root');
    await bundleDaemon(flavor, daemon, path.join(root, l.binDir));
    await copyNatives(PROJECT_ROOT, path.join(root, l.libDir));
    const packaged = await packageDaemon(l, root, outDir, path.join(outDir, daemon, 'rpmwork'), options, dirs);
    out.push({ layout: l, root, rpm: packaged.rpm });
  }
  return out;
}
