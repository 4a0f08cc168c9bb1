import type { Logger } from '../../runtime';
import type { Repository } from '../repository';
import type { Request } from '../request';
import { searchOperation } from './http';
import { SearchIndexes } from './store';

const SEARCHES_AT_ONCE = 2;

/**
 * Search as the depot sees it: answer search/0 and search/1, report a publisher as indexing,
 * rebuild on request. Loaded only when the flavor has the search feature and it is not turned off.
 */
export class SearchService {
  private readonly indexes: SearchIndexes;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(indexDir: string, log: Logger) {
    this.indexes = new SearchIndexes(indexDir, log);
  }

  /**
   * Searches run at most SEARCHES_AT_ONCE at a time, the rest in order of arrival: a search holds
   * its hits and the manifests they come from, and on one thread more at once finish no sooner.
   */
  async answer(r: Request, pub: string, maxAge: number): Promise<void> {
    if (this.running >= SEARCHES_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      await searchOperation(r, this.indexes, pub, maxAge);
    } finally {
      // The slot passes to the next search waiting, or is given back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
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
