import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCached } from '../../src/depot/cached-read';
import { streamFile } from '../../src/depot/stream';
import { tempDir } from '../support/process';

/** statfs(2)'s f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/** Node's thread pool, which reads files, resolves names and runs fs calls. */
const POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

/**
 * Every thread of the pool held in an open() of a FIFO that nobody writes to, until `release`:
 * a file read through the pool meanwhile waits for it.
 */
function holdThePool(dir: string): { release: () => Promise<void> } {
  const fifos = Array.from({ length: POOL_THREADS }, (_, i) => path.join(dir, `hold-${i}`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  const opening = fifos.map((fifo) => fs.promises.open(fifo, 'r'));
  return {
    async release() {
      // A writer's open completes the reader's; both ends are closed at once.
      for (const fifo of fifos) fs.closeSync(fs.openSync(fifo, 'w'));
      for (const handle of await Promise.all(opening)) await handle.close();
      for (const fifo of fifos) fs.rmSync(fifo);
    },
  };
}

describe('a large file streamed from the page cache', () => {
  const dir = tempDir('stream');
  const file = path.join(dir, 'payload');
  // Larger than what loopback sockets buffer between a paused client and the server.
  const content = crypto.randomBytes(32 * 1024 * 1024 + 17);
  let server: http.Server;
  let streaming: Promise<void> = Promise.resolve();
  before(async () => {
    fs.writeFileSync(file, content);
    // Read once, as a file served before is: the page cache holds it.
    fs.readFileSync(file);
    server = http.createServer((req, res) => {
      const [served, start, end] = req.url === '/range' ? [file, 1_000_000, 30_000_000] : req.url === '/cold' ? [path.join(dir, 'cold'), 0, 4 * 1024 * 1024 - 1] : [file, 0, content.length - 1];
      res.writeHead(200, { 'Content-Length': end - start + 1 });
      streaming = streamFile(served, start, end, res).catch(() => {
        res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** GETs `urlPath`, pausing after the headers until `whilePaused` is done; the whole body. */
  const fetchPaused = (urlPath: string, whilePaused: () => Promise<void>) =>
    new Promise<Buffer>((resolve, reject) => {
      const { port } = server.address() as net.AddressInfo;
      const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
        res.pause();
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
        whilePaused().then(() => res.resume(), reject);
      });
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error(`${urlPath}: the body stopped coming for 10 s`)));
    });

  it('is read on the serving thread: it goes out whole while every pool thread is busy', async () => {
    const fd = fs.openSync(file, 'r');
    const probe = readCached(fd, Buffer.alloc(16), 16, 0);
    fs.closeSync(fd);
    assert.equal(probe, 16, 'this machine reads from the page cache without the pool (preadv2 through koffi)');
    let pool: { release: () => Promise<void> } | null = null;
    try {
      const body = await fetchPaused('/', async () => {
        // The server has filled the socket buffers and waits for the client to read on.
        await new Promise((resolve) => setTimeout(resolve, 200));
        pool = holdThePool(dir);
        await new Promise((resolve) => setTimeout(resolve, 100));
      });
      assert.equal(body.length, content.length);
      assert.ok(body.equals(content), 'each byte as stored');
    } finally {
      await (pool as { release: () => Promise<void> } | null)?.release();
    }
    await streaming;
  });

  it('a range across many chunks, each byte as stored, chunks read at any offset', async () => {
    const body = await fetchPaused('/range', () => Promise.resolve());
    assert.ok(body.equals(content.subarray(1_000_000, 30_000_001)));
    await streaming;
  });

  it('a file the page cache does not hold is read through the pool, whole', async (t) => {
    const cold = path.join(dir, 'cold');
    fs.writeFileSync(cold, content.subarray(0, 4 * 1024 * 1024));
    const fd = fs.openSync(cold, 'r');
    try {
      // Written back, then dropped from the page cache: a read has to wait for the disk.
      fs.fdatasyncSync(fd);
      execFileSync('dd', [`if=${cold}`, 'iflag=nocache', 'count=0', 'status=none']);
      if (fs.statfsSync(dir).type === TMPFS_MAGIC) t.diagnostic('the scratch directory is in memory (tmpfs): nothing to drop');
      else assert.equal(readCached(fd, Buffer.alloc(4096), 4096, 0), null, 'a read the page cache cannot answer is refused');
    } finally {
      fs.closeSync(fd);
    }
    const body = await fetchPaused('/cold', () => Promise.resolve());
    assert.ok(body.equals(content.subarray(0, 4 * 1024 * 1024)));
    await streaming;
  });
});
