import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { layout, loadFlavor } from '../../../src/flavor';
import { underRoot } from '../../../src/flavor/layout';
import { tempDir, waitFor } from '../../support/process';
import { freePort, runDebian, runOurs, spawnDebian, stop, waitForTcp, type Collected } from '../debian';

// Our penctl and Debian's drive the same Debian pen 0.34.1, command by command; their outputs
// and exit statuses must be identical.

/** A tiny backend: answers every connection with a fixed HTTP response and closes. */
function backend(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.once('data', () => s.end('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    s.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function request(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => s.destroy(new Error('no reply through pen in 5 s')), 5000);
    s.on('connect', () => s.write('GET /x HTTP/1.0\r\n\r\n'));
    s.on('data', (d) => (reply += d));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
    s.on('error', reject);
  });
}

// Lines that carry the current time differ between two runs a second apart.
/** The clock in a status page: its time, and each client's age in seconds after its address. */
const maskTime = (text: string) =>
  text.replace(/^Time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/m, 'Time <now>').replace(/(<td>[0-9a-f.:]+<\/td>\n<td>)\d+(<\/td>)/g, '$1<age>$2');

describe('penctl against Debian pen 0.34.1', () => {
  let dir: string;
  let tcpPen: Collected;
  let unixPen: Collected;
  let backends: net.Server[] = [];
  let control: string;
  let unixSocket: string;
  let listenPort: number;
  let flavorRoot: string;
  const env = () => ({ FLAVOR: 'abc', FLAVORKIT_ROOT: flavorRoot });

  before(async () => {
    dir = tempDir('penctl');
    // pen writes its web stats after dropping to nobody.
    fs.chmodSync(dir, 0o777);
    backends = [await backend(), await backend()];
    const [b1, b2] = backends.map((b) => (b.address() as net.AddressInfo).port);
    listenPort = await freePort();
    const controlPort = await freePort();
    control = `127.0.0.1:${controlPort}`;
    tcpPen = spawnDebian('pen', [
      '-f', '-u', 'nobody', '-C', control, '-w', path.join(dir, 'webstats.html'), '-l', path.join(dir, 'pen.log'),
      `127.0.0.1:${listenPort}`, `127.0.0.1:${b1}:10:20:2:1`, `127.0.0.1:${b2}:5:10:1:2`,
    ]);
    await waitForTcp(controlPort);
    assert.match(await request(listenPort), /ok$/);

    // The second pen's control socket is where this flavor's penctl looks by default.
    flavorRoot = path.join(dir, 'root');
    unixSocket = underRoot(layout(loadFlavor('abc'), 'pen'), flavorRoot).controlSocket;
    fs.mkdirSync(path.dirname(unixSocket), { recursive: true });
    const unixListen = await freePort();
    unixPen = spawnDebian('pen', ['-f', '-u', 'nobody', '-C', unixSocket, `127.0.0.1:${unixListen}`, `127.0.0.1:${b1}`, `127.0.0.1:${b2}`]);
    await waitFor('pen to create its control socket', () => fs.existsSync(unixSocket));
  });

  after(async () => {
    await Promise.all([tcpPen, unixPen].filter(Boolean).map((p) => stop(p)));
    for (const b of backends) b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const commands = [
    'pid', 'control', 'listen', 'mode', 'servers', 'clients_max', 'conn_max', 'blacklist', 'timeout', 'tracking',
    'debug', 'log', 'web_stats', 'client_acl', 'control_acl', 'idle_timeout', 'recent', 'recent 3600', 'connection 0',
    'connection 1', 'socket 7', 'tarpit_acl', 'status', 'blacklist 20', 'timeout 4', 'tracking 60', 'hash', 'mode',
    'server 1 weight 7 prio 3 max 50 hard 60', 'servers', 'tcp_fastclose', 'tcp_fastclose both', 'idle_timeout 30',
    'frobnicate', 'no', '# comment', 'close 99999', 'connection 99999', 'roundrobin', 'mode', 'servers',
  ];

  it('gives the same reply and status as Debian penctl for every command over TCP', async () => {
    for (const command of commands) {
      const words = command.split(' ');
      const theirs = await runDebian('penctl', [control, ...words]);
      const mine = await runOurs('penctl', [control, ...words]);
      assert.equal(mine.code, theirs.code, `exit status of "${command}"`);
      assert.equal(maskTime(mine.stdout), maskTime(theirs.stdout), `reply to "${command}"`);
      assert.equal(mine.stderr, theirs.stderr, `stderr of "${command}"`);
    }
  });

  it('talks to a UNIX control socket given as a path, like Debian penctl', async () => {
    for (const command of ['servers', 'mode', 'pid', 'control', 'frobnicate x']) {
      const theirs = await runDebian('penctl', [unixSocket, ...command.split(' ')]);
      const mine = await runOurs('penctl', [unixSocket, ...command.split(' ')]);
      assert.equal(mine.code, 0);
      assert.equal(mine.stdout, theirs.stdout, `reply to "${command}"`);
    }
  });

  it("uses the flavor's control socket when no address is given", async () => {
    const theirs = await runDebian('penctl', [unixSocket, 'servers']);
    const mine = await runOurs('penctl', ['servers'], undefined, env());
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(theirs.stdout, /^0 addr 127\.0\.0\.1 port \d+ conn 0/);
    assert.equal(mine.stdout, theirs.stdout);
    const mode = await runOurs('penctl', ['server', '1', 'weight', '4'], undefined, env());
    assert.equal(mode.code, 0);
    assert.match((await runDebian('penctl', [unixSocket, 'servers'])).stdout, /^1 addr .* weight 4 /m);
  });

  it('fails like Debian penctl on bad addresses, naming the problem and the fix', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const cases: Array<[string[], string]> = [
      [['127.0.0.1', 'servers'], 'no port given'],
      [[closed, 'servers'], 'error connecting to server'],
      [['127.0.0.1:nosuchservice', 'servers'], 'getaddrinfo: Servname not supported for ai_socktype'],
      [['nosuchhost.invalid:80', 'servers'], 'getaddrinfo: Name or service not known'],
      [[path.join(dir, 'missing.sock'), 'servers'], 'error connecting to server'],
      [[control, 'x'.repeat(1100)], 'Overlong argument list'],
    ];
    for (const [args, message] of cases) {
      const theirs = await runDebian('penctl', args);
      const mine = await runOurs('penctl', args);
      assert.equal(theirs.code, 1, `Debian's status for ${args[0]}`);
      assert.equal(mine.code, theirs.code, `status for ${args[0]}`);
      assert.equal(theirs.stderr, `${message}\n`);
      assert.ok(mine.stderr.includes(message), `"${message}" in: ${mine.stderr}`);
      assert.match(mine.stderr, /; /, 'the message says what to do');
      assert.equal(mine.stdout, '');
    }
  });

  it('rejects a missing command with an error, where Debian prints its usage and exits 0', async () => {
    const theirs = await runDebian('penctl', [control]);
    assert.equal(theirs.code, 0);
    assert.equal(theirs.stdout, 'usage: penctl host:port command\n');
    const mine = await runOurs('penctl', [control]);
    assert.equal(mine.code, 1);
    assert.match(mine.stderr, new RegExp(`no command given after ${control}; add one, e\\.g\\. "penctl ${control} servers"`));
    const none = await runOurs('penctl', []);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no command given.*\nusage: penctl host:port command\n$/s);
    const help = await runOurs('penctl', ['--help']);
    assert.equal(help.code, 0);
    assert.equal(help.stdout, theirs.stdout);
  });

  it("names the flavor's socket when nothing listens there", async () => {
    const emptyRoot = path.join(dir, 'empty-root');
    const mine = await runOurs('penctl', ['servers'], undefined, { FLAVOR: 'abc', FLAVORKIT_ROOT: emptyRoot });
    assert.equal(mine.code, 1);
    assert.match(mine.stderr, new RegExp(`error connecting to server ${emptyRoot}/usr/local/abc-pen/var/run/abc-pen/pen\\.sock \\(ENOENT\\)`));
  });
});
