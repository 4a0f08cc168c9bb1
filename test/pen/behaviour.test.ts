// pen's documented behaviour where the reference 0.34.1 is recorded as broken (a refused
// connect is not failed over there), penctl from Debian driving ours, and reliability.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from './debian';
import { killAndWait, runTs, spawnTs, tempDir, waitFor } from '../support/process';
import { Backend, fetchName, PenInstance, sequence } from './harness';

const instances: PenInstance[] = [];
async function ours(args: string[], servers: string[]): Promise<PenInstance> {
  const pen = new PenInstance('ours');
  instances.push(pen);
  return pen.start(args, servers);
}

/** Ours, reading a config file in its root (readable by the user pen drops to). */
async function oursWithConfig(text: string, servers: string[]): Promise<{ pen: PenInstance; config: string }> {
  const pen = new PenInstance('ours');
  instances.push(pen);
  const config = path.join(pen.root, 'pen.cfg');
  fs.writeFileSync(config, text, { mode: 0o644 });
  return { pen: await pen.start(['-F', config], servers), config };
}
after(async () => {
  for (const p of instances) await p.stop();
});

/** Waits until pen has given `file` to nobody, which it does when it drops root, just after it starts listening. */
async function logGivenToNobody(file: string): Promise<void> {
  const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  await waitFor('the log given to nobody', () => fs.statSync(file).uid === nobody, 5000);
}

describe('failover, blacklist and the emergency server', () => {
  const a = new Backend('A');
  const e = new Backend('E');
  let deadPort = 0;
  before(async () => {
    await a.start();
    await e.start();
    deadPort = await freePort();
  });
  after(async () => {
    await a.stop();
    await e.stop();
  });

  it('a refused connect blacklists the server and fails over to the next, for every client', async () => {
    const pen = await ours(['-r', '-b', '1'], [`127.0.0.1:${deadPort}`, `127.0.0.1:${a.port}`]);
    assert.deepEqual(await sequence(pen.port, 4), ['A', 'A', 'A', 'A']);
  });

  it('a blacklisted server is used again after the blacklist time', async () => {
    const revived = new Backend('R');
    const pen = await ours(['-r', '-b', '1'], [`127.0.0.1:${deadPort}`, `127.0.0.1:${a.port}`]);
    assert.deepEqual(await sequence(pen.port, 2), ['A', 'A']);
    await revived.start(deadPort);
    try {
      const seen = await waitFor('the revived server to get traffic', async () => {
        const names = await sequence(pen.port, 2);
        return names.includes('R') ? names : null;
      }, 6000);
      assert.ok(seen.includes('R'));
    } finally {
      await revived.stop();
    }
  });

  it('the emergency server takes clients only when no regular server can', async () => {
    const pen = await ours(['-r', '-e', `127.0.0.1:${e.port}`], [`127.0.0.1:${a.port}`]);
    assert.deepEqual(await sequence(pen.port, 2), ['A', 'A']);
    const down = await ours(['-r', '-e', `127.0.0.1:${e.port}`], [`127.0.0.1:${deadPort}`]);
    assert.deepEqual(await sequence(down.port, 2), ['E', 'E']);
  });

  it('stubborn: no failover, the client is closed', async () => {
    // 127.0.0.1 hashes to server 1, which is down: without -s the client goes on to A.
    const stubborn = await ours(['-h', '-s'], [`127.0.0.1:${a.port}`, `127.0.0.1:${deadPort}`]);
    assert.deepEqual(await sequence(stubborn.port, 2), ['', '']);
    const yielding = await ours(['-h'], [`127.0.0.1:${a.port}`, `127.0.0.1:${deadPort}`]);
    assert.deepEqual(await sequence(yielding.port, 2), ['A', 'A']);
  });
});

describe("Debian's penctl drives our pen", () => {
  const a = new Backend('A');
  const b = new Backend('B');
  let pen: PenInstance;
  before(async () => {
    await a.start();
    await b.start();
    pen = await ours(['-w', '/dev/null'], [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
  });
  after(async () => {
    await a.stop();
    await b.stop();
  });
  const penctl = async (...words: string[]) => {
    const r = await pen.penctl(words);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  it('mode, roundrobin and no roundrobin', async () => {
    assert.equal(await penctl('mode'), 'no hash no roundrobin no stubborn no weight no prio\n');
    assert.equal(await penctl('roundrobin'), '');
    assert.equal(await penctl('mode'), 'no hash roundrobin no stubborn no weight no prio\n');
    assert.deepEqual(await sequence(pen.port, 2), ['A', 'B']);
    assert.equal(await penctl('no', 'roundrobin'), '');
    assert.equal(await penctl('mode'), 'no hash no roundrobin no stubborn no weight no prio\n');
  });

  it('servers, server N weight, blacklist T, server N blacklist', async () => {
    assert.match(await penctl('servers'), new RegExp(`^0 addr 127.0.0.1 port ${a.port} conn 0 max 0 hard 0 weight 0 prio 0 sx \\d+ rx \\d+\\n1 addr`));
    assert.equal(await penctl('server', '1', 'weight', '5'), '');
    assert.match(await penctl('servers'), /\n1 addr 127\.0\.0\.1 port \d+ conn 0 max 0 hard 0 weight 5 prio 0/);
    assert.equal(await penctl('blacklist', '7'), '7\n');
    assert.equal(await penctl('blacklist'), '7\n');
    assert.equal(await penctl('roundrobin'), '');
    assert.equal(await penctl('server', '0', 'blacklist', '60'), '');
    assert.deepEqual(await sequence(pen.port, 3), ['B', 'B', 'B'], 'a blacklisted server gets nothing');
  });

  it('status: the HTML page', async () => {
    const page = await penctl('status');
    assert.match(page, /<title>Pen status page<\/title>/);
    assert.match(page, /2 servers/);
  });
});

describe('reliability', () => {
  it('a backend killed mid-stream closes that client; pen keeps serving others', async () => {
    const port = await freePort();
    const streaming = http.createServer((req, res) => {
      res.write('partial');
    });
    await new Promise<void>((r) => streaming.listen(port, '127.0.0.1', () => r()));
    const good = await new Backend('G').start();
    const pen = await ours([], [`127.0.0.1:${port}`, `127.0.0.1:${good.port}`]);
    // The probe made 127.0.0.1 stick to server 1 (G); use round robin to reach server 0.
    await pen.ctl('roundrobin');
    const closed = new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: pen.port, agent: false }, (res) => {
        res.on('data', () => {
          streaming.closeAllConnections();
          streaming.close();
        });
        res.on('error', () => resolve('closed'));
        res.on('close', () => resolve('closed'));
      });
      req.on('error', () => resolve('closed'));
    });
    assert.equal(await closed, 'closed');
    assert.equal(await fetchName(pen.port), 'G');
    await good.stop();
  });

  it('after 10,000 connections the open descriptors are back to their baseline', async () => {
    const a = await new Backend('A').start();
    const pen = await ours(['-r'], [`127.0.0.1:${a.port}`]);
    const fds = () => fs.readdirSync(`/proc/${pen.pid}/fd`).length;
    await new Promise((r) => setTimeout(r, 300));
    const baseline = fds();
    const total = 10000;
    let done = 0;
    const worker = async () => {
      while (done < total) {
        done++;
        await new Promise<void>((resolve) => {
          const s = net.connect(pen.port, '127.0.0.1');
          s.on('connect', () => s.end('GET / HTTP/1.0\r\n\r\n'));
          s.on('data', () => undefined);
          s.on('close', () => resolve());
          s.on('error', () => resolve());
          s.setTimeout(5000, () => s.destroy());
        });
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    await waitFor('descriptors back to baseline', () => fds() <= baseline, 10000);
    assert.ok(fds() <= baseline);
    await a.stop();
  });

  it('malformed control input gets an error reply and pen keeps running', async () => {
    const a = await new Backend('A').start();
    const pen = await ours([], [`127.0.0.1:${a.port}`]);
    assert.equal(await pen.ctl('frobnicate now'), "do_cmd: ignoring command starting with 'frobnicate'\n");
    assert.match(await pen.ctl('acl 12 permit 1.2.3.4'), /^do_cmd: acl number 12 out of range 0\.\.9\n$/);
    assert.match(await pen.ctl('acl 1 permit not-an-ip'), /^do_cmd: acl address "not-an-ip" is not an IPv4 or IPv6 address\n$/);
    assert.match(await pen.ctl('server x weight 1'), /^do_cmd: bad server number 'x'\n$/);
    assert.match(await pen.ctl('x'.repeat(5000)), /longer than 4095 bytes/);
    assert.equal(await pen.ctl('\u0000\u0001binary'), "do_cmd: ignoring command starting with '\u0000\u0001binary'\n");
    // Debian's pen answers these with nothing, which hides the mistake, and dies of the last two;
    // ours names each and keeps running.
    assert.equal(await pen.ctl('include /nonexistent/pen.cfg'), "do_cmd: can't read config file '/nonexistent/pen.cfg'\n");
    assert.equal(await pen.ctl('no frobnicate'), "do_cmd: ignoring command starting with 'no frobnicate'\n");
    assert.match(await pen.ctl('ssl_option frobnicate'), /^do_cmd: unknown ssl_option 'frobnicate'; use one of no_sslv2, /);
    assert.match(await pen.ctl('dsr_if lo'), /^do_cmd: dsr_if: direct server return needs raw sockets/);
    assert.equal(await fetchName(pen.port), 'A');
    await a.stop();
  });

  it('a command with a value pen cannot use is answered with the fix, and changes nothing', async () => {
    const a = await new Backend('A').start();
    const pen = await ours([], [`127.0.0.1:${a.port}`]);
    // The start-up probe's connection may still be counted at first.
    const servers = async () => (await pen.ctl('servers')).replace(/ conn \d+/g, '');
    const before = await servers();
    const answers: Array<[string, string]> = [
      ['blacklist soon', "do_cmd: blacklist takes a whole number, not 'soon'\n"],
      ['idle_timeout 5s', "do_cmd: idle_timeout takes a whole number, not '5s'\n"],
      ['recent lately', "do_cmd: recent takes a whole number, not 'lately'\n"],
      ['server 0 port 80 weight heavy', "do_cmd: server 0 weight takes a whole number, not 'heavy'\n"],
      ['server 0 port 99999', 'do_cmd: server 0 port 99999 is out of range 0..65535\n'],
      ['server 0 max 5 address', 'do_cmd: server 0 address needs a value\n'],
      ['server 0 colour red', "do_cmd: unknown server keyword 'colour'; use acl, address, port, max, hard, blacklist, weight, prio, check\n"],
      ['tcp_fastclose sometimes', "do_cmd: tcp_fastclose takes up, down, both or off, not 'sometimes'\n"],
      ['source 203.0.113.7', "do_cmd: unable to set source address to '203.0.113.7': it is not an IP address of this host; give one of its addresses\n"],
      ['write', 'do_cmd: write needs a file name, as pen was started without -F; give one: write FILE\n'],
    ];
    for (const [command, answer] of answers) assert.equal(await pen.ctl(command), answer, command);
    assert.match(await pen.ctl('log /nonexistent/dir/requests.log'), /^do_cmd: log: log target "\/nonexistent\/dir\/requests\.log" cannot be created: its directory does not exist; give a FILE /);
    assert.equal(await pen.ctl('log'), '', 'no log was set');
    assert.equal(await pen.ctl('blacklist'), '30\n');
    assert.equal(await servers(), before, 'no server was half changed');
    assert.equal(await pen.ctl('source 127.0.0.1'), '');
    assert.equal(await fetchName(pen.port), 'A');
    await a.stop();
  });

  it('write saves the running configuration, and -F of that file restores it', async () => {
    const a = await new Backend('A').start();
    const settings = ['roundrobin', 'blacklist 7', 'tarpit_acl 3', 'ssl_ciphers HIGH', 'ssl_option no_tlsv1.2', 'ssl_client_renegotiation_interval 60'];
    const pen = await ours(settings.flatMap((c) => ['-o', c]), [`127.0.0.1:${a.port}`]);
    const saved = path.join(pen.root, 'saved.cfg');
    assert.equal(await pen.ctl(`write ${saved}`), '');
    const text = fs.readFileSync(saved, 'utf8');
    for (const line of settings) assert.match(text, new RegExp(`^${line}$`, 'm'));
    const restored = await ours(['-F', saved], [`127.0.0.1:${a.port}`]);
    for (const query of ['mode', 'blacklist', 'tarpit_acl']) assert.equal(await restored.ctl(query), await pen.ctl(query), query);
    await a.stop();
  });

  it('a config file whose commands fail on HUP leaves pen running, with the settings it had', async () => {
    const a = await new Backend('A').start();
    const { pen, config } = await oursWithConfig('timeout 4\n', [`127.0.0.1:${a.port}`]);
    fs.writeFileSync(config, 'timeout 6\nwrite /nonexistent/dir/saved.cfg\nlog 127.0.0.1:99999\n');
    process.kill(pen.pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await pen.ctl('timeout'), '6\n', 'the good line was applied');
    assert.equal(await fetchName(pen.port), 'A', 'pen still serves');
    await a.stop();
  });

  it('a log file opened as root at the start is given to the -u user, so a HUP reopens it', async () => {
    const a = await new Backend('A').start();
    const pen = new PenInstance('ours');
    instances.push(pen);
    try {
      const logFile = path.join(pen.root, 'requests.log');
      await pen.start(['-l', logFile], [`127.0.0.1:${a.port}`]);
      await logGivenToNobody(logFile);
      process.kill(pen.pid, 'SIGHUP');
      await waitFor('the HUP carried out', () => pen.stderr.includes('log reopened and configuration re-read'));
      assert.doesNotMatch(pen.stderr, /the log in use is kept/);
      assert.equal(await fetchName(pen.port), 'A');
      await waitFor('a request logged after the HUP', () => fs.readFileSync(logFile, 'utf8').includes('GET /'));
    } finally {
      await a.stop();
    }
  });

  it('a log that cannot be reopened on HUP is kept and named, and the config file is re-read all the same', async () => {
    const a = await new Backend('A').start();
    try {
      const pen = new PenInstance('ours');
      instances.push(pen);
      const config = path.join(pen.root, 'pen.cfg');
      fs.writeFileSync(config, 'timeout 4\n', { mode: 0o644 });
      const logFile = path.join(pen.root, 'requests.log');
      await pen.start(['-F', config, '-l', logFile], [`127.0.0.1:${a.port}`]);
      // Taken back by root once pen has given it to nobody, so that nobody cannot reopen it.
      await logGivenToNobody(logFile);
      fs.chownSync(logFile, 0, 0);
      fs.chmodSync(logFile, 0o644);
      fs.writeFileSync(config, 'timeout 6\n');
      process.kill(pen.pid, 'SIGHUP');
      await waitFor('the config file re-read', async () => (await pen.ctl('timeout')) === '6\n');
      assert.match(pen.stderr, /log target "\S*requests\.log" cannot be written by user nobody \(make it writable by that user\); give a FILE .*; the log in use is kept/);
      assert.equal(await fetchName(pen.port), 'A');
    } finally {
      await a.stop();
    }
  });

  it('servers on the command line keep the config file\'s per-server acl and its further servers', async () => {
    const a = await new Backend('A').start();
    const { pen } = await oursWithConfig('acl 1 permit 127.0.0.1\nserver 0 acl 1\nserver 2 address 127.0.0.1 port 9\n', [`127.0.0.1:${a.port}`, `127.0.0.1:${a.port}`]);
    const servers = (await pen.ctl('servers')).trim().split('\n');
    assert.deepEqual(servers.map((l) => l.split(' ').slice(0, 5).join(' ')), [`0 addr 127.0.0.1 port ${a.port}`, `1 addr 127.0.0.1 port ${a.port}`, '2 addr 127.0.0.1 port 9']);
    const saved = path.join(pen.root, 'saved.cfg');
    await pen.ctl(`write ${saved}`);
    assert.match(fs.readFileSync(saved, 'utf8'), new RegExp(`^server 0 acl 1 address 127\\.0\\.0\\.1 port ${a.port} `, 'm'));
    await a.stop();
  });

  it('pen -F FILE alone: the listen address and the servers come from the file', async () => {
    const a = await new Backend('A').start();
    const root = tempDir('pen-listen');
    const port = await freePort();
    const config = path.join(root, 'pen.cfg');
    fs.writeFileSync(config, `listen 127.0.0.1:${port}\nserver 0 address 127.0.0.1 port ${a.port}\n`);
    const child = spawnTs('src/pen/bin/pen.ts', ['-f', '-F', config], { FLAVOR: 'abc', FLAVORKIT_ROOT: root });
    try {
      await waitFor('pen on the address of its config file', async () => (await fetchName(port)) === 'A', 10000);
    } finally {
      await killAndWait(child.pid!, 'SIGTERM');
      fs.rmSync(root, { recursive: true, force: true });
      await a.stop();
    }
  });

  it('listens on a UNIX socket and relays to a UNIX-socket backend, and says which data path it runs', async () => {
    const root = tempDir('pen-unix');
    const backendPath = path.join(root, 'backend.sock');
    const listenPath = path.join(root, 'pen.sock');
    const backend = http.createServer((_, res) => res.end('over sockets'));
    await new Promise<void>((r) => backend.listen(backendPath, r));
    const child = spawnTs('src/pen/bin/pen.ts', ['-f', listenPath, backendPath], { FLAVOR: 'abc', FLAVORKIT_ROOT: root });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const get = () =>
      new Promise<string>((resolve) => {
        const req = http.get({ socketPath: listenPath, path: '/', agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        });
        req.on('error', () => resolve(''));
      });
    try {
      await waitFor('an answer through the socket', async () => (await get()) === 'over sockets', 10000);
      assert.match(stderr, /data path: libuv stream handles/);
    } finally {
      await killAndWait(child.pid!, 'SIGTERM');
      backend.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a client that connects and never sends is dropped after the idle timeout', async () => {
    const silent = net.createServer(() => undefined);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', () => r()));
    const pen = await ours(['-o', 'idle_timeout 1'], [`127.0.0.1:${port}`]);
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const s = net.connect(pen.port, '127.0.0.1');
      s.on('close', () => resolve(Date.now() - started));
      s.on('error', () => undefined);
      s.setTimeout(8000, () => s.destroy());
    });
    assert.ok(closedAfter >= 900 && closedAfter < 7000, `closed after ${closedAfter} ms`);
    silent.close();
  });

  it('more clients than -x are refused cleanly, and served again when there is room', async () => {
    const a = await new Backend('A').start();
    const pen = await ours(['-x', '2'], [`127.0.0.1:${a.port}`]);
    await new Promise((r) => setTimeout(r, 300));
    const held = [net.connect(pen.port, '127.0.0.1'), net.connect(pen.port, '127.0.0.1')];
    await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await fetchName(pen.port), '', 'the third client is closed');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await fetchName(pen.port), 'A');
    await a.stop();
  });
});

describe('bad command lines', () => {
  const cases: Array<[string[], RegExp]> = [
    [['-t', '0', '8080', 'a'], /-t takes a whole number of at least 1/],
    [['-x', 'lots', '8080', 'a'], /-x takes a whole number/],
    [['-L', 'sslv9', '8080', 'a'], /-L takes ssl23, ssl2, ssl3 or tls1/],
    [['-j', '/var/empty', '8080', 'a'], /-j \(chroot\) is not available/],
    [['-Y', '8080', 'a'], /unknown option -Y/],
    [['-f', '0', '127.0.0.1:1'], /port 0 is out of range/],
    [['-f', '8080', 'no.such.host.invalid'], /unknown or invalid address \[no\.such\.host\.invalid\]/],
    [['-f', '8080', '127.0.0.1:1:x'], /max connections "x" is not a number/],
    [['-f', '18080'], /no servers given/],
    [['-f', '-o', 'frobnicate', '18080', '127.0.0.1:1'], /-o "frobnicate": ignoring command starting with 'frobnicate'; the commands are those of penctl/],
    [['-f', '-o', 'ssl_option sslv9', '18080', '127.0.0.1:1'], /unknown ssl_option 'sslv9'; use one of no_sslv2, .*cipher_server_preference/],
    [['-f', '-l', '127.0.0.1:99999', '18080', '127.0.0.1:1'], /log target "127\.0\.0\.1:99999": the port must be a number from 1 to 65535/],
    [['-f', '-l', '/nonexistent/dir/pen.log', '18080', '127.0.0.1:1'], /log target "\/nonexistent\/dir\/pen\.log" cannot be created: its directory does not exist; give a FILE pen can append to/],
    [['-f', '-K', '/etc/pen/key.pem', '18080', '127.0.0.1:1'], /-K: this option applies only to TLS termination; add -E certfile, or leave -K out/],
    [['-f', '-R', '-L', 'tls1', '18080', '127.0.0.1:1'], /-R -L: these options apply only to TLS termination; add -E certfile, or leave -R -L out/],
    [['-f', '-F', '/nonexistent/pen.cfg', '18080', '127.0.0.1:1'], /can't read config file '\/nonexistent\/pen\.cfg': it does not exist; create it \(it may be empty\), or give another with -F/],
    [['-f', '-C', 'ctl', '18080', '127.0.0.1:1'], /-C "ctl": "ctl" is neither a port number nor a service name/],
    [['-f', '-e', '127.0.0.1:1:x', '18080', '127.0.0.1:1'], /-e: server "127\.0\.0\.1:1:x": max connections "x" is not a number/],
    [['-f', '-u', 'no-such-user-here', '18080', '127.0.0.1:1'], /-u no-such-user-here: no such user; create it, or give another with -u/],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), async () => {
      // A private root: should a case start pen after all, nothing it writes is left behind.
      const root = tempDir('pen-refused');
      try {
        const result = await runTs('src/pen/bin/pen.ts', args, { FLAVOR: 'abc', FLAVORKIT_ROOT: root });
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, message);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }

  it('a PID file that cannot be written stops the start, said once, with the path and what to give', async () => {
    const root = tempDir('pen-pidfile');
    try {
      const result = await runTs('src/pen/bin/pen.ts', ['-f', '-p', '/etc/hostname/pen.pid', `127.0.0.1:${await freePort()}`, '127.0.0.1:1'], { FLAVOR: 'abc', FLAVORKIT_ROOT: root });
      assert.equal(result.code, 1, result.stderr);
      const said = result.stderr.split('\n').filter((l) => l.includes('cannot start'));
      assert.deepEqual(said, ["penabc: cannot start: the PID file /etc/hostname/pen.pid cannot be written (EEXIST: file already exists, mkdir '/etc/hostname'); give a path whose directory the daemon's user can create or write to"]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a config file line pen would ignore stops the start, named by its line', async () => {
    const dir = tempDir('pen-config');
    try {
      const config = path.join(dir, 'pen.cfg');
      fs.writeFileSync(config, '# servers come from the command line\nroundrobin\nfrobnicate 1\n');
      const result = await runTs('src/pen/bin/pen.ts', ['-f', '-F', config, '18080', '127.0.0.1:1'], { FLAVOR: 'abc', FLAVORKIT_ROOT: dir });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /pen\.cfg line 3: ignoring command starting with 'frobnicate'/);
      // The same inside an included file: named by that file and its line.
      const included = path.join(dir, 'more.cfg');
      fs.writeFileSync(included, 'timeout 5\nfrobnicate 2\n');
      fs.writeFileSync(config, `roundrobin\ninclude ${included}\n`);
      const nested = await runTs('src/pen/bin/pen.ts', ['-f', '-F', config, '18080', '127.0.0.1:1'], { FLAVOR: 'abc', FLAVORKIT_ROOT: dir });
      assert.equal(nested.code, 1, nested.stderr);
      assert.match(nested.stderr, /pen\.cfg line 2: .*more\.cfg line 2: ignoring command starting with 'frobnicate'/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
