import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FileCache } from '../../src/depot/filecache';
import { tempDir } from '../support/process';

describe('the depot file cache', () => {
  const dir = tempDir('filecache');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const SIZE = 1000;
  const write = (name: string, fill: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, fill.repeat(SIZE));
    return file;
  };

  it('misses for one file at the same time read it once and count it once', async () => {
    // Room for exactly three files: a file counted twice would push the others out.
    const cache = new FileCache(3 * SIZE, SIZE);
    const [a, b, c] = [write('a', 'a'), write('b', 'b'), write('c', 'c')];
    const entries = await Promise.all(Array.from({ length: 20 }, () => cache.get(a, true)));
    assert.ok(entries.every((e) => e === entries[0]), 'one entry shared by every caller');
    await cache.get(b, true);
    await cache.get(c, true);
    for (const [file, fill] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) {
      assert.equal(cache.peek(file, true)?.body?.toString(), fill.repeat(SIZE), `${path.basename(file)} still cached`);
    }
    // A fourth file makes room by dropping the least recently used one only.
    const d = write('d', 'd');
    await cache.get(d, true);
    assert.equal(cache.peek(a, true), undefined);
    assert.ok(cache.peek(b, true) && cache.peek(c, true) && cache.peek(d, true));
  });

  it('a cache cleared while a file is read keeps a true count', async () => {
    const cache = new FileCache(2 * SIZE, SIZE);
    const [e, f] = [write('e', 'e'), write('f', 'f')];
    await cache.get(e, false);
    const loading = Promise.all([cache.get(f, false), cache.get(f, false)]);
    cache.clear();
    await loading;
    await cache.get(e, false);
    assert.ok(cache.peek(e, true) && cache.peek(f, true), 'both fit: nothing counted twice or lost');
  });

  it('a file larger than an entry is not kept, and a replaced file is read again', async () => {
    const cache = new FileCache(10 * SIZE, SIZE);
    const big = path.join(dir, 'big');
    fs.writeFileSync(big, 'x'.repeat(SIZE + 1));
    const entry = await cache.get(big, false);
    assert.equal(entry?.body, null);
    assert.equal(entry?.size, SIZE + 1);
    assert.equal(cache.peek(big, true), undefined);
    const g = write('g', 'g');
    await cache.get(g, false);
    fs.writeFileSync(`${g}.new`, 'h'.repeat(SIZE + 10));
    fs.renameSync(`${g}.new`, g);
    // Not re-checked within a second of the last look...
    assert.equal(cache.peek(g, false)?.body?.toString(), 'g'.repeat(SIZE));
    // ...and a look after it sees the new file.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await cache.get(g, false))?.size, SIZE + 10);
  });
});
