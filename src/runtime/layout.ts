import fs from 'node:fs';
import path from 'node:path';
import type { DaemonName } from '../flavor/daemons';
import { relocate, underRoot, type Layout } from '../flavor/layout';
import { STAMP_ORIGIN, stampedLayout } from './stamp-source';

const cache = new Map<DaemonName, Layout>();

/**
 * Where this program really is: a relocated package (`rpm -i --prefix P`) has its bundles in
 * P/bin, so the prefix is found from the running file, never from a re-derived name. Inside a
 * staging root the file's place is read as seen from that root.
 */
function installedPrefix(l: Layout, root: string | null): string | null {
  if (STAMP_ORIGIN !== 'stamped' || l.isDefault || !process.argv[1]) return null;
  let file: string;
  try {
    file = fs.realpathSync(process.argv[1]);
  } catch {
    return null;
  }
  let binDir = path.dirname(file);
  if (root && binDir.startsWith(`${root}/`)) binDir = binDir.slice(root.length);
  if (path.basename(binDir) !== 'bin' || binDir === l.binDir) return null;
  return path.dirname(binDir);
}

/**
 * The layout this program was built for: stamped in a bundle, derived from $FLAVOR when run
 * unbundled; moved to the installed prefix after relocation, and under $FLAVORKIT_ROOT when set
 * (a staging root: tests, image builds).
 */
export function currentLayout<D extends DaemonName>(daemon: D): Layout<D> {
  const cached = cache.get(daemon) as Layout<D> | undefined;
  if (cached) return cached;
  let l = stampedLayout(daemon);
  const root = process.env.FLAVORKIT_ROOT || null;
  if (root && !path.isAbsolute(root)) throw new Error(`FLAVORKIT_ROOT=${root} is not an absolute path; give an absolute path`);
  const prefix = installedPrefix(l, root && path.resolve(root));
  if (prefix) l = relocate(l, prefix);
  if (root) l = underRoot(l, root);
  cache.set(daemon, l);
  return l;
}

export function stampOrigin(): 'stamped' | 'derived' {
  return STAMP_ORIGIN;
}

