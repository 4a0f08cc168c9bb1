import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../runtime';
import { parseAction } from '../manifest';
import type { Repository } from '../repository';
import { byCodePoint, packageTableOf, PublisherIndex, SEPARATOR, tableLine } from './publisher-index';
import { indexEntries, type IndexEntry } from './tokens';

/** Memory `sort` may use before it spills to temporary files. */
const SORT_MEMORY = '16M';

/** Sorts a file's lines by their bytes with bounded memory (GNU sort spills to `tmpDir`). */
function sortLines(input: string, output: string, tmpDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sort = spawn('sort', ['-S', SORT_MEMORY, '-T', tmpDir, '-o', output, input], { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    sort.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    sort.on('error', (err) => reject(new Error(`cannot run sort to order the search index: ${err.message}; install coreutils`)));
    sort.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sort failed (${code}): ${errors.trim()}`))));
  });
}

/** Lines written in chunks of 64 KiB rather than one by one: few writes, little held at a time. */
class LineWriter {
  private pending: string[] = [];
  private size = 0;
  /** Bytes of the lines added so far, written or not. */
  written = 0;
  constructor(private readonly handle: fs.promises.FileHandle) {}
  async add(line: string): Promise<void> {
    this.pending.push(line);
    this.size += line.length;
    this.written += Buffer.byteLength(line);
    if (this.size >= 64 << 10) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.size = 0;
    await this.handle.write(text);
  }
}

/**
 * Reads every manifest of the publisher's catalog, writes one line per posting, sorts the lines
 * into the token table `table` (through `sort`, so memory stays bounded whatever the repository)
 * and notes where each token begins. The lines as written, a package's together, are kept as the
 * package table, with where each package begins. Temporary files go beside the table and are removed.
 */
export async function buildIndex(repo: Repository, pub: string, source: string, log: Pick<Logger, 'warn'>, table: string): Promise<PublisherIndex> {
  await fs.promises.mkdir(path.dirname(table), { recursive: true, mode: 0o755 });
  const unsorted = `${table}.unsorted.tmp`;
  const fmris: string[] = [];
  const packageStarts: number[] = [];
  try {
    const handle = await fs.promises.open(unsorted, 'w', 0o644);
    try {
      const writer = new LineWriter(handle);
      const packages = repo.packages(pub);
      for (const stem of [...packages.keys()].sort(byCodePoint)) {
        for (const version of packages.get(stem)!) {
          const file = repo.manifestPath(pub, { publisher: null, stem, version, complete: true });
          let manifest: Buffer;
          try {
            manifest = await fs.promises.readFile(file);
          } catch (err) {
            log.warn(`search index of ${pub}: ${stem}@${version} is in the catalog but its manifest is unreadable (${(err as Error).message})`);
            continue;
          }
          const fmri = fmris.push(`${stem}@${version}`) - 1;
          packageStarts.push(writer.written);
          // The postings of this package: one per (token, action type, key, value), with its lines.
          const found = new Map<string, { token: string; entry: IndexEntry; lines: string[]; lastLine: number }>();
          const lines = manifest.toString('utf8').split('\n');
          lines.forEach((line, n) => {
            const action = parseAction(line);
            if (!action) return;
            for (const e of indexEntries(action)) {
              // A token that would break the table's lines cannot come from a manifest line; skipped if it did.
              if (e.token.includes('\n') || e.token.includes(SEPARATOR)) continue;
              const id = `${e.token}\0${e.actionType}\0${e.key}\0${e.value}`;
              const posting = found.get(id);
              if (!posting) found.set(id, { token: e.token, entry: e, lines: [line], lastLine: n });
              else if (posting.lastLine !== n) {
                posting.lines.push(line);
                posting.lastLine = n;
              }
            }
          });
          for (const { token, entry, lines } of found.values()) await writer.add(tableLine(token, fmri, entry.actionType, entry.key, entry.value, lines));
        }
      }
      await writer.flush();
      packageStarts.push(writer.written);
    } finally {
      await handle.close();
    }
    await sortLines(unsorted, table, path.dirname(table));
    await fs.promises.rename(unsorted, packageTableOf(table));
  } finally {
    await fs.promises.rm(unsorted, { force: true });
  }
  // Where each token begins: one pass over the sorted table, a chunk at a time.
  const tokens: string[] = [];
  const starts: number[] = [];
  const stream = fs.createReadStream(table, { highWaterMark: 1 << 20 });
  let position = 0;
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let lineStart = 0;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, lineStart)) {
      const cut = data.indexOf(1, lineStart);
      const token = data.toString('utf8', lineStart, cut);
      if (token !== tokens[tokens.length - 1]) {
        tokens.push(token);
        starts.push(position + lineStart);
      }
      lineStart = nl + 1;
    }
    position += lineStart;
    rest = data.subarray(lineStart);
  }
  starts.push(position + rest.length);
  return new PublisherIndex(source, fmris, tokens, starts, table, packageStarts);
}
