// isinit under faults: a full log disk during group switches and HUPs, hostile control clients,
// and the entries and names a local user could get wrong or abuse.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { USER_PATH } from '../../src/init/child';
import { parseInittab } from '../../src/init/inittab';
import { NAME_MAX } from '../../src/init/names';
import { parseRequest } from '../../src/init/protocol';
import { harnessPerTest, type Reply } from '../init/harness';
import { askSocket, isAlive, killAndWait, PROJECT_ROOT, TSX_LOADER, waitFor } from '../support/process';
import { assaultControl, fillLogDisk, freeLogDisk, hangUps, openDescriptors, readInNamespace, runWithSmallLogDisk } from './support';

const harness = harnessPerTest();

describe('isinit with a full log disk', () => {
  it('keeps switching groups through HUPs while nothing can be logged, and says what it lost once it can', async () => {
    const h = harness('g:a:1:respawn:sleep 60\ng:b:2:respawn:sleep 60\ng:c:12:once:true\n');
    const logDir = h.layout.logDir;
    const started = await runWithSmallLogDisk(
      logDir,
      256,
      [process.execPath, ...TSX_LOADER, path.join(PROJECT_ROOT, 'src/init/bin/isinit.ts'), '-c', h.tab, '-d', '--grace', '2'],
      h.env(),
    );
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(fs.readFileSync(h.layout.pidFile, 'utf8'));
    try {
      assert.ok((await h.tell('g', '1')).ok);
      const descriptors = openDescriptors(pid);
      await fillLogDisk(pid, logDir);
      for (let round = 0; round < 20; round++) {
        const reply = await h.tell('g', round % 2 ? '1' : '2');
        assert.ok(reply.ok, `switch ${round + 1} on the full disk: ${JSON.stringify(reply)}`);
        await hangUps(pid, 5);
      }
      assert.ok(isAlive(pid));
      await freeLogDisk(pid, logDir);
      assert.ok((await h.tell('g', '2')).ok);
      const console = await waitFor('the loss in the console log', async () => {
        const text = await readInNamespace(pid, h.layout.consoleLog);
        return /\d+ log line\(s\) lost from \S+ to \S+ \(ENOSPC\)/.test(text) && text;
      });
      assert.match(console, /g:b: started PID \d+\n[^]*$/);
      assert.ok((await h.tell('g', '0')).ok);
      await waitFor('descriptors back to where they were', () => openDescriptors(pid) <= descriptors);
    } finally {
      await h.request({ op: 'kill' }).catch(() => undefined);
      await killAndWait(pid);
    }
  });
});

describe("isinit's control socket against a hostile local client", () => {
  it('answers a half-closed request, and outlives 1 MB lines and 300 idle clients', async () => {
    const h = harness('db:main:2:respawn:sleep 60\n');
    const pid = await h.start();
    const ok = /^\{"ok":true/;
    await assaultControl(pid, h.layout.controlSocket, () => askSocket(h.layout.controlSocket, '{"op":"status"}'), 'db 2', ok);
    const status = await h.status();
    assert.equal(status.groups?.find((g) => g.group === 'db')?.level, '2', 'the half-closed "db 2" was run');
  });
});

describe('isinit entries and names', () => {
  it('an entry run as mode@user gets the environment runuser -u gives it', async () => {
    const h = harness('g:env:1:once@nobody:env > OUT\n');
    fs.chmodSync(h.root, 0o755);
    fs.chmodSync(h.out, 0o666);
    await h.start();
    assert.ok((await h.tell('g', '1')).ok);
    const lines = await h.waitLines('the entry to write its environment', (ls) => ls.some((l) => l.startsWith('PATH=')));
    const env = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.deepEqual(
      { HOME: env.HOME, USER: env.USER, LOGNAME: env.LOGNAME, SHELL: env.SHELL, PATH: env.PATH },
      { HOME: '/nonexistent', USER: 'nobody', LOGNAME: 'nobody', SHELL: '/usr/sbin/nologin', PATH: USER_PATH },
    );
  });

  it('entries whose group and tag join the same way log to different files', async () => {
    const h = harness('a.b:c:1:once:echo first\na:b.c:1:once:echo second\n');
    await h.start();
    assert.ok((await h.tell('a.b', '1')).ok);
    assert.ok((await h.tell('a', '1')).ok);
    const dir = h.layout.files.entryLogDir;
    // A once entry is started, not waited for: its line may come a moment after the reply.
    const contents = () => fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).sort();
    await waitFor('both entries to write their line', () => contents().join('').split('\n').length >= 3).catch(() => undefined);
    assert.deepEqual(contents(), ['first\n', 'second\n'], `one log each: ${fs.readdirSync(dir).join(', ')}`);
  });

  it(`a level or group name longer than ${NAME_MAX} characters is refused, in the file and in a request`, () => {
    const long = 'x'.repeat(60000);
    assert.throws(() => parseInittab(`g:t:${long},:once:true\n`), new RegExp(`isinittab:1: runlevel "x{20}\\.\\.\\." is 60000 characters long; a name has at most ${NAME_MAX}`));
    assert.throws(() => parseInittab(`${long}:t:1:once:true\n`), /group "x{20}\.\.\." is 60000 characters long/);
    assert.throws(() => parseRequest(`g ${long}`), /level "x{20}\.\.\." is 60000 characters long/);
    assert.doesNotThrow(() => parseRequest(`g ${'x'.repeat(NAME_MAX)}`));
  });

  it('a switch to a level no entry names says so, with the trailing-comma hint; --check warns of the field', async () => {
    const h = harness('g1:web:run:respawn:sleep 60\ng1:db:2:respawn:sleep 60\n');
    await h.start();
    const switched = await h.isinit(['g1', 'run']);
    assert.equal(switched.code, 0, switched.stderr);
    assert.match(switched.stderr, /no entry of group g1 runs at level "run", so nothing of it runs now; its entries name the levels "r", "u", "n", "2"/);
    assert.match(switched.stderr, /"run" without a trailing comma is the 3 levels r, u, n; write "run," for one level named run \(line 1\)/);
    const reply: Reply = await h.tell('g1', '2');
    assert.equal(reply.warnings, undefined, 'a level an entry names gets no warning');
    const check = await h.isinit(['--check']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /isinittab:1: runlevels of g1:web: "run" without a trailing comma is the 3 levels r, u, n; write "run," for one level named run/);
    assert.match(check.stdout, /usable, with 1 warning\(s\)/);
  });
});
