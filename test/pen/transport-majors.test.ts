// pen's byte path rests on Node internals (the libuv handle bindings) and on koffi's prebuilt
// addon (the FFI path), so their contracts (test/pen/transport.test.ts, transport-ffi.test.ts) run
// on every Node major package.json allows, each installed from the npm registry (the `node`
// package) into a cache beside the project, never system-wide.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PROJECT_ROOT, run, TSX_LOADER } from '../support/process';

const MAJORS = [20, 22, 24];
const CACHE = path.join(PROJECT_ROOT, '.tmp/node-majors');

/** The `node` binary of one major: this process's own when it is that major, else from the cache. */
function nodeOf(major: number): string {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const dir = path.join(CACHE, String(major));
  const bin = path.join(dir, 'node_modules/node/bin/node');
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', `node@${major}`], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300000 });
  }
  return bin;
}

/**
 * Each failed case of a TAP report with the YAML block under it (its error, expected and actual
 * values, location), and the pass/fail counts: what the parent shows when a child run fails.
 */
function tapFailures(tap: string): string {
  const out: string[] = [];
  let inFailure = false;
  let indent = '';
  for (const line of tap.split('\n')) {
    const failed = /^(\s*)not ok /.exec(line);
    if (failed) {
      inFailure = true;
      indent = failed[1]!;
      out.push(line);
    } else if (inFailure && line.startsWith(`${indent}  `)) {
      out.push(line);
      if (line.trim() === '...') inFailure = false;
    } else {
      inFailure = false;
      if (/^# (pass|fail)/.test(line)) out.push(line);
    }
  }
  return out.join('\n');
}

describe('the byte path on every supported Node major', () => {
  for (const major of MAJORS) {
    it(`Node ${major}`, async () => {
      const node = nodeOf(major);
      const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
      assert.match(version, new RegExp(`^v${major}\\.`));
      // Its own run, reporting in TAP, not as a child of this runner (NODE_TEST_CONTEXT).
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const ran = await run(node, [...TSX_LOADER, '--test', '--test-reporter=tap', 'test/pen/transport.test.ts', 'test/pen/transport-ffi.test.ts'], { cwd: PROJECT_ROOT, env: { ...env, FLAVORKIT_PEN_DATA_PATH: '' }, timeoutMs: 480000 });
      assert.equal(ran.code, 0, `${version}:\n${tapFailures(ran.stdout)}\n${ran.stderr.slice(-2000)}`);
      assert.match(ran.stdout, new RegExp(`ok \\d+ - Node ${major} offers the handle path`), `${version} runs pen on the handles`);
      assert.match(ran.stdout, new RegExp(`ok \\d+ - Node ${major} loads koffi and libc`), `${version} runs pen's FFI path`);
    });
  }
});
