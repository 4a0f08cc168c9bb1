import { createRequire } from 'node:module';
import path from 'node:path';
import { STAMP_ORIGIN } from './stamp-source';

/**
 * Native addons cannot be bundled: a package ships them in <libDir>/node_modules, where a bundle
 * looks first; unbundled sources use the project's node_modules.
 */
export function loadNative<T>(name: string, libDir: string): T {
  if (STAMP_ORIGIN === 'stamped') {
    try {
      return createRequire(path.join(libDir, 'node_modules', 'index.js'))(name) as T;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  return createRequire(__filename)(name) as T;
}

declare global {
  // eslint-disable-next-line no-var
  var FLAVORKIT_PACKAGE_DATA: string | undefined;
}

/**
 * Tells bundled packages that read data files at run time (etcd3's gRPC definitions) where the
 * package ships them: <libDir>/node_modules. Unbundled sources read them from the project.
 */
export function locatePackageData(libDir: string): void {
  if (STAMP_ORIGIN === 'stamped') globalThis.FLAVORKIT_PACKAGE_DATA = path.join(libDir, 'node_modules');
}
