import path from 'node:path';
import type { BuildStep } from './build';
import { defaultPackageOptions, packageDaemon, type PackageOptions } from './rpm';

/**
 * Renders each daemon's init script, PAM file, configs and docs into its staging root and
 * builds its package into the flavor's output directory.
 */
export function rpmStep(options: PackageOptions = defaultPackageOptions()): BuildStep {
  return async (build, stagingDir) => {
    for (const d of build.daemons) {
      const packaged = await packageDaemon(d.layout, d.root, stagingDir, path.join(stagingDir, d.daemon, 'rpmwork'), options);
      d.packages.push({ file: packaged.rpm, bytes: packaged.bytes });
    }
  };
}

/** The steps after bundling: rendering templates and building packages. */
export function packageSteps(options?: PackageOptions): BuildStep[] {
  return [rpmStep(options)];
}
