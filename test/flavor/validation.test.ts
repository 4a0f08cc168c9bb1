import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROJECT_ROOT, run, tempDir } from '../support/process';

const FLAVOR_CLI = path.join(PROJECT_ROOT, 'bin/flavor');

// Builds go to a private output directory, which must stay empty.
const DIST = tempDir('dist');
after(() => fs.rmSync(DIST, { recursive: true, force: true }));

function flavor(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, [FLAVOR_CLI, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, FLAVORKIT_DIST_DIR: DIST, ...env } });
}

function distEntries(): string[] {
  return fs.readdirSync(DIST).sort();
}

describe('bad flavor names are refused before anything is written', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /flavor name is empty/],
    ['ABC', /"ABC" is not allowed/],
    ['a b', /"a b" is not allowed/],
    ['a;rm -rf', /"a;rm -rf" is not allowed/],
    ['../x', /"..\/x" is not allowed/],
    ['$(id)', /"\$\(id\)" is not allowed/],
    ['a'.repeat(40), /is 40 characters long/],
    ['pen', /is the name of a daemon or program/],
    ['depot', /is the name of a daemon or program/],
    ['isinit', /is the name of a daemon or program/],
  ];
  for (const [name, message] of bad) {
    it(`refuses ${JSON.stringify(name)}`, async () => {
      const before = distEntries();
      const result = await flavor(['build', name]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /lowercase|choose another name/, 'the message says how to fix it');
      assert.deepEqual(distEntries(), before);
    });
  }
  it('refuses a bad name given through FLAVOR', async () => {
    const result = await flavor(['build'], { FLAVOR: 'Bad' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /"Bad" is not allowed/);
  });
});

describe('bad flavor files are refused with the key named', () => {
  let dir: string;
  before(() => {
    dir = tempDir('flavors');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown key', { daemons: ['pen'], colour: 'red' }, /unrecognized key.*colour|colour/i],
    ['wrong type', { daemons: 'pen' }, /daemons:/],
    ['unknown daemon', { daemons: ['pen', 'ftp'] }, /daemons\.1/],
    ['port out of range', { ports: { pen: { service: 70000 } } }, /ports\.pen\.service/],
    ['port of a daemon that has none', { ports: { init: { service: 9 } } }, /ports\.init/],
    ['unknown feature', { features: { ipv9: false } }, /features/],
    ['relative prefix', { prefix: 'opt/x' }, /prefix/],
    ['prefix with ..', { prefix: '/opt/../etc' }, /prefix/],
    ['bad user', { user: 'Root Admin' }, /user/],
  ];
  for (const [what, content, message] of cases) {
    it(what, async () => {
      fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(content));
      const before = distEntries();
      const result = await flavor(['build', 'bad'], { FLAVORKIT_FLAVORS_DIR: dir });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /flavor file .*bad\.json for flavor "bad" is invalid/);
      assert.match(result.stderr, message);
      assert.deepEqual(distEntries(), before);
    });
  }
  it('invalid JSON', async () => {
    fs.writeFileSync(path.join(dir, 'bad.json'), '{ "daemons": [pen] }');
    const result = await flavor(['show', 'bad'], { FLAVORKIT_FLAVORS_DIR: dir });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is not valid JSON .*fix its syntax/);
  });
});
