import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_FLAVORS_DIR } from '../../src/flavor';
import { PROJECT_ROOT, run, tempDir } from '../support/process';

const FLAVOR_CLI = path.join(PROJECT_ROOT, 'bin/flavor');

function doctor(names: string[], flavorsDir?: string) {
  const env = flavorsDir ? { ...process.env, FLAVORKIT_FLAVORS_DIR: flavorsDir } : process.env;
  return run(process.execPath, [FLAVOR_CLI, 'doctor', ...names], { cwd: PROJECT_ROOT, env });
}

describe('flavor doctor', () => {
  let dir: string;
  before(() => {
    // The shipped flavors, plus deliberately colliding ones.
    dir = tempDir('doctor');
    for (const f of fs.readdirSync(DEFAULT_FLAVORS_DIR)) fs.copyFileSync(path.join(DEFAULT_FLAVORS_DIR, f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'samep.json'), JSON.stringify({ daemons: ['pen'], ports: { pen: { service: 8180, control: 9181 } } }));
    fs.writeFileSync(path.join(dir, 'samem.json'), JSON.stringify({ daemons: ['pen'], ports: { pen: { service: 9180, control: 9181, metrics: 8182 } } }));
    fs.writeFileSync(path.join(dir, 'squat.json'), JSON.stringify({ daemons: ['pen'], prefix: '/usr/local/abc-pen', ports: { pen: { service: 9280, control: 9281 } } }));
    fs.writeFileSync(path.join(dir, 'inside.json'), JSON.stringify({ daemons: ['depot'], prefix: '/usr/local/abc-pen/sub', ports: { depot: { service: 9380 } } }));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds nothing between tog, abc and the vendor flavor acme', async () => {
    // Files of other installs on this host are not the point here: --force keeps them warnings.
    const result = await doctor(['--force', 'tog', 'abc', 'acme']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /no collisions between tog, abc, acme/);
    assert.doesNotMatch(result.stdout, /collision:/);
  });

  it('reports the same port, naming it and both owners', async () => {
    const result = await doctor(['abc', 'samep'], dir);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /collision: service port 8180 is shared by abc\/pen, samep\/pen/);
    assert.equal(result.stdout.match(/collision:/g)?.length, 1, result.stdout);
  });

  it("reports pen's metrics port shared with another flavor's", async () => {
    const result = await doctor(['abc', 'samem'], dir);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /collision: metrics port 8182 is shared by abc\/pen, samem\/pen/);
    assert.equal(result.stdout.match(/collision:/g)?.length, 1, result.stdout);
  });

  it('reports a prefix override that points at another flavor\'s prefix', async () => {
    const result = await doctor(['abc', 'squat'], dir);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /collision: program pen \/usr\/local\/abc-pen\/bin\/pen is shared by abc\/pen, squat\/pen/);
    assert.match(result.stdout, /collision: configFile \/usr\/local\/abc-pen\/etc\/pen\/pen.conf/);
  });

  it('reports a prefix nested inside another flavor\'s prefix', async () => {
    const result = await doctor(['abc', 'inside'], dir);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /inside abc\/pen's \/usr\/local\/abc-pen .* is shared by abc\/pen, inside\/depot/);
  });

  it('fails on a target path that exists on this host and is not ours; --force makes it a warning', async () => {
    const target = path.join(dir, 'host');
    fs.writeFileSync(path.join(dir, 'hosted.json'), JSON.stringify({ daemons: ['pen'], prefix: target, ports: { pen: { service: 9480, control: 9481 } } }));
    fs.mkdirSync(path.join(target, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(target, 'bin', 'pen'), 'someone else\'s pen\n');
    const result = await doctor(['hosted'], dir);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`error: ${target}/bin/pen \\(hosted/pen\\) already exists on this host`));
    assert.match(result.stdout, /pass --force to go on/);
    const forced = await doctor(['--force', 'hosted'], dir);
    assert.equal(forced.code, 0, forced.stdout);
    assert.match(forced.stdout, new RegExp(`warning: ${target}/bin/pen \\(hosted/pen\\) already exists on this host`));
  });
});
