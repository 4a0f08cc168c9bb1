import path from 'node:path';

/** The checkout the build reads its sources, templates and node_modules from. */
export const PROJECT_ROOT = path.resolve(__dirname, '../..');

/** A build that cannot go on: its message names the problem and the fix, and reaches the user without a stack. */
export class BuildError extends Error {
  override name = 'BuildError';
}
