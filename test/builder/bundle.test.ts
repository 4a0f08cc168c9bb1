import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor, relocate, type Layout } from '../../src/flavor';
import { FIXTURES_DIR, killAndWait, PROJECT_ROOT, run, tempDir, waitFor } from '../support/process';
import { RELAY } from '../../src/builder/natives';

const FLAVOR_CLI = path.join(PROJECT_ROOT, 'bin/flavor');

/** Every file below a directory with the hash of its content and its mtime. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${fs.statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

describe('stamped bundles', () => {
  let dist: string;
  const build = (name: string) =>
    run(process.execPath, [FLAVOR_CLI, 'build', name], { cwd: PROJECT_ROOT, env: { ...process.env, FLAVORKIT_DIST_DIR: dist }, timeoutMs: 120000 });
  const stagedBin = (l: Layout, program: string) => path.join(dist, l.flavor, l.daemon, 'root', l.programs[program]!);
  // pen says whether koffi loads from where the bundle lies (the FFI path is its default).
  const flavorOf = async (file: string) => {
    const answer = await run(process.execPath, [file, '--flavor', '--json'], { env: { ...process.env, FLAVORKIT_PEN_DATA_PATH: '' } });
    assert.equal(answer.code, 0, answer.stderr);
    // pen adds the data path it would run (src/pen/transport.ts).
    return JSON.parse(answer.stdout) as Layout & { origin: string; dataPath?: string; dataPathReason?: string };
  };

  const listed = new Map<string, string>();
  before(async () => {
    dist = tempDir('dist');
    for (const name of ['abc', 'tog', 'acme']) {
      const built = await build(name);
      assert.equal(built.code, 0, built.stderr);
      listed.set(name, built.stdout);
    }
  });

  it('the build ends by listing every package it wrote, with its size', () => {
    for (const [name, stdout] of listed) {
      const rpms = fs.readdirSync(path.join(dist, name)).filter((f) => f.endsWith('.rpm'));
      assert.equal(rpms.length, loadFlavor(name).daemons.length);
      const tail = stdout.slice(stdout.lastIndexOf('packages:'));
      for (const rpm of rpms) {
        const file = path.join(dist, name, rpm);
        assert.ok(tail.includes(`  ${file} (${fs.statSync(file).size} bytes)\n`), `${file} listed in:\n${tail}`);
      }
    }
  });
  after(() => fs.rmSync(dist, { recursive: true, force: true }));

  it('pen\'s relay library ships in pen\'s lib dir alone, the one daemon whose bundle loads it', () => {
    for (const daemon of ['pen', 'depot', 'init'] as const) {
      const l = layout(loadFlavor('abc'), daemon);
      const lib = path.join(dist, l.flavor, l.daemon, 'root', l.libDir);
      assert.ok(fs.existsSync(path.join(lib, 'node_modules', 'koffi')), `${lib} ships koffi`);
      assert.equal(fs.existsSync(path.join(lib, RELAY.library)), daemon === 'pen', `${daemon}: ${RELAY.library} in ${lib}`);
    }
  });

  it('the tog bundles print tog\'s layout, stamped', async () => {
    for (const daemon of ['pen', 'depot', 'init'] as const) {
      const l = layout(loadFlavor('tog'), daemon);
      const { origin, dataPath, dataPathReason, ...printed } = await flavorOf(stagedBin(l, Object.keys(l.programs)[0]!));
      assert.equal(origin, 'stamped');
      // Not relocatable: koffi loads from the installed libDir only, so a staged bundle runs on the handles.
      const installed = fs.existsSync(path.join(l.libDir, 'node_modules/koffi'));
      assert.equal(dataPath, daemon === 'pen' ? (installed ? 'ffi' : 'handles') : undefined);
      if (daemon === 'pen' && !installed) assert.match(dataPathReason ?? '', /koffi cannot load/);
      assert.deepEqual(printed, JSON.parse(JSON.stringify(l)));
    }
  });

  it('the abc bundles print abc\'s layout, rebased onto where the bundle lies (relocatable)', async () => {
    for (const daemon of ['pen', 'depot', 'init'] as const) {
      const l = layout(loadFlavor('abc'), daemon);
      const file = stagedBin(l, Object.keys(l.programs)[0]!);
      const { origin, dataPath, ...printed } = await flavorOf(file);
      assert.equal(origin, 'stamped');
      assert.equal(dataPath, daemon === 'pen' ? 'ffi' : undefined);
      assert.deepEqual(printed, JSON.parse(JSON.stringify(relocate(l, path.dirname(path.dirname(file))))));
      assert.equal(printed.logIdentity, daemon === 'init' ? 'isinitabc' : `${daemon}abc`);
    }
  });

  it('every program of a flavor answers --flavor with its own daemon and flavor', async () => {
    const l = layout(loadFlavor('abc'), 'pen');
    for (const program of Object.keys(l.programs)) {
      const printed = await flavorOf(stagedBin(l, program));
      assert.equal(printed.flavor, 'abc');
      assert.equal(printed.daemon, 'pen');
    }
  });

  it('the depot, run as a command, gets the Node options its #! line gives; other programs get none', async () => {
    const depot = stagedBin(layout(loadFlavor('abc'), 'depot'), 'depot');
    assert.equal(fs.readFileSync(depot, 'utf8').split('\n', 1)[0], '#!/usr/bin/node --no-memory-reducer');
    assert.equal(fs.readFileSync(stagedBin(layout(loadFlavor('abc'), 'pen'), 'penctl'), 'utf8').split('\n', 1)[0], '#!/usr/bin/node');
    const root = tempDir('depot-options');
    const child = spawn(depot, ['-f', '-p', '0', '-d', path.join(FIXTURES_DIR, 'pkg5/sample-repo')], { env: { ...process.env, FLAVORKIT_ROOT: root }, stdio: 'ignore' });
    try {
      // The kernel runs node with the #! line's option, then the script.
      const argv = await waitFor('node to run the depot', () => {
        const args = fs.existsSync(`/proc/${child.pid}/cmdline`) ? fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0') : [];
        return path.basename(args[0] ?? '') === 'node' ? args : undefined;
      });
      assert.deepEqual(argv.slice(1, 3), ['--no-memory-reducer', depot]);
    } finally {
      await killAndWait(child.pid!, 'SIGTERM');
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('the vendor flavor acme has no TLS or UDP code in its pen, and a smaller bundle', () => {
    const full = fs.readFileSync(stagedBin(layout(loadFlavor('abc'), 'pen'), 'pen'), 'utf8');
    const slim = fs.readFileSync(stagedBin(layout(loadFlavor('acme'), 'pen'), 'pen'), 'utf8');
    for (const marker of ['createSecureContext', 'createTlsServer', 'startUdp']) {
      assert.ok(full.includes(marker), `the full bundle has ${marker}`);
      assert.ok(!slim.includes(marker), `the acme bundle has no ${marker}`);
    }
    assert.ok(slim.length < full.length, `${slim.length} < ${full.length}`);
    assert.deepEqual(fs.readdirSync(path.join(dist, 'acme')).filter((f) => !f.endsWith('.rpm') && !f.endsWith('.deb') && f !== 'rpm').sort(), ['pen']);
  });

  it('a flavor without the search feature has a depot with no search code in it', async () => {
    const flavors = tempDir('flavors');
    const slimDist = tempDir('dist-slim');
    try {
      fs.writeFileSync(path.join(flavors, 'nosearch.json'), JSON.stringify({ daemons: ['depot'], features: { search: false } }));
      const built = await run(process.execPath, [FLAVOR_CLI, 'build', 'nosearch'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, FLAVORKIT_DIST_DIR: slimDist, FLAVORKIT_FLAVORS_DIR: flavors },
        timeoutMs: 120000,
      });
      assert.equal(built.code, 0, built.stderr);
      const slimLayout = layout(loadFlavor('nosearch', flavors), 'depot');
      const slim = fs.readFileSync(path.join(slimDist, 'nosearch', 'depot', 'root', slimLayout.programs.depot!), 'utf8');
      const full = fs.readFileSync(stagedBin(layout(loadFlavor('abc'), 'depot'), 'depot'), 'utf8');
      for (const marker of ['Return from search v1', 'Could not parse query']) {
        assert.ok(full.includes(marker), `the full bundle has ${marker}`);
        assert.ok(!slim.includes(marker), `the search-less bundle has no ${marker}`);
      }
    } finally {
      fs.rmSync(flavors, { recursive: true, force: true });
      fs.rmSync(slimDist, { recursive: true, force: true });
    }
  });

  it('building one flavor leaves another flavor\'s output untouched', async () => {
    const abc = path.join(dist, 'abc');
    const before = snapshot(abc);
    const again = await build('tog');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(snapshot(abc), before);
  });

  it('a refused build leaves the previous output in place and no staging directory behind', async () => {
    const before = snapshot(path.join(dist, 'abc'));
    const flavors = path.join(dist, 'flavors-with-a-clash');
    fs.mkdirSync(flavors);
    fs.copyFileSync(path.join(PROJECT_ROOT, 'flavors/abc.json'), path.join(flavors, 'abc.json'));
    fs.writeFileSync(path.join(flavors, 'clash.json'), JSON.stringify({ daemons: ['pen'], ports: { pen: { service: 8180, control: 9999 } } }));
    const refused = await run(process.execPath, [FLAVOR_CLI, 'build', 'abc'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, FLAVORKIT_DIST_DIR: dist, FLAVORKIT_FLAVORS_DIR: flavors },
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /flavor abc collides with other flavors:\n {2}service port 8180: abc\/pen and clash\/pen/);
    assert.deepEqual(snapshot(path.join(dist, 'abc')), before);
    assert.deepEqual(fs.readdirSync(dist).filter((f) => f.startsWith('.')), []);
  });
});
