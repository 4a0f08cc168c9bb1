import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../runtime';
import type { Repository } from '../repository';
import { buildInChild } from './build-process';
import { catalogSource, packageTableOf, PublisherIndex } from './publisher-index';

/** The index of a publisher could not be built: answered 503. */
export class SearchUnavailable extends Error {}

interface Slot {
  index: PublisherIndex | null;
  building: Promise<void> | null;
  /** The catalog.attrs stat the index was last checked against. */
  checked: string;
  /** When a search last looked at catalog.attrs (ms since the epoch). */
  lookedAt: number;
}

/** A search looks at its catalog at most this often, as catalog parts are compared with the disk: each look is a stat through the thread pool. */
const CATALOG_LOOK_MS = 1000;

/**
 * The search indexes of every repository and publisher a depot serves, kept on disk under the
 * flavor's index directory so a restart does not re-read every manifest. An index is rebuilt in
 * the background when its publisher's catalog changes; the old one answers until the new one is
 * complete.
 */
export class SearchIndexes {
  private readonly slots = new Map<string, Slot>();
  /** Indexes being written to disk: a stop waits for them, so the next start loads them. */
  private readonly saving = new Set<Promise<unknown>>();

  constructor(
    /** The directory the indexes are kept in. */
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** The file an index is kept in: per repository (by real path) and publisher. */
  private file(repo: Repository, pub: string): string {
    const realRoot = (() => {
      try {
        return fs.realpathSync(repo.root);
      } catch {
        return repo.root;
      }
    })();
    const id = crypto.createHash('sha1').update(realRoot).digest('hex').slice(0, 16);
    return path.join(this.dir, id, `${encodeURIComponent(pub)}.json`);
  }

  private key(repo: Repository, pub: string): string {
    return `${repo.root}\0${pub}`;
  }

  private slot(repo: Repository, pub: string): Slot {
    const key = this.key(repo, pub);
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { index: null, building: null, checked: '', lookedAt: 0 }));
    return slot;
  }

  /** True while a publisher's index is being (re)built. */
  indexing(repo: Repository, pub: string): boolean {
    return this.slot(repo, pub).building !== null;
  }

  /** The current index of a publisher; starts a rebuild when the catalog changed since. */
  async get(repo: Repository, pub: string): Promise<PublisherIndex> {
    const slot = this.slot(repo, pub);
    const now = Date.now();
    if (now - slot.lookedAt >= CATALOG_LOOK_MS || !slot.index) {
      slot.lookedAt = now;
      await this.refreshIfChanged(repo, pub, slot, false);
    }
    // No index yet: a 503 the client can retry, rather than a request held for the whole build.
    if (!slot.index && slot.building) throw new SearchUnavailable('Search functionality is temporarily unavailable: the index is being built.');
    if (!slot.index) throw new SearchUnavailable('Search functionality is temporarily unavailable: the index could not be built (see the depot log).');
    return slot.index;
  }

  /** Resolves when the indexes being written are on disk, or after `limitMs`. */
  async saved(limitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.saving), new Promise((resolve) => (timer = setTimeout(resolve, limitMs)))]);
    clearTimeout(timer);
  }

  /** Loads or builds the index of every publisher; `force` rebuilds even unchanged ones. */
  async prepare(repos: Repository[], force = false): Promise<void> {
    // A repository no longer served (the list was reloaded) gives its indexes' memory back.
    const served = new Set(repos.flatMap((repo) => repo.publishers.map((pub) => this.key(repo, pub))));
    for (const [key, slot] of this.slots) {
      if (served.has(key)) continue;
      slot.index?.retire();
      this.slots.delete(key);
    }
    await Promise.all(repos.flatMap((repo) => repo.publishers.map((pub) => this.refreshIfChanged(repo, pub, this.slot(repo, pub), force))));
    await Promise.all(repos.flatMap((repo) => repo.publishers.map((pub) => this.slot(repo, pub).building)));
  }

  private async refreshIfChanged(repo: Repository, pub: string, slot: Slot, force: boolean): Promise<void> {
    const attrs = path.join(repo.root, 'publisher', pub, 'catalog', 'catalog.attrs');
    const stat = await fs.promises.stat(attrs).catch(() => null);
    const seen = stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : 'none';
    if (!force && seen === slot.checked) return;
    slot.checked = seen;
    const previous = slot.building;
    const work: Promise<void> = (async () => {
      await previous;
      const source = await catalogSource(repo, pub);
      if (force || slot.index?.source !== source) await this.rebuild(repo, pub, slot, source, force);
    })().finally(() => {
      if (slot.building === work) slot.building = null;
    });
    slot.building = work;
  }

  private async rebuild(repo: Repository, pub: string, slot: Slot, source: string, force: boolean): Promise<void> {
    const file = this.file(repo, pub);
    if (!force) {
      const stored = await this.load(file);
      if (stored?.source === source) {
        slot.index?.retire();
        slot.index = stored;
        return;
      }
    }
    const started = Date.now();
    // Each build has a table of its own: queries still reading the previous one are not disturbed.
    const table = path.join(path.dirname(file), `${encodeURIComponent(pub)}.${Date.now().toString(36)}.tokens`);
    try {
      // The child writes the dictionary; a stop waits for it, so the next start finds it.
      const built = buildInChild({ root: repo.root, pub, source, table, dictionary: file }).finally(() => this.saving.delete(built));
      this.saving.add(built);
      await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
      for (const warning of await built) this.log.warn(warning);
      const index = await this.load(file);
      if (!index) throw new Error(`${file} was written but cannot be read back`);
      const previous = slot.index;
      slot.index = index;
      previous?.retire();
      this.log.info(`search index of ${pub} in ${repo.root}: ${index.fmris.length} packages, ${index.sortedTokens.length} tokens, built in ${Date.now() - started} ms`);
      await this.removeTablesBut(file, pub, index.table, previous);
    } catch (err) {
      await fs.promises.rm(table, { force: true });
      await fs.promises.rm(packageTableOf(table), { force: true });
      this.log.error(`search index of ${pub} in ${repo.root} could not be built: ${(err as Error).message}`);
    }
  }

  /**
   * Removes the publisher's older tables once its new dictionary is saved. Those the previous
   * index read go a little later, so a query still reading it finishes.
   */
  private async removeTablesBut(file: string, pub: string, current: string, previous: PublisherIndex | null): Promise<void> {
    const dir = path.dirname(file);
    const prefix = `${encodeURIComponent(pub)}.`;
    const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const table = path.join(dir, name);
      if (!name.startsWith(prefix) || !/^[0-9a-z]+\.(tokens|packages)$/.test(name.slice(prefix.length)) || packageTableOf(table) === packageTableOf(current)) continue;
      if (previous && packageTableOf(table) === packageTableOf(previous.table)) setTimeout(() => void fs.promises.rm(table, { force: true }), 10_000).unref();
      else await fs.promises.rm(table, { force: true });
    }
  }

  private async load(file: string): Promise<PublisherIndex | null> {
    try {
      return PublisherIndex.fromJSON(JSON.parse(await fs.promises.readFile(file, 'utf8')), path.dirname(file));
    } catch {
      return null;
    }
  }
}
