import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { compileRelay, copyNatives, copyPackageData, RELAY } from '../../src/builder/natives';
import { PROJECT_ROOT } from '../support/process';
import { BuildError } from '../../src/builder/project';
import { tempDir } from '../support/process';

describe('native addons of a build', () => {
  it('a checkout without node_modules stops the build with a BuildError saying to run npm ci', async () => {
    const checkout = tempDir('natives');
    try {
      const isMissingNpmCi = (err: unknown) => err instanceof BuildError && /is missing; run 'npm ci'/.test(err.message);
      await assert.rejects(copyNatives(checkout, path.join(checkout, 'lib'), true), isMissingNpmCi);
      await assert.rejects(copyPackageData(checkout, path.join(checkout, 'lib'), ['etcd3']), isMissingNpmCi);
      assert.ok(!fs.existsSync(path.join(checkout, 'lib')), 'nothing is copied');
    } finally {
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });

  it("pen's C relay round compiles to a stripped, hardened shared object that is not executable", async () => {
    const dir = tempDir('relay');
    try {
      const out = path.join(dir, RELAY.library);
      assert.equal(await compileRelay(PROJECT_ROOT, out), null);
      assert.equal(fs.statSync(out).mode & 0o777, 0o644);
      const headers = execFileSync('readelf', ['-d', '-W', out], { encoding: 'utf8' });
      assert.match(headers, /\(BIND_NOW\)|FLAGS.*\bNOW\b/, 'bound at load (-z now)');
      assert.match(execFileSync('readelf', ['-l', '-W', out], { encoding: 'utf8' }), /GNU_RELRO/);
      const symbols = execFileSync('nm', ['-D', '--defined-only', out], { encoding: 'utf8' });
      assert.match(symbols, / T pen_relay_round\n/);
      assert.match(symbols, / T pen_relay_version\n/);
      assert.doesNotMatch(execFileSync('file', [out], { encoding: 'utf8' }), /not stripped/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a C compiler the build says so and goes on without the relay library; a source that does not compile stops it', async () => {
    const dir = tempDir('relay');
    const cc = process.env.CC;
    try {
      process.env.CC = path.join(dir, 'no-such-cc');
      const out = path.join(dir, RELAY.library);
      assert.match((await compileRelay(PROJECT_ROOT, out)) ?? '', /no-such-cc is missing: pen's FFI loop ships without pen-relay\.so and relays in TypeScript rounds \(apt-get install gcc libc6-dev/);
      assert.ok(!fs.existsSync(out));
      delete process.env.CC;
      const broken = path.join(dir, 'checkout');
      fs.mkdirSync(path.join(broken, path.dirname(RELAY.source)), { recursive: true });
      fs.writeFileSync(path.join(broken, RELAY.source), 'int pen_relay_version(void) { return }\n');
      await assert.rejects(compileRelay(broken, out), (err: unknown) => err instanceof BuildError && /could not compile src\/pen\/ffi\/relay\.c: .*error/s.test(err.message));
    } finally {
      if (cc === undefined) delete process.env.CC;
      else process.env.CC = cc;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
