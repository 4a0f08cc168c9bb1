import fs from 'node:fs';

/** A file as the depot serves it: its bytes when small enough to keep, and what headers need. */
export interface FileEntry {
  size: number;
  mtimeMs: number;
  /** When the file was last compared with the disk. */
  checkedAt?: number;
  /** The whole file, for files up to the entry limit; larger ones are streamed. */
  body: Buffer | null;
}

/** A catalog part is compared with the disk at most this often: a replaced catalog shows within it. */
const RECHECK_MS = 1000;

/**
 * Small repository files kept in memory, least recently used dropped first. Payloads and
 * manifests never change under their names (a hash, an FMRI with its timestamp), so they are
 * served without touching the disk; other files (catalog parts) are checked with one stat at
 * most once a second.
 */
export class FileCache {
  private readonly entries = new Map<string, FileEntry>();
  private readonly loading = new Map<string, Promise<FileEntry | null>>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly maxEntry = 1024 * 1024,
  ) {}

  /**
   * The cached file when it can be served without touching the disk (immutable, or compared with
   * the disk within the last second), else undefined.
   */
  peek(file: string, immutable: boolean): FileEntry | undefined {
    const cached = this.entries.get(file);
    if (cached && (immutable || Date.now() - (cached.checkedAt ?? 0) < RECHECK_MS)) return this.touch(file, cached);
    return undefined;
  }

  /** The file, or null when it does not exist or is not a regular file. */
  get(file: string, immutable: boolean): Promise<FileEntry | null> {
    const fresh = this.peek(file, immutable);
    if (fresh) return Promise.resolve(fresh);
    // Misses for one file at the same time share one stat and one read.
    let load = this.loading.get(file);
    if (!load) {
      load = this.load(file).finally(() => this.loading.delete(file));
      this.loading.set(file, load);
    }
    return load;
  }

  private async load(file: string): Promise<FileEntry | null> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(file);
    } catch {
      return null;
    }
    if (!stat.isFile()) return null;
    // Looked up after the wait: a reload may have cleared the cache meanwhile.
    const cached = this.entries.get(file);
    if (cached && cached.size === stat.size && cached.mtimeMs === stat.mtimeMs) {
      cached.checkedAt = Date.now();
      return this.touch(file, cached);
    }
    if (stat.size > this.maxEntry) {
      this.remove(file);
      return { size: stat.size, mtimeMs: stat.mtimeMs, body: null };
    }
    let body: Buffer;
    try {
      body = await fs.promises.readFile(file);
    } catch {
      return null;
    }
    const entry = { size: body.length, mtimeMs: stat.mtimeMs, body, checkedAt: Date.now() };
    this.remove(file);
    this.entries.set(file, entry);
    this.bytes += body.length;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
    return entry;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private touch(file: string, entry: FileEntry): FileEntry {
    // Map order is insertion order: re-inserting makes it the most recently used.
    this.entries.delete(file);
    this.entries.set(file, entry);
    return entry;
  }

  private remove(file: string): void {
    const entry = this.entries.get(file);
    if (!entry) return;
    this.entries.delete(file);
    this.bytes -= entry.body?.length ?? 0;
  }
}
