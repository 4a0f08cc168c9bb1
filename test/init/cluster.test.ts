// Hosts sharing runlevels through a real etcd (Debian's etcd-server) on loopback: two isinit
// daemons, each in its own root as two hosts would be, one of them the bundle a package ships.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseInittab } from '../../src/init/inittab';
import { EtcdServer } from '../support/etcd';
import { isAlive, PROJECT_ROOT, run, tempDir, waitFor } from '../support/process';
import { InitHarness, type Reply } from './harness';

const tab = (endpoint: string, node: string) => `:::cluster:${endpoint}
:::node:${node}
:::single:db
:::leasettl:2
web:w:2:respawn:sleep 3141
db:d:2:respawn:sleep 3142
`;

type ClusterReply = Reply & { cluster?: { node: string; reachable: boolean; leading: string[] } };

const running = (reply: Reply, group: string) => (reply.entries ?? []).filter((e) => e.group === group && e.state === 'running' && e.pid);

describe('isinit cluster directives', () => {
  it('parses the cluster, node and single directives', () => {
    const t = parseInittab(':::cluster:http://127.0.0.1:2379,http://10.0.0.2:2379\n:::node:host-1\n:::single:db,queue\nweb:w:2:respawn:sleep 1\n');
    assert.deepEqual(t.cluster, { endpoints: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'], node: 'host-1', single: ['db', 'queue'], leaseTtlS: 10 });
  });

  it('refuses what it cannot use, naming the line and the fix', () => {
    assert.throws(() => parseInittab('web:w:2:respawn:sleep 1\n:::single:db\n'), /isinittab:2: the node, single and leasettl directives need a cluster: add :::cluster:http/);
    assert.throws(() => parseInittab(':::cluster:127.0.0.1:2379\n'), /isinittab:1: cluster endpoint "127.0.0.1:2379" is not a URL; write it as http:\/\/HOST:PORT/);
    assert.throws(() => parseInittab(':::cluster:http://h:2379/v3\n'), /isinittab:1: cluster endpoint "http:\/\/h:2379\/v3" has a path, query or fragment; write it as http:\/\/HOST:PORT/);
    assert.throws(() => parseInittab(':::cluster:http://h:2379\n:::node:a b\n'), /node name "a b" must be letters/);
    assert.throws(() => parseInittab(':::cluster:http://h:2379\n:::quorum:3\n'), /unknown directive "quorum"; use :::socket:PATH/);
  });

  it('refuses every endpoint an etcd client would misuse, naming the line', () => {
    const refused: Array<[string, RegExp]> = [
      ['http://127.0.0.1', /isinittab:2: cluster endpoint "http:\/\/127\.0\.0\.1" names no port \(etcd clients use 2379\); write it as http:\/\/HOST:PORT/],
      ['https://h', /names no port/],
      ['http://h:2379,https://g:2379', /isinittab:2: cluster endpoints mix http and https; .*use the same scheme for every URL/],
      ['http://user:pw@h:2379', /isinittab:2: cluster endpoint "http:\/\/user:pw@h:2379" carries a user or password .*would be dropped/],
      ['http://h:2379?x=1', /has a path, query or fragment/],
      ['ftp://h:2379', /has the scheme "ftp:"/],
      ['http://h:2379,http://h:2379', /cluster endpoint http:\/\/h:2379 is listed twice/],
    ];
    for (const [urls, message] of refused) assert.throws(() => parseInittab(`# hosts\n:::cluster:${urls}\n`), message, urls);
    assert.deepEqual(parseInittab(':::cluster:http://h:80/\n').cluster?.endpoints, ['http://h:80']);
    assert.throws(() => parseInittab(':::cluster:http://h:1\n:::cluster:http://g:1\n'), /isinittab:2: a second cluster directive/);
    assert.throws(() => parseInittab(':::cluster:http://h:1\n:::node:a\n:::node:b\n'), /isinittab:3: a second node directive; this host is already named "a"/);
    assert.throws(() => parseInittab(':::cluster:http://h:1\n:::leasettl:1\n'), /isinittab:2: the leasettl directive takes whole seconds from 2 to 600, not "1"/);
    assert.equal(parseInittab(':::cluster:http://h:1\n:::leasettl:3\n').cluster?.leaseTtlS, 3);
  });
});

describe('isinit hosts sharing levels through etcd', () => {
  const etcd = new EtcdServer();
  let alpha: InitHarness;
  let beta: InitHarness;
  const dist = tempDir('dist-cluster');

  before(async () => {
    await etcd.start();
    alpha = new InitHarness(tab(etcd.endpoint, 'alpha'));
    beta = new InitHarness(tab(etcd.endpoint, 'beta'));
    // beta runs the bundle as the package ships it, with its libDir beside it.
    const built = await run(process.execPath, [path.join(PROJECT_ROOT, 'bin/flavor'), 'build', 'abc'], { env: { ...process.env, FLAVORKIT_DIST_DIR: dist }, timeoutMs: 120000 });
    assert.equal(built.code, 0, built.stderr);
    fs.cpSync(path.join(dist, 'abc/init/root'), beta.root, { recursive: true });
    beta.program = beta.layout.programs.isinit!;
    await alpha.start();
    await beta.start();
  });
  after(async () => {
    await alpha?.cleanup();
    await beta?.cleanup();
    await etcd.cleanup();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  const status = (h: InitHarness) => h.status() as Promise<ClusterReply>;

  it('both hosts join and report the cluster in their status', async () => {
    for (const [h, node] of [[alpha, 'alpha'], [beta, 'beta']] as const) {
      const s = await waitFor(`${node} to reach etcd`, async () => {
        const reply = await status(h);
        return reply.cluster?.reachable ? reply : null;
      });
      assert.equal(s.cluster!.node, node);
    }
  });

  it('a level set on one host is applied on every host', async () => {
    const reply = (await alpha.tell('web', '2')) as ClusterReply;
    assert.equal(reply.ok, true, reply.error);
    assert.deepEqual(reply.results?.map((r) => r.action), ['started']);
    await waitFor('web on beta', async () => running(await beta.status(), 'web').length === 1);
    const stopped = await beta.tell('web', '0');
    assert.equal(stopped.ok, true, stopped.error);
    await waitFor('web stopped on alpha', async () => running(await alpha.status(), 'web').length === 0);
  });

  it('a single-host group runs on exactly one host, and moves when that host dies', async () => {
    const reply = await beta.tell('db', '2');
    assert.equal(reply.ok, true, reply.error);
    const where = async () => [running(await alpha.status(), 'db').length, running(await beta.status(), 'db').length];
    await waitFor('db on one host', async () => (await where()).reduce((a, b) => a + b) === 1);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual((await where()).reduce((a, b) => a + b), 1, 'still on one host only');
    const [onAlpha] = await where();
    const [dying, survivor] = onAlpha === 1 ? [alpha, beta] : [beta, alpha];
    // The host dies whole: its daemon and its children.
    const children = running(await dying.status(), 'db').map((e) => e.pid!);
    process.kill(dying.pid, 'SIGKILL');
    for (const pid of children) process.kill(-pid, 'SIGKILL');
    await waitFor('the dead daemon to go', () => !isAlive(dying.pid));
    const started = Date.now();
    await waitFor('db elsewhere', async () => running(await survivor.status(), 'db').length === 1, 15000);
    const failover = Date.now() - started;
    assert.ok(failover < 6000, `failover took ${failover} ms (election lease 2 s)`);
    assert.deepEqual(((await survivor.status()) as ClusterReply).cluster?.leading, ['db']);
    await dying.start();
    await waitFor('the restarted host to rejoin', async () => ((await status(dying)).cluster?.reachable ? true : null));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(running(await dying.status(), 'db').length, 0, 'the restarted host does not run db beside the leader');
  });

  it('a switch of a single-host group on a host that does not lead it says who does', async () => {
    const [leader, other] = (await status(alpha)).cluster?.leading.includes('db') ? [alpha, beta] : [beta, alpha];
    const leaderName = (await status(leader)).cluster!.node;
    const answer = await other.isinit(['db', '2']);
    assert.equal(answer.code, 0, answer.stderr);
    assert.match(answer.stdout, new RegExp(`isinit: db is a single-host group led by ${leaderName}; it runs there at level 2, not here`));
    const text = await other.isinit(['--status']);
    assert.match(text.stdout, /^node \w+: etcd reachable at http:\/\/127\.0\.0\.1:\d+; last confirmed keep-alive \d{4}-.*Z; claim until \d{4}-/m);
    assert.match(text.stdout, new RegExp(`^db: level 0, stopped; cluster level 2; single-host, led by ${leaderName}$`, 'm'));
    assert.match((await leader.isinit(['--status'])).stdout, new RegExp(`^db: level 2, run; cluster level 2; single-host, led by ${leaderName} \\(this host, claim live\\)$`, 'm'));
  });

  it('a second daemon with a node name in use refuses to start, naming the other', async () => {
    const twin = new InitHarness(tab(etcd.endpoint, 'alpha'));
    try {
      const started = await twin.isinit(['-d', '--grace', '1']);
      assert.notEqual(started.code, 0);
      assert.match(started.stderr, new RegExp(`node name "alpha" is already used by the isinit daemon on [^ ]+ \\(.*\\), PID ${alpha.pid}; give each host its own :::node: name`));
    } finally {
      await twin.cleanup();
    }
  });

  it('with etcd unreachable a switch is refused with the reason, and what runs keeps running', async () => {
    assert.equal((await alpha.tell('web', '2')).ok, true);
    await waitFor('web on beta', async () => running(await beta.status(), 'web').length === 1);
    const pid = running(await beta.status(), 'web')[0]!.pid!;
    await etcd.stop();
    const refused = await beta.tell('web', '0');
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? '', /setting web to level 0: .*etcd at http:\/\/127\.0\.0\.1:\d+/);
    assert.doesNotMatch(refused.error ?? '', /circuit breaker/);
    assert.ok(isAlive(pid), 'web keeps running on beta');
    assert.equal(running(await beta.status(), 'web')[0]?.pid, pid);
  });
});
