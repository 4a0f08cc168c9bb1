import type { Logger } from '../../runtime';
import { hasWildcard } from '../glob';
import { safeDecode, searchUnavailable } from '../http';
import type { Repository } from '../repository';
import type { Request } from '../request';
import { AnswerCache } from './answer-cache';
import { SEND_TIMEOUT_MS } from './answer-stream';
import { STREAM_FROM_BYTES } from './engine';
import { searchOperation } from './http';
import { NoSlot, Slots } from './slots';
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

/** Large search answers written at once, by default: each holds a slice of the table and of its answer. */
export const DEFAULT_SEARCH_STREAMS = 2;
/** Large answers waiting for a slot, per slot: more are refused at once. */
const STREAM_WAITERS_PER_SLOT = 2;
/** The longest a large answer waits for a slot before it is refused. */
const STREAM_WAIT_MS = 30_000;
/** What a refused large answer tells the client to wait, in seconds. */
const STREAM_RETRY_AFTER = '10';

/** What depot.conf sets of search (see the depot's usage). */
export interface SearchOptions {
  cacheMiB?: number;
  streams?: number;
  streamFromKiB?: number;
  sendTimeoutSeconds?: number;
}

/**
 * Slots for large answers: at most `limit` written at once, a few more waiting (each holds only
 * its socket and parsed query), the rest refused with 503 and Retry-After. Refusing rather than
 * queueing without end keeps what waiting clients hold bounded, and a client gets a clear answer
 * instead of a request that may outlast its own timeout; pkg(5) reports a 503 as a temporary failure.
 */
class StreamSlots {
  private readonly slots: Slots;

  constructor(limit: number) {
    this.slots = new Slots(limit, { maxWaiting: limit * STREAM_WAITERS_PER_SLOT, waitMs: STREAM_WAIT_MS });
  }

  async run(version: number, answer: () => Promise<void>): Promise<void> {
    const release = await this.slots.acquire().catch((err: unknown) => {
      if (!(err instanceof NoSlot)) throw err;
      throw searchUnavailable(version, 'Too many large search answers are being sent at once; try again shortly.', { 'Retry-After': STREAM_RETRY_AFTER });
    });
    try {
      await answer();
    } finally {
      release();
    }
  }
}

/**
 * Search as the depot sees it: answer search/0 and search/1, report a publisher as indexing,
 * rebuild on request. Loaded only when the flavor has the search feature and it is not turned off.
 */
export class SearchService {
  private readonly indexes: SearchIndexes;
  /** Searches run in order of arrival, at most SEARCHES_AT_ONCE at a time. */
  private readonly plain = new Slots(SEARCHES_AT_ONCE);
  /** Searches whose path holds a pattern wait here, never in front of a plain one. */
  private readonly patterns = new Slots(PATTERN_SEARCHES_AT_ONCE);

  private readonly answers: AnswerCache;
  /** Large answers: written a slice at a time, apart from the lanes, which they leave once planned. */
  private readonly streams: StreamSlots;

  private readonly streamFrom: number;
  private readonly sendTimeoutMs: number;

  constructor(indexDir: string, log: Logger, options: SearchOptions = {}) {
    this.indexes = new SearchIndexes(indexDir, log);
    this.answers = new AnswerCache((options.cacheMiB ?? DEFAULT_SEARCH_CACHE_MIB) * 1024 * 1024);
    this.streams = new StreamSlots(options.streams ?? DEFAULT_SEARCH_STREAMS);
    this.streamFrom = options.streamFromKiB === undefined ? STREAM_FROM_BYTES : options.streamFromKiB * 1024;
    this.sendTimeoutMs = options.sendTimeoutSeconds === undefined ? SEND_TIMEOUT_MS : options.sendTimeoutSeconds * 1000;
  }

  async answer(r: Request, pub: string, maxAge: number): Promise<void> {
    const lane = hasWildcard(safeDecode(r.args.join('/'))) ? this.patterns : this.plain;
    const leave = await lane.acquire();
    try {
      // A large answer gives its lane back: a slow client of one must not hold up other searches.
      const gate = (answer: () => Promise<void>) => {
        leave();
        return this.streams.run(r.version, answer);
      };
      await searchOperation(r, this.indexes, this.answers, pub, maxAge, { from: this.streamFrom, gate, sendTimeoutMs: this.sendTimeoutMs });
    } finally {
      leave();
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
