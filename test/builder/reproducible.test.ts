import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultPackageOptions } from '../../src/builder/package';
import { tempDir } from '../support/process';
import { assembleFlavor } from './assemble';

const work = tempDir('repro');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('reproducible packages', () => {
  it('the same flavor built twice with one SOURCE_DATE_EPOCH gives identical bundles and RPMs', async () => {
    const options = { ...defaultPackageOptions(), sourceDateEpoch: '1700000000' };
    // Different build directories, a second apart: neither may leak into the output.
    const first = await assembleFlavor('abc', path.join(work, 'one'), options);
    await new Promise((r) => setTimeout(r, 1100));
    const second = await assembleFlavor('abc', path.join(work, 'two', 'deeper'), options);
    assert.equal(first.length, second.length);
    for (let i = 0; i < first.length; i++) {
      const a = first[i]!;
      const b = second[i]!;
      for (const program of Object.values(a.layout.programs)) {
        assert.equal(sha(path.join(a.root, program)), sha(path.join(b.root, program)), `bundle ${program}`);
      }
      assert.equal(path.basename(a.rpm), path.basename(b.rpm));
      assert.equal(sha(a.rpm), sha(b.rpm), `${path.basename(a.rpm)} is byte-identical`);
      const buildTime = execFileSync('rpm', ['-qp', '--qf', '%{BUILDTIME} %{BUILDHOST}', a.rpm]).toString();
      assert.equal(buildTime, '1700000000 flavorkit.build');
      const mtimes = execFileSync('rpm', ['-qp', '--qf', '[%{FILEMTIMES}\n]', a.rpm]).toString().trim().split('\n');
      assert.ok(mtimes.every((m) => Number(m) <= 1700000000), 'file times are clamped to SOURCE_DATE_EPOCH');
    }
  });

  it('another SOURCE_DATE_EPOCH changes the package, not the bundles', async () => {
    const base = defaultPackageOptions();
    const a = await assembleFlavor('acme', path.join(work, 'e1'), { ...base, sourceDateEpoch: '1700000000' });
    const b = await assembleFlavor('acme', path.join(work, 'e2'), { ...base, sourceDateEpoch: '1700000100' });
    assert.notEqual(sha(a[0]!.rpm), sha(b[0]!.rpm));
    assert.equal(sha(path.join(a[0]!.root, a[0]!.layout.programs.pen!)), sha(path.join(b[0]!.root, b[0]!.layout.programs.pen!)));
  });
});
