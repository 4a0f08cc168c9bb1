import type { BuildStep } from './build';

/** The steps after bundling: rendering templates and building packages. */
export function packageSteps(): BuildStep[] {
  return [];
}
