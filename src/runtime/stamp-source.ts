// The layout of sources run unbundled (tests, `tsx`): derived from $FLAVOR through src/flavor.
// A bundle never contains this file: the build replaces it with the stamped constants
// (see src/builder/bundle.ts), and refuses a bundle in which this marker survives.
import { layout, loadFlavor, type DaemonName, type Layout } from '../flavor';

export const STAMP_ORIGIN: 'stamped' | 'derived' = 'derived';
export const UNBUNDLED_MARKER = 'flavorkit-unbundled-stamp-source';

const flavor = loadFlavor(process.env.FLAVOR || undefined);
globalThis.FLAVORKIT_FEATURES = flavor.features;

export function stampedLayout<D extends DaemonName>(daemon: D): Layout<D> {
  return layout(flavor, daemon);
}
