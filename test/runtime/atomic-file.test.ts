import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/runtime';
import { tempDir } from '../support/process';

describe('writeFileAtomic', () => {
  const dir = tempDir('atomic');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const leftovers = () => fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp'));

  it('replaces the file by a rename: a reader holding the old one keeps reading it whole', () => {
    const file = path.join(dir, 'state');
    writeFileAtomic(file, 'old\n');
    const held = fs.openSync(file, 'r');
    try {
      writeFileAtomic(file, 'new\n');
      assert.equal(fs.readFileSync(file, 'utf8'), 'new\n');
      assert.equal(fs.readFileSync(held, 'utf8'), 'old\n');
    } finally {
      fs.closeSync(held);
    }
    assert.deepEqual(leftovers(), []);
  });

  it('creates the directory and gives the mode when asked', () => {
    const file = path.join(dir, 'run/sub/pid');
    writeFileAtomic(file, '1\n', { mode: 0o640, createDir: true });
    assert.equal(fs.statSync(file).mode & 0o777, 0o640 & ~process.umask());
  });

  it('a path whose directory is missing is refused unless asked to create it, and nothing is created', () => {
    const file = path.join(dir, 'missing/saved.cfg');
    assert.throws(() => writeFileAtomic(file, 'x'), { code: 'ENOENT' });
    assert.equal(fs.existsSync(path.dirname(file)), false);
  });

  it('a failed rename leaves the target as it was and no temp file behind', () => {
    const target = path.join(dir, 'busy');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside'), 'kept');
    assert.throws(() => writeFileAtomic(target, 'x'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.equal(fs.readFileSync(path.join(target, 'inside'), 'utf8'), 'kept');
    assert.deepEqual(leftovers(), []);
  });
});
