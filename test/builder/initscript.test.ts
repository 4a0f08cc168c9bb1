// The LSB init script with a real daemon: a flavor's pen bundle installed under a private prefix
// (it finds its prefix from where it runs, as after `rpm -i --prefix`), driven through the
// rendered script. Exit codes as LSB specifies; stop returns only once the process is gone.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor, relocate, type Layout } from '../../src/flavor';
import { bundleDaemon } from '../../src/builder/bundle';
import { PROJECT_ROOT } from '../../src/builder/project';
import { copyNatives } from '../../src/builder/natives';
import { renderDaemonFiles } from '../../src/builder/templates';
import net from 'node:net';
import { DRAIN_TIMEOUT_MAX } from '../../src/pen/extensions';
import { Backend, fetchName } from '../pen/harness';
import { askSocket, isGone, killAndWait, run, tempDir, waitFor } from '../support/process';

// A flavor without a file: its ports are derived from its name and used by no other test.
const FLAVOR = 'lsbinit';
const work = tempDir('initscript');
const started = new Set<number>();

/** The init script of `l`, with its prefix moved to `prefix` the way %post does it. */
function installScript(l: Layout, prefix: string, file: string): void {
  const script = renderDaemonFiles(l).find((f) => f.kind === 'service')!.content;
  fs.writeFileSync(file, script.split(l.prefix).join(prefix), { mode: 0o755 });
}

describe('LSB init script', () => {
  const prefix = path.join(work, 'pen');
  const script = path.join(work, 'init-pen');
  let l: Layout;
  const act = async (action: string, env: NodeJS.ProcessEnv = {}) => {
    const r = await run(script, [action], { env: { ...process.env, ...env }, timeoutMs: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return r;
  };
  const pid = () => Number(fs.readFileSync(l.pidFile, 'utf8').trim());
  /** One penctl command on the flavor's control socket. */
  const control = (line: string) => askSocket(l.controlSocket, line);

  before(async () => {
    const flavor = loadFlavor(FLAVOR);
    const stamped = layout(flavor, 'pen');
    l = relocate(stamped, prefix);
    const bundles = await bundleDaemon(flavor, 'pen', l.binDir);
    await copyNatives(PROJECT_ROOT, l.libDir, bundles.some((b) => b.loadsRelay));
    fs.mkdirSync(l.configDir, { recursive: true });
    fs.writeFileSync(l.configFile, 'server 0 address 127.0.0.1 port 9\n');
    installScript(stamped, prefix, script);
  });

  after(async () => {
    for (const p of started) await killAndWait(p);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('status 3 before start, 0 after; start twice is 0 with the same process; reload 0', async () => {
    assert.equal((await act('status')).code, 3);
    const r = await act('start');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    started.add(pid());
    assert.match(r.stdout, new RegExp(`started \\(PID ${pid()}\\)`));
    assert.ok(fs.statSync(l.controlSocket).isSocket(), 'pen serves its control socket once started');
    assert.equal((await act('status')).code, 0);
    const first = pid();
    assert.equal((await act('start')).code, 0);
    assert.equal(pid(), first);
    assert.equal((await act('reload')).code, 0);
  });

  it('stop returns only once the process is gone; a process that ignores TERM is killed after STOP_TIMEOUT', async () => {
    const p = pid();
    // A stopped process cannot act on TERM: only KILL ends it.
    process.kill(p, 'SIGSTOP');
    const t0 = Date.now();
    const r = await act('stop', { STOP_TIMEOUT: '1' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(isGone(p), `PID ${p} is gone when stop returns`);
    assert.ok(Date.now() - t0 >= 1000, 'stop waited STOP_TIMEOUT before KILL');
    assert.match(r.stderr, /did not stop within 1 s; killing it/);
    assert.ok(!fs.existsSync(l.pidFile), 'the killed daemon\'s PID file is removed');
    assert.equal((await act('status')).code, 3);
  });

  it('a plain stop waits for the daemon\'s own exit', async () => {
    assert.equal((await act('start')).code, 0);
    const p = pid();
    started.add(p);
    const r = await act('stop');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isGone(p));
    assert.equal((await act('stop')).code, 0, 'stop of a stopped daemon succeeds');
  });

  it('exit codes: 1 dead with a PID file, 7 reload when not running, 2 bad action, 5 not installed', async () => {
    fs.mkdirSync(l.runDir, { recursive: true });
    fs.writeFileSync(l.pidFile, '1\n');
    assert.equal((await act('status')).code, 1, 'a PID file naming another process is dead, not running');
    fs.rmSync(l.pidFile);
    assert.equal((await act('reload')).code, 7);
    assert.equal((await act('try-restart')).code, 0, 'try-restart of a stopped daemon does nothing');
    assert.equal((await act('status')).code, 3);
    assert.equal((await act('bogus')).code, 2);
    fs.renameSync(l.programs.pen!, `${l.programs.pen}.away`);
    try {
      const r = await act('start');
      assert.equal(r.code, 5, r.stderr);
    } finally {
      fs.renameSync(`${l.programs.pen}.away`, l.programs.pen!);
    }
  });

  it('a daemon that dies after detaching is a failed start, and the message says its PID file and lock do not block', async () => {
    // A process with the daemon's command line that detaches, opens the control socket, reports
    // success and ends at once: what a daemon failing right after detaching looks like to the script.
    const real = `${l.programs.pen}.real`;
    fs.renameSync(l.programs.pen!, real);
    const opensAndDies = `import socket, sys, time; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); time.sleep(0.1)`;
    fs.writeFileSync(
      l.programs.pen!,
      `#!/bin/sh\nrm -f ${l.controlSocket}\npython3 -c '${opensAndDies}' ${l.controlSocket} "$0" </dev/null >/dev/null 2>&1 &\necho $! > ${l.pidFile}\nexit 0\n`,
      { mode: 0o755 },
    );
    try {
      const r = await act('start', { START_TIMEOUT: '3' });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /started/);
      assert.match(r.stderr, /failed to start/);
      assert.match(r.stderr, new RegExp(`PID file ${l.pidFile} and start lock ${l.startLock}, if left, do not block the next start`));
    } finally {
      fs.rmSync(l.programs.pen!);
      fs.renameSync(real, l.programs.pen!);
    }
    // The next start works from what the failed one left.
    const again = await act('start');
    assert.equal(again.code, 0, again.stderr);
    started.add(pid());
    assert.equal((await act('stop')).code, 0);
  });

  it('where koffi cannot load (the lib dir without it), pen starts on the handles, says why in status_json and --flavor, and serves', async () => {
    const backend = await new Backend('b0').start();
    fs.writeFileSync(l.configFile, `server 0 address 127.0.0.1 port ${backend.port}\n`);
    const koffi = path.join(l.libDir, 'node_modules', 'koffi');
    fs.renameSync(koffi, `${koffi}.away`);
    try {
      const flavor = JSON.parse((await run(l.programs.pen!, ['--flavor', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })).stdout) as { dataPath: string; dataPathReason: string };
      assert.equal(flavor.dataPath, 'handles');
      assert.match(flavor.dataPathReason, /^koffi cannot load libc here \(Cannot find module 'koffi'/);
      const r = await act('start');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      started.add(pid());
      const status = JSON.parse(await control('status_json')) as { data_path: string; data_path_reason: string };
      assert.equal(status.data_path, 'handles');
      assert.equal(status.data_path_reason, flavor.dataPathReason);
      assert.equal(await fetchName(l.ports.service!), 'b0');
      assert.equal((await act('stop')).code, 0);
    } finally {
      fs.renameSync(`${koffi}.away`, koffi);
      await backend.stop();
      fs.writeFileSync(l.configFile, 'server 0 address 127.0.0.1 port 9\n');
    }
  });

  // The FFI loop by default, the handles when asked for: both hand the listener over.
  for (const [dataPath, env] of [['ffi', {}], ['handles', { FLAVORKIT_PEN_DATA_PATH: 'handles' }]] as const) {
    it(`restart on the ${dataPath} data path with 50 clients looping refuses none, and a connection held across it is served to its end`, async () => {
      const backend = await new Backend('b0').start();
      fs.writeFileSync(l.configFile, `server 0 address 127.0.0.1 port ${backend.port}\ndrain_timeout 10\n`);
      const port = l.ports.service!;
      try {
        assert.equal((await act('start', env)).code, 0);
        const old = pid();
        started.add(old);
        assert.equal(JSON.parse(await control('status_json')).data_path, dataPath);
        // Half a request, finished only after the restart: the old pen must keep it.
        const held = net.connect(port, '127.0.0.1');
        let heldReply = '';
        held.on('data', (d) => (heldReply += d));
        const heldClosed = new Promise<void>((resolve) => held.on('close', () => resolve()));
        held.on('error', () => undefined);
        await new Promise<void>((resolve) => held.on('connect', () => resolve()));
        held.write('GET / HTTP/1.0\r\n');
        let looping = true;
        const failures: string[] = [];
        let served = 0;
        const loop = async () => {
          while (looping) {
            const body = await fetchName(port);
            if (body === 'b0') served++;
            else failures.push(body);
          }
        };
        const loops = Array.from({ length: 50 }, loop);
        await new Promise((r) => setTimeout(r, 500));
        const r = await act('restart', env);
        const successor = pid();
        started.add(successor);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`restarted \\(PID ${successor}; PID ${old} finishes its connections\\)`));
        assert.notEqual(successor, old);
        await new Promise((r) => setTimeout(r, 1000));
        looping = false;
        await Promise.all(loops);
        held.write('\r\n');
        await heldClosed;
        assert.match(heldReply, /^HTTP\/1\.1 200[^]*b0$/, 'the held connection got its answer from the old pen');
        assert.deepEqual(failures, [], `${failures.length} of ${served + failures.length} requests failed across the restart`);
        assert.ok(served > 50, `requests went through (${served})`);
        await waitFor('the old pen to exit once drained', () => isGone(old));
        assert.equal(JSON.parse(await control('status_json')).data_path, dataPath, 'the successor runs the same path');
        assert.equal((await act('status', env)).code, 0);

        // A config file the new pen refuses: restart fails, and the running pen goes on serving.
        fs.appendFileSync(l.configFile, 'no_such_command\n');
        const failed = await act('restart', { ...env, START_TIMEOUT: '3' });
        assert.equal(failed.code, 1, failed.stdout + failed.stderr);
        assert.match(failed.stderr, new RegExp(`\\(PID ${successor}\\) did not hand over within 3 s and goes on serving`));
        assert.equal(pid(), successor);
        assert.equal(await fetchName(port), 'b0');
        assert.ok(fs.statSync(l.controlSocket).isSocket(), 'its control socket is open again');
        assert.equal((await act('stop', env)).code, 0);
        assert.ok(isGone(successor));
      } finally {
        await backend.stop();
        fs.writeFileSync(l.configFile, 'server 0 address 127.0.0.1 port 9\n');
      }
    });
  }
});

describe('pen\'s stop outlasts its drain', () => {
  it('the init script and the systemd unit wait longer than the longest drain_timeout before KILL, and KILL the daemon alone', () => {
    const files = renderDaemonFiles(layout(loadFlavor(FLAVOR), 'pen'));
    const script = files.find((f) => f.kind === 'service' && f.content.startsWith('#!/bin/sh'))!.content;
    const unit = files.find((f) => f.path.endsWith('.service'))!.content;
    const stopTimeout = Number(/^STOP_TIMEOUT=\$\{STOP_TIMEOUT:-(\d+)\}$/m.exec(script)![1]);
    const unitTimeout = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1]);
    assert.ok(stopTimeout > DRAIN_TIMEOUT_MAX && unitTimeout > DRAIN_TIMEOUT_MAX, `${stopTimeout} s and ${unitTimeout} s outlast ${DRAIN_TIMEOUT_MAX} s`);
    // TERM (and at the end KILL) to the main process only: a successor still starting is not hit.
    assert.match(unit, /^KillMode=process$/m);
  });
});

describe('a daemon that cannot serve without configuration', () => {
  const cases = [
    ['depot', 'depot.conf', 'list a repository in'],
    ['pen', 'pen.conf', 'add a backend to'],
  ] as const;
  for (const [daemon, shipped, says] of cases) {
    it(`${daemon} with its shipped config: start exits 6 (not configured), names the file and what to add, and starts nothing`, async () => {
      const flavor = loadFlavor(FLAVOR);
      const stamped = layout(flavor, daemon);
      const prefix = path.join(work, `unconfigured-${daemon}`);
      const l = relocate(stamped, prefix);
      const script = path.join(work, `init-unconfigured-${daemon}`);
      await bundleDaemon(flavor, daemon, l.binDir);
      fs.mkdirSync(l.configDir, { recursive: true });
      fs.copyFileSync(path.join(PROJECT_ROOT, 'packaging', daemon, shipped), l.configFile);
      installScript(stamped, prefix, script);
      const r = await run(script, ['start'], { timeoutMs: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(r.code, 6, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`is not configured: ${says} ${l.configFile}`));
      assert.ok(!fs.existsSync(l.pidFile));
      assert.equal((await run(script, ['status'], { stdio: ['ignore', 'pipe', 'pipe'] })).code, 3);
    });
  }
});
