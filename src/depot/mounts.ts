import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Repository } from './repository';

export interface RepositoryConfig {
  path: string;
  /** URL prefix; derived when two repositories share a publisher and none is given. */
  prefix?: string;
}

export interface Mount {
  prefix: string | null;
  repo: Repository;
}

const PREFIX = /^[A-Za-z][_A-Za-z0-9.-]*$/;

/**
 * The repositories a depot serves and their URL prefixes. A repository whose publishers another
 * one also serves gets a prefix from the SHA-1 of its path when none was configured, so both
 * stay reachable.
 */
export function buildMounts(configs: RepositoryConfig[]): Mount[] {
  if (configs.length === 0) throw new Error('no repository configured; give -d DIR or list repositories in the config file');
  const repos = configs.map((c) => ({ config: c, repo: new Repository(path.resolve(c.path)) }));
  const mounts: Mount[] = [];
  for (const { config, repo } of repos) {
    let prefix = config.prefix ?? null;
    if (prefix !== null && !PREFIX.test(prefix)) {
      throw new Error(`repository prefix "${prefix}" must start with a letter and hold letters, digits, ".", "_" or "-"`);
    }
    const shares = repos.some((o) => o.repo !== repo && o.repo.publishers.some((p) => repo.hasPublisher(p)));
    if (prefix === null && (shares || configs.length > 1)) {
      prefix = `r${crypto.createHash('sha1').update(fs.realpathSync(repo.root)).digest('hex').slice(0, 12)}`;
    }
    mounts.push({ prefix, repo });
  }
  const seen = new Set<string | null>();
  for (const m of mounts) {
    if (seen.has(m.prefix)) throw new Error(`two repositories share the URL prefix "${m.prefix ?? '/'}"; give each its own prefix`);
    seen.add(m.prefix);
  }
  return mounts;
}
