import type { Logger } from '../../runtime';
import type { Repository } from '../repository';
import type { Request } from '../server';
import { searchOperation } from './http';
import { SearchIndexes } from './store';

/**
 * Search as the depot sees it: answer search/0 and search/1, report a publisher as indexing,
 * rebuild on request. Loaded only when the flavor has the search feature and it is not turned off.
 */
export class SearchService {
  private readonly indexes: SearchIndexes;

  constructor(indexDir: string, log: Logger) {
    this.indexes = new SearchIndexes(indexDir, log);
  }

  answer(r: Request, pub: string, maxAge: number): Promise<void> {
    return searchOperation(r, this.indexes, pub, maxAge);
  }

  indexing(repo: Repository, pub: string): boolean {
    return this.indexes.indexing(repo, pub);
  }

  prepare(repos: Repository[], force = false): Promise<void> {
    return this.indexes.prepare(repos, force);
  }

  /** Waits, at most `limitMs`, for indexes still being written: a stop must not lose a finished build. */
  saved(limitMs: number): Promise<void> {
    return this.indexes.saved(limitMs);
  }
}
