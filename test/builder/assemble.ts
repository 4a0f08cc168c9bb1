// Builds a flavor into a test's own directory through the same pipeline as `flavor build`.
import { type Layout } from '../../src/flavor';
import { buildFlavor } from '../../src/builder/build';
import type { PackageDescription } from '../../src/builder/description';
import type { PackageOptions } from '../../src/builder/package';
import { TEMPLATE_DIRS } from '../../src/builder/templates';

export interface AssembledDaemon {
  layout: Layout;
  root: string;
  description: PackageDescription;
  /** Package file by format (rpm, deb). */
  rpm: string;
  deb: string;
}

/** Bundles, renders and packages one flavor into `outDir`/<flavor>/; returns its daemons. */
export async function assembleFlavor(name: string, outDir: string, options: PackageOptions, dirs = TEMPLATE_DIRS): Promise<AssembledDaemon[]> {
  const build = await buildFlavor(name, { distDir: outDir, packaging: options, templates: dirs });
  return build.daemons.map((d) => {
    const file = (format: string) => d.packages.find((p) => p.format === format)?.file ?? '';
    return { layout: d.layout, root: d.root, description: d.description!, rpm: file('rpm'), deb: file('deb') };
  });
}
