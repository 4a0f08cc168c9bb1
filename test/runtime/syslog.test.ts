import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor, underRoot } from '../../src/flavor';
import { askSocket, PROJECT_ROOT, killAndWait, run, TSX_LOADER, tempDir, waitFor } from '../support/process';

const DEV_LOG = '/dev/log';

/**
 * A real rsyslogd from Debian, listening on a private socket and writing to a file the test
 * reads. The daemon under test reaches it through /dev/log: a link the test creates when the
 * host has none, or a bind mount in a private mount namespace when it has one of its own.
 */
describe('log identity through syslog', () => {
  let dir: string;
  let rsyslogd: ChildProcess | undefined;
  let createdDevLog = false;
  const socket = () => path.join(dir, 'log.sock');
  const messages = () => path.join(dir, 'messages');

  const startRsyslogd = async () => {
    fs.rmSync(socket(), { force: true });
    rsyslogd = spawn('rsyslogd', ['-n', '-f', path.join(dir, 'rsyslog.conf'), '-i', path.join(dir, 'rsyslogd.pid')], { stdio: 'ignore' });
    await waitFor('rsyslogd to open its socket', () => fs.existsSync(socket()));
  };

  /** Starts the runtime's test daemon (flavor abc) in ROOT, reaching rsyslogd through /dev/log; its PID. */
  const startDaemon = async (root: string, env: NodeJS.ProcessEnv = {}): Promise<number> => {
    const daemon = [process.execPath, ...TSX_LOADER, path.join(PROJECT_ROOT, 'test/support/runtime-daemon.ts')];
    const command = createdDevLog
      ? daemon
      : ['unshare', '--mount', '--', 'sh', '-c', `mount --bind "$0" ${DEV_LOG} && exec "$@"`, socket(), ...daemon];
    const started = await run(command[0]!, command.slice(1), {
      cwd: PROJECT_ROOT,
      env: { ...process.env, FLAVOR: 'abc', FLAVORKIT_ROOT: root, ...env },
      timeoutMs: 30000,
    });
    assert.equal(started.code, 0, started.stderr);
    return Number(fs.readFileSync(underRoot(layout(loadFlavor('abc'), 'pen'), root).pidFile, 'utf8'));
  };

  before(async () => {
    dir = tempDir('syslog');
    fs.writeFileSync(
      path.join(dir, 'rsyslog.conf'),
      [
        `global(workDirectory="${dir}")`,
        `module(load="imuxsock" SysSock.Use="off")`,
        `input(type="imuxsock" Socket="${socket()}" CreatePath="on")`,
        `*.* action(type="omfile" file="${messages()}" template="RSYSLOG_TraditionalFileFormat")`,
        '',
      ].join('\n'),
    );
    await startRsyslogd();
    if (!fs.existsSync(DEV_LOG)) {
      fs.symlinkSync(socket(), DEV_LOG);
      createdDevLog = true;
    }
  });

  after(async () => {
    if (createdDevLog && fs.readlinkSync(DEV_LOG) === socket()) fs.rmSync(DEV_LOG);
    if (rsyslogd?.pid) await killAndWait(rsyslogd.pid, 'SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a line from an abc daemon reaches syslog under identity penabc', async () => {
    const marker = `marker-${process.pid}-${Date.now()}`;
    const pid = await startDaemon(path.join(dir, 'root'), { TEST_LOG_LINE: marker });
    try {
      const line = await waitFor('the marker in the syslog file', () =>
        fs.existsSync(messages()) && fs.readFileSync(messages(), 'utf8').split('\n').find((l) => l.includes(marker)),
      );
      assert.match(line, new RegExp(` penabc\\[${pid}\\]: ${marker}$`));
    } finally {
      await killAndWait(pid, 'SIGTERM');
    }
  });

  it('lines syslog cannot take while it is down are counted, and the count is logged once it is back', async (t) => {
    // A bind mount holds the socket rsyslogd had; only through the link does a restarted one take over.
    if (!createdDevLog) return t.skip('this host has a /dev/log of its own, bound to the first rsyslogd');
    const pid = await startDaemon(path.join(dir, 'root-down'));
    try {
      await killAndWait(rsyslogd!.pid!, 'SIGTERM');
      for (let i = 0; i < 5; i++) {
        process.kill(pid, 'SIGHUP');
        await waitFor(`reload ${i + 1}`, async () => (await askSocket(underRoot(layout(loadFlavor('abc'), 'pen'), path.join(dir, 'root-down')).controlSocket, 'reloads')) === `${i + 1}\n`);
      }
      await startRsyslogd();
      process.kill(pid, 'SIGHUP');
      const line = await waitFor('the count of lost lines in the syslog file', () =>
        fs.existsSync(messages()) && fs.readFileSync(messages(), 'utf8').split('\n').find((l) => l.includes(`penabc[${pid}]: `) && l.includes('lost')),
      );
      assert.match(line, /: 10 syslog line\(s\) lost from \S+ to \S+ \((ENOENT|ECONNREFUSED)\)$/);
    } finally {
      await killAndWait(pid, 'SIGTERM');
    }
  });
});
