import type { Logger } from '../../runtime';
import { hasWildcard } from '../glob';
import { safeDecode } from '../http';
import type { Repository } from '../repository';
import type { Request } from '../request';
import { AnswerCache } from './answer-cache';
import { searchOperation } from './http';
import { SearchIndexes } from './store';

/**
 * Memory for search answers kept by query, by default: a repeated search costs a lookup instead
 * of its postings, sort and answer lines (10,000 packages: `archive` several ms of CPU per query); small
 * enough that a depot with 10,000 packages indexed stays within its memory budget.
 */
export const DEFAULT_SEARCH_CACHE_MIB = 2;

/** Searches run at once: a search holds its postings and hits. */
const SEARCHES_AT_ONCE = 2;
/** Pattern searches run at once, apart from the others: one may touch every token. */
const PATTERN_SEARCHES_AT_ONCE = 1;

/** At most `limit` tasks at a time, the rest in order of arrival. */
class Lane {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      // The slot passes to the next task waiting, or is given back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/**
 * Search as the depot sees it: answer search/0 and search/1, report a publisher as indexing,
 * rebuild on request. Loaded only when the flavor has the search feature and it is not turned off.
 */
export class SearchService {
  private readonly indexes: SearchIndexes;
  private readonly plain = new Lane(SEARCHES_AT_ONCE);
  /** Searches whose path holds a pattern wait here, never in front of a plain one. */
  private readonly patterns = new Lane(PATTERN_SEARCHES_AT_ONCE);

  private readonly answers: AnswerCache;

  constructor(indexDir: string, log: Logger, cacheMiB = DEFAULT_SEARCH_CACHE_MIB) {
    this.indexes = new SearchIndexes(indexDir, log);
    this.answers = new AnswerCache(cacheMiB * 1024 * 1024);
  }

  answer(r: Request, pub: string, maxAge: number): Promise<void> {
    const lane = hasWildcard(safeDecode(r.args.join('/'))) ? this.patterns : this.plain;
    return lane.run(() => searchOperation(r, this.indexes, this.answers, pub, maxAge));
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
