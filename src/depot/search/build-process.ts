import { fork } from 'node:child_process';
import fs from 'node:fs';
import { Repository } from '../repository';
import { buildIndex } from './build-index';

/** Set in the environment of the process the depot forks to build one index: what to build, as JSON. */
export const INDEX_BUILD_ENV = 'FLAVORKIT_DEPOT_INDEX_BUILD';

export interface BuildOrder {
  root: string;
  pub: string;
  source: string;
  table: string;
  /** Where the dictionary goes, written beside and renamed over. */
  dictionary: string;
}

/** The body of the build process: builds the index, writes its dictionary, exits 0 (1 with the reason on stderr). */
export function runBuildOrder(order: BuildOrder): void {
  const log = { warn: (message: string) => void process.stderr.write(`${message}\n`) };
  buildIndex(new Repository(order.root), order.pub, order.source, log, order.table)
    .then(async (index) => {
      const tmp = `${order.dictionary}.${process.pid}.tmp`;
      await fs.promises.writeFile(tmp, JSON.stringify(index), { mode: 0o644 });
      await fs.promises.rename(tmp, order.dictionary);
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    });
}

/**
 * Builds an index in a child process: reading every manifest takes the event loop and leaves a
 * heap of garbage, both of which end with the child instead of staying with the depot. Resolves
 * with the child's warnings when the dictionary is written; rejects with the child's reason.
 */
export function buildInChild(order: BuildOrder): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = fork(process.argv[1]!, [], { env: { ...process.env, [INDEX_BUILD_ENV]: JSON.stringify(order) }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let errors = '';
    child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve(errors.split('\n').filter(Boolean)) : reject(new Error(errors.trim() || `the index build ended with ${signal ?? `code ${code}`}`))));
  });
}
