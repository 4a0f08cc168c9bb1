// Each defect of the reference, shown fixed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isAlive, isGone, waitFor } from '../support/process';
import { GRACE_S, harnessPerTest, type InitHarness } from './harness';

const harness = harnessPerTest();

const pidsOf = (h: InitHarness) => h.lines().map(Number);

describe('defects of the reference, fixed', () => {
  it('respawn works in a group that was not told last', async () => {
    const h = harness('a:r:1:respawn:/bin/echo $$ >> OUT; exec sleep 30\nb:s:1:respawn:exec sleep 30\n');
    await h.start();
    await h.tell('a', '1');
    await h.waitLines('a:r', (l) => l.length === 1);
    await h.tell('b', '1');
    process.kill(pidsOf(h)[0]!, 'SIGKILL');
    const lines = await h.waitLines('a:r restarted', (l) => l.length === 2);
    assert.notEqual(lines[0], lines[1]);
  });

  it('grandchildren of sh -c are stopped with their entry', async () => {
    const h = harness('g:tree:1:respawn:sleep 30 & echo $! >> OUT; sleep 30; echo never\n');
    await h.start();
    await h.tell('g', '1');
    const [grandchild] = await h.waitLines('the grandchild PID', (l) => l.length === 1);
    assert.ok(isAlive(Number(grandchild)));
    await h.tell('g', '0');
    await waitFor('the grandchild to be gone', () => isGone(Number(grandchild)));
  });

  it('stops 50 children in parallel, in under a second', async () => {
    const tab = Array.from({ length: 50 }, (_, i) => `many:s${i}:1:respawn:exec sleep 30`).join('\n');
    const h = harness(tab);
    await h.start();
    const up = await h.tell('many', '1');
    assert.equal(up.results?.filter((r) => r.action === 'started').length, 50);
    const pids = up.results!.map((r) => r.pid!);
    const started = Date.now();
    const down = await h.tell('many', '0');
    const took = Date.now() - started;
    assert.equal(down.results?.filter((r) => r.action === 'stopped').length, 50);
    assert.ok(took < 1000, `stopping 50 took ${took} ms`);
    for (const pid of pids) assert.ok(isGone(pid), `PID ${pid} still running`);
  });

  it('a child that ignores TERM gets TERM first, and KILL only after the grace period', async () => {
    const h = harness("g:stubborn:1:respawn:trap 'echo TERM $(date +%s%3N) >> OUT' TERM; echo $$ >> OUT; while :; do sleep 0.1; done\n");
    await h.start();
    await h.tell('g', '1');
    const [pid] = await h.waitLines('the PID', (l) => l.length === 1);
    const { reply: down, asked, took } = await h.timedTell('g', '0');
    assert.deepEqual(down.results?.map((r) => r.action), ['stopped']);
    // Only a live shell runs its trap: the line shows TERM came before any KILL.
    const term = h.lines().find((l) => l.startsWith('TERM '));
    assert.ok(term, 'the child ran its TERM trap');
    const termAfter = Number(term.split(' ')[1]) - asked;
    assert.ok(termAfter < GRACE_S * 1000, `TERM came ${termAfter} ms after the stop was asked, within the grace period`);
    assert.ok(took >= GRACE_S * 1000, `the stop took ${took} ms: KILL waited for the ${GRACE_S} s grace period`);
    assert.ok(isGone(Number(pid)));
  });

  it('a restarted daemon adopts its children and starts no duplicate', async () => {
    const h = harness('g:one:1:respawn:/bin/echo $$ >> OUT; exec sleep 30\n');
    await h.start();
    await h.tell('g', '1');
    const [pid] = await h.waitLines('the child', (l) => l.length === 1);
    await h.restartDaemon();
    assert.ok(isAlive(Number(pid)), 'the child outlived the daemon restart');
    const status = await h.status();
    assert.deepEqual(status.entries?.map((e) => [e.tag, e.state, e.pid]), [['one', 'running', Number(pid)]]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.lines().length, 1, 'no duplicate was started');
    // Still supervised: a crash of the adopted child is noticed and respawned.
    process.kill(Number(pid), 'SIGKILL');
    await h.waitLines('the respawn of the adopted child', (l) => l.length === 2);
  });

  it('a child whose entry was turned off while the daemon was down is stopped, not adopted', async () => {
    const h = harness('g:one:1:respawn:/bin/echo $$ >> OUT; exec sleep 30\ng:two:1:respawn:exec sleep 30\n');
    await h.start();
    await h.tell('g', '1');
    const [pid] = await h.waitLines('the child', (l) => l.length === 1);
    const old = h.pid;
    process.kill(old, 'SIGTERM');
    await waitFor('the daemon to exit', () => !isAlive(old));
    h.writeTab('g:one:1:off:/bin/echo $$ >> OUT; exec sleep 30\ng:two:1:respawn:exec sleep 30\n');
    await h.start();
    await waitFor('the child of the entry turned off to stop', () => isGone(Number(pid)));
    const status = await h.status();
    assert.deepEqual(status.entries?.filter((e) => e.state === 'running').map((e) => e.tag), ['two']);
  });

  it('the socket stays while children exit: the same inode throughout, and a second daemon is refused', async () => {
    const h = harness('g:quick:1:respawn:/bin/echo x >> OUT; exec sleep 0.05\n');
    const first = await h.start();
    const socketFile = () => fs.statSync(h.layout.controlSocket, { bigint: true });
    const before = socketFile();
    await h.tell('g', '1');
    await h.waitLines('three children to exit', (l) => l.length >= 4);
    const second = await h.isinit(['-d']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`already running as PID ${first}`));
    assert.equal((await h.status()).ok, true);
    const after = socketFile();
    // A socket created again would have a new inode, or at least a new change time.
    assert.deepEqual([after.ino, after.ctimeNs], [before.ino, before.ctimeNs], 'the socket file was never created again');
  });

  it('a held entry is retried without outside help, its hold doubling each time', async () => {
    const h = harness('g:crash:1:respawn:/bin/echo $(date +%s%3N) >> OUT; exit 3\n');
    await h.startLogged();
    await h.tell('g', '1');
    await h.waitLines('5 starts', (l) => l.length === 5);
    const held = await waitFor('the hold', async () => (await h.status()).entries?.find((e) => e.state === 'held'));
    assert.equal(held.tag, 'crash');
    // Five starts, a hold, five more, a hold twice as long, then the next start.
    const started = (await h.waitLines('the retry after the second hold', (l) => l.length >= 11, 15000)).map(Number);
    await h.tell('g', '0');
    const holds = h.logLines().flatMap((l) => /g:crash respawning too rapidly .*; held for (\d+) s$/.exec(l)?.[1] ?? []);
    assert.deepEqual(holds.slice(0, 2), ['1', '2']);
    const [firstGap, secondGap] = [started[5]! - started[4]!, started[10]! - started[9]!];
    assert.ok(firstGap >= 1000, `first hold lasted ${firstGap} ms`);
    assert.ok(secondGap >= 2000 && secondGap > firstGap, `second hold lasted ${secondGap} ms, the first ${firstGap} ms`);
  });

  it('the client never starts a daemon: without one it says how to start it', async () => {
    const h = harness('g:x:1:once:true\n');
    const result = await h.isinit(['g', '1']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no isinit daemon listens on .*init\.s; start it with 'isinit -d'/);
    assert.equal(fs.existsSync(h.layout.pidFile), false);
  });
});

describe('bad input', () => {
  it('malformed socket messages get clear errors, the daemon keeps running, nothing starts', async () => {
    const h = harness('g:x:1:respawn:/bin/echo started >> OUT; exec sleep 30\n');
    await h.start();
    const cases: Array<[string, RegExp]> = [
      ['', /empty request/],
      ['g', /expected "GROUP LEVEL", got 1 word/],
      ['g 1 extra', /expected "GROUP LEVEL", got 3 word/],
      ['g;rm 1', /group "g;rm" must be letters, digits, ".", "_" or "-"/],
      ['{"op":"switch","group":"g"}', /level is missing or not a string; send \{"op":"switch","group":"GROUP","level":"LEVEL"\}/],
      ['{"op":"explode"}', /unknown op "explode"/],
      ['{not json', /not valid JSON/],
      ['x'.repeat(70000), /longer than/],
    ];
    for (const [line, message] of cases) {
      const reply = await h.request(line).catch((e: Error) => ({ ok: false, error: e.message }));
      assert.equal(reply.ok, false, line.slice(0, 30));
      assert.match(reply.error ?? '', message);
    }
    assert.ok(isAlive(h.pid));
    assert.equal(h.lines().length, 0, 'nothing was started');
    assert.equal((await h.tell('g', '1')).ok, true);
  });

  it('a respawn entry that cannot be started is tried again after its backoff', async () => {
    const h = harness('');
    const program = path.join(h.root, 'later.sh');
    h.writeTab(`g:late:1:respawn:${program}\n`);
    await h.start();
    const first = await h.tell('g', '1');
    assert.match(first.results?.[0]?.error ?? '', /cannot start: cannot run .*later\.sh/);
    fs.writeFileSync(program, `#!/bin/sh\necho $$ >> ${h.out}\nexec sleep 30\n`, { mode: 0o755 });
    const [pid] = await h.waitLines('the retried start', (l) => l.length === 1, 5000);
    const status = await h.status();
    assert.deepEqual(status.entries?.map((e) => [e.tag, e.state, e.pid]), [['late', 'running', Number(pid)]]);
  });

  it('a switch of a group the file does not have is refused, naming the groups it has', async () => {
    const h = harness('web:x:1:respawn:/bin/echo started >> OUT; exec sleep 30\ndb:y:1:respawn:exec sleep 30\n');
    await h.start();
    const reply = await h.tell('wbe', '1');
    assert.equal(reply.ok, false);
    assert.match(reply.error ?? '', /no group "wbe" in .*isinittab; its groups are: web, db/);
    assert.equal(h.lines().length, 0, 'nothing was started');
  });

  it('an entry that cannot start says why, and leaks no descriptor however often it is tried', async () => {
    const h = harness('g:x:1:once@nosuchuser-flavorkit:true\n');
    await h.start();
    const descriptors = () => fs.readdirSync(`/proc/${h.pid}/fd`).length;
    const first = await h.tell('g', '1');
    assert.equal(first.results?.[0]?.action, 'error');
    assert.match(first.results?.[0]?.error ?? '', /cannot start: .*nosuchuser-flavorkit/);
    await h.tell('g', '0');
    const baseline = descriptors();
    for (let i = 0; i < 10; i++) {
      await h.tell('g', '1');
      await h.tell('g', '0');
    }
    // The daemon closes its end of the last request's connection a moment after the reply: wait
    // for that, while a leak (one descriptor per try) would stay.
    let now = descriptors();
    for (let i = 0; i < 40 && now > baseline; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = descriptors();
    }
    assert.ok(now <= baseline, `descriptors grew from ${baseline} to ${now}`);
  });

  it('a malformed isinittab line is reported with its line number and changes nothing', async () => {
    const h = harness('g:x:1:respawn:/bin/echo $$ >> OUT; exec sleep 30\n');
    await h.start();
    await h.tell('g', '1');
    await h.waitLines('x', (l) => l.length === 1);
    const bad: Array<[string, RegExp]> = [
      ['g:x:1:respawn:exec sleep 30\ng:y:1:sometimes:true\n', /isinittab:2: mode "sometimes" is not one of respawn, once, wait, test, off/],
      ['g:x:1\n', /isinittab:1: expected group:tag:runlevels:mode:command, found 3 field/],
      ['# c\ng:x:1:respawn:true\ng:x:2:once:true\n', /isinittab:3: tag x of group g is already defined on line 2/],
      ['g:x::respawn:true\n', /isinittab:1: tag x has no runlevels/],
      ['g:x:1:respawn:\n', /isinittab:1: tag x has an empty command/],
      [':::sock:/tmp/x\n', /isinittab:1: unknown directive "sock"/],
      ['g:x:1:respawn@Bad User:true\n', /isinittab:1: mode "respawn@Bad User"|user "Bad User"/],
    ];
    const good = fs.readFileSync(h.tab, 'utf8');
    for (const [tab, message] of bad) {
      fs.writeFileSync(h.tab, tab);
      const reply = await h.tell('g', '2');
      assert.equal(reply.ok, false);
      assert.match(reply.error ?? '', message);
    }
    fs.writeFileSync(h.tab, good);
    const status = await h.status();
    assert.deepEqual(status.entries?.map((e) => [e.tag, e.state]), [['x', 'running']], 'nothing was stopped or started');
    assert.equal(h.lines().length, 1);
  });

  it('a bad command line gets a usage error that names it, and starts nothing', async () => {
    const h = harness('g:x:1:respawn:true\n');
    const cases: Array<[string[], RegExp]> = [
      [['--nope'], /isinit: Unknown option '--nope'\n/],
      [['-d', '-s'], /isinit: Option '-s, --socket <value>' argument missing/],
      [['-f', '-d'], /isinit: -f and -d exclude each other/],
      [['-d', '--grace', 'soon'], /isinit: --grace takes a number of seconds from 0 to 3600, not "soon"/],
      [['g', '1', 'extra'], /isinit: at most a group and a level, not 3 words/],
      [['-d', 'g', '1'], /isinit: -d takes no group or level \("g 1"\); switch a group with a separate 'isinit GROUP LEVEL'/],
      [['-k', 'g'], /isinit: -k takes no group or level/],
    ];
    for (const [args, message] of cases) {
      const ran = await h.isinit(args);
      assert.equal(ran.code, 2, args.join(' '));
      assert.match(ran.stderr, message);
      assert.match(ran.stderr, /usage: isinit/);
    }
    assert.equal(fs.existsSync(h.layout.pidFile), false, 'no daemon was started');
    assert.equal(fs.existsSync(h.layout.controlSocket), false);
  });

  it('a daemon does not start on a malformed isinittab, and says which line', async () => {
    const h = harness('g:x:1:respawn:true\nnonsense\n');
    const started = await h.isinit(['-d']);
    assert.equal(started.code, 1);
    assert.match(started.stderr, /isinittab:2: expected group:tag:runlevels:mode:command/);
  });
});

describe('re-reading the file', () => {
  it('isinit without arguments re-reads: removed and "off" entries stop, others keep running', async () => {
    const h = harness('g:keep:1:respawn:exec sleep 30\ng:gone:1:respawn:exec sleep 31\ng:off:1:respawn:exec sleep 32\n');
    await h.start();
    const up = await h.tell('g', '1');
    const pid = (tag: string) => up.results!.find((r) => r.tag === tag)!.pid!;
    h.writeTab('g:keep:1:respawn:exec sleep 30\ng:off:1:off:exec sleep 32\n');
    const reread = await h.isinit([]);
    assert.equal(reread.code, 0, reread.stderr);
    assert.match(reread.stdout, /g:gone stopped/);
    assert.match(reread.stdout, /g:off stopped/);
    assert.match(reread.stdout, /g:keep kept/);
    assert.ok(isAlive(pid('keep')));
    for (const tag of ['gone', 'off']) assert.ok(isGone(pid(tag)));
  });

  it('a changed :::socket:, :::initstat:, :::cluster:, :::node: or :::single: is named, with the restart that applies it', async () => {
    const entry = 'g:keep:1:respawn:exec sleep 30\n';
    const h = harness(entry);
    await h.startLogged();
    const pid = (await h.tell('g', '1')).results![0]!.pid!;
    const unchanged = await h.isinit([]);
    assert.equal(unchanged.stderr, '', 'an unchanged file is re-read without a word');
    const moved = path.join(h.root, 'moved');
    h.writeTab(`:::initstat:${moved}.initstat\n${entry}`);
    const reread = await h.isinit([]);
    assert.equal(reread.code, 0, reread.stderr);
    const restart = "; restart the daemon to apply it \\(the init script's restart; running entries are kept\\)";
    assert.match(reread.stderr, new RegExp(`^isinit: :::initstat: changed from ".*/initstat" to "${moved}\\.initstat"${restart}\n$`));
    h.writeTab(`:::socket:${moved}.s\n:::initstat:${moved}.initstat\n:::cluster:http://127.0.0.1:9\n:::node:n1\n:::single:g\n${entry}`);
    process.kill(h.pid, 'SIGHUP');
    await h.waitLog('the re-read on HUP', /re-read .*isinittab: \d+ change/);
    const named = h.logLines().flatMap((l) => new RegExp(`isinittab: :::(\\w+): changed from .* to .*${restart}$`).exec(l)?.[1] ?? []);
    assert.deepEqual(named, ['initstat', 'socket', 'initstat', 'cluster', 'node', 'single']);
    // Until a restart the daemon serves where it did, and its entries run on.
    assert.equal(fs.existsSync(`${moved}.s`), false);
    assert.equal(fs.existsSync(`${moved}.initstat`), false);
    assert.deepEqual((await h.status()).entries?.map((e) => [e.tag, e.state, e.pid]), [['keep', 'running', pid]]);
  });

  it('isinit -k stops everything and ends the daemon', async () => {
    const h = harness('g:a:1:respawn:exec sleep 30\nh:b:1:respawn:exec sleep 30\n');
    await h.start();
    const a = await h.tell('g', '1');
    const b = await h.tell('h', '1');
    const killed = await h.isinit(['-k']);
    assert.equal(killed.code, 0, killed.stderr);
    await waitFor('the daemon to end', () => !isAlive(h.pid));
    for (const pid of [a.results![0]!.pid!, b.results![0]!.pid!]) assert.ok(isGone(pid));
    assert.equal(fs.existsSync(h.layout.controlSocket), false);
  });
});
