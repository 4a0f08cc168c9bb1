import path from 'node:path';

/** The checkout the tests and benchmarks run from. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
/** ../shared beside the clone: specs and read-only fixtures made by the reference tools. */
export const SHARED_DIR = path.resolve(PROJECT_ROOT, '../shared');
export const FIXTURES_DIR = path.join(SHARED_DIR, 'fixtures');
