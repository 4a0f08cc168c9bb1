import type { FeatureName } from '../flavor/daemons';

// Feature switches. In a bundle each `FLAVORKIT_FEATURES.<name>` is replaced by a literal at
// build time, so a branch behind a disabled feature, and what it requires, is not in the bundle.
// Use it directly in an `if` and `require()` the feature's module inside the branch.
declare global {
  // eslint-disable-next-line no-var
  var FLAVORKIT_FEATURES: Record<FeatureName, boolean>;
}

export class FeatureMissingError extends Error {
  constructor(feature: FeatureName, what: string) {
    super(`${what} needs the "${feature}" feature, which this flavor compiled out; use a flavor built with it`);
  }
}
