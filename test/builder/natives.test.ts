import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { copyNatives, copyPackageData } from '../../src/builder/natives';
import { BuildError } from '../../src/builder/project';
import { tempDir } from '../support/process';

describe('native addons of a build', () => {
  it('a checkout without node_modules stops the build with a BuildError saying to run npm ci', async () => {
    const checkout = tempDir('natives');
    try {
      const isMissingNpmCi = (err: unknown) => err instanceof BuildError && /is missing; run 'npm ci'/.test(err.message);
      await assert.rejects(copyNatives(checkout, path.join(checkout, 'lib')), isMissingNpmCi);
      await assert.rejects(copyPackageData(checkout, path.join(checkout, 'lib'), ['etcd3']), isMissingNpmCi);
      assert.ok(!fs.existsSync(path.join(checkout, 'lib')), 'nothing is copied');
    } finally {
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });
});
