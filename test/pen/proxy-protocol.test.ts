// PROXY protocol through our pen against the real implementations: nginx (`listen ... proxy_protocol`,
// `$proxy_protocol_addr` in its access log) and haproxy (`accept-proxy`) as backends of
// `server N proxy v1|v2`, and haproxy (`send-proxy`, `send-proxy-v2`) in front of a pen with
// `accept_proxy`. Clients connect from other loopback addresses than pen's own, so the address a
// header carries is told apart from the connection's.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeNginxConfig } from '../../tools/nginx';
import { freePort, waitForTcp } from '../../tools/ports';
import { killAndWait, tempDir, waitFor } from '../support/process';
import { Backend, fetchName, PenInstance } from './harness';

const work = tempDir('proxyproto');
const children: ChildProcess[] = [];

function startChild(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', () => undefined);
  children.push(child);
  return child;
}

/** An nginx that speaks PROXY protocol on `port` and logs and answers the address it names. */
async function nginxWithProxyProtocol(port: number): Promise<string> {
  const dir = path.join(work, `nginx-${port}`);
  const conf = writeNginxConfig(
    dir,
    64,
    `log_format pp '$proxy_protocol_addr $proxy_protocol_port $remote_addr';
access_log ${dir}/logs/access.log pp;
server {
  listen 127.0.0.1:${port} proxy_protocol;
  location / { default_type text/plain; return 200 "$proxy_protocol_addr"; }
}`,
  );
  startChild('nginx', ['-p', dir, '-c', conf]);
  await waitForTcp(port);
  return path.join(dir, 'logs/access.log');
}

/** haproxy in HTTP mode accepting PROXY on `port`: it answers with the source address it believes. */
async function haproxyAccepting(port: number): Promise<void> {
  const conf = path.join(work, `haproxy-accept-${port}.cfg`);
  fs.writeFileSync(
    conf,
    `global
  maxconn 100
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend accept
  bind 127.0.0.1:${port} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src]"
`,
  );
  startChild('haproxy', ['-f', conf, '-db']);
  await waitForTcp(port);
}

/** haproxy in TCP mode in front of pen on `penPort`, sending PROXY `version` to it. */
async function haproxySending(port: number, penPort: number, version: 'send-proxy' | 'send-proxy-v2'): Promise<void> {
  const conf = path.join(work, `haproxy-send-${port}.cfg`);
  fs.writeFileSync(
    conf,
    `global
  maxconn 100
defaults
  mode tcp
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend front
  bind 127.0.0.1:${port}
  default_backend pen
backend pen
  server pen 127.0.0.1:${penPort} ${version}
`,
  );
  startChild('haproxy', ['-f', conf, '-db']);
  await waitForTcp(port);
}

/** A GET from `localAddress`: the body, or '' when the connection was closed without an answer. */
function getFrom(port: number, localAddress: string): Promise<string> {
  return fetchName(port, {}, localAddress);
}

/** Sends `bytes` raw from `localAddress`, then waits for pen's answer: what came back and whether pen closed. */
function rawExchange(port: number, localAddress: string, bytes: Buffer | string, waitMs: number): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let reply = '';
    let closed = false;
    s.on('data', (d) => (reply += d.toString('latin1')));
    s.on('close', () => {
      closed = true;
      resolve({ reply, closed });
    });
    s.on('error', () => undefined);
    s.on('connect', () => s.write(bytes));
    setTimeout(() => {
      if (!closed) {
        s.destroy();
        resolve({ reply, closed });
      }
    }, waitMs);
  });
}

after(async () => {
  for (const c of children) if (c.pid) await killAndWait(c.pid);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('server N proxy v1|v2: backends see the real client address', () => {
  let pen: PenInstance;
  let nginxLog = '';
  let nginxPort = 0;
  let haproxyPort = 0;

  before(async () => {
    nginxPort = await freePort();
    haproxyPort = await freePort();
    nginxLog = await nginxWithProxyProtocol(nginxPort);
    await haproxyAccepting(haproxyPort);
    // The versions change at run time: the handle path, which serves PROXY headers (the FFI path refuses them).
    pen = await new PenInstance('ours', { FLAVORKIT_PEN_DATA_PATH: 'handles' }).start(['-r'], [`127.0.0.1:${nginxPort}`]);
  });
  after(() => pen?.stop());

  for (const version of ['v1', 'v2'] as const) {
    it(`nginx with proxy_protocol logs the client's address (${version})`, async () => {
      assert.equal(await pen.ctl(`server 0 address 127.0.0.1 port ${nginxPort} proxy ${version}`), '');
      const body = await getFrom(pen.port, '127.0.0.5');
      assert.equal(body, '127.0.0.5');
      const line = await waitFor('the access log line', () => fs.readFileSync(nginxLog, 'utf8').trim().split('\n').pop());
      // The header's address and the client's own port; the connection itself comes from pen.
      assert.match(line, /^127\.0\.0\.5 \d+ 127\.0\.0\.1$/);
    });

    it(`haproxy with accept-proxy sees the client's address (${version})`, async () => {
      assert.equal(await pen.ctl(`server 0 address 127.0.0.1 port ${haproxyPort} proxy ${version}`), '');
      assert.equal(await getFrom(pen.port, '127.0.0.6'), '127.0.0.6');
    });
  }

  it('a PROXY header set with -o on a slot the command line fills is kept (and keeps pen on the handles)', async () => {
    const started = await new PenInstance('ours').start(['-r', '-o', 'server 0 proxy v1'], [`127.0.0.1:${nginxPort}`]);
    try {
      assert.equal(JSON.parse(await started.ctl('status_json')).data_path, 'handles');
      assert.equal(await getFrom(started.port, '127.0.0.9'), '127.0.0.9');
    } finally {
      await started.stop();
    }
  });

  it('no proxy: the backend gets the client bytes alone, as pen 0.34 sends them (haproxy refuses them)', async () => {
    assert.equal(await pen.ctl(`server 0 address 127.0.0.1 port ${haproxyPort} no proxy`), '');
    assert.equal(await getFrom(pen.port, '127.0.0.6'), '');
  });

  it('a wrong version is refused and changes nothing; write keeps the setting', async () => {
    assert.match(await pen.ctl(`server 0 port 1 proxy v3`), /server 0 proxy takes v1 or v2, not 'v3'/);
    assert.match(await pen.ctl('servers'), new RegExp(`^0 addr 127.0.0.1 port ${haproxyPort} `));
    assert.equal(await pen.ctl(`server 0 proxy v2`), '');
    const file = path.join(pen.root, 'written.cfg');
    assert.equal(await pen.ctl(`write ${file}`), '');
    assert.match(fs.readFileSync(file, 'utf8'), /^server 0 proxy v2$/m);
  });
});

describe('accept_proxy: PROXY headers from an upstream balancer the ACL permits', () => {
  let pen: PenInstance;
  let backend: Backend;
  let v1Port = 0;
  let v2Port = 0;
  let requestLog = '';

  before(async () => {
    backend = await new Backend('b0').start();
    const instance = new PenInstance('ours');
    requestLog = path.join(instance.root, 'requests.log');
    // Only haproxy's address (127.0.0.1) may send headers. Given at start, accept_proxy starts pen on the handles.
    pen = await instance.start(['-H', '-r', '-t', '1', '-l', requestLog, '-o', 'acl 1 permit 127.0.0.1', '-o', 'accept_proxy 1'], [`127.0.0.1:${backend.port}`]);
    assert.equal(JSON.parse(await pen.ctl('status_json')).data_path, 'handles');
    v1Port = await freePort();
    v2Port = await freePort();
    await haproxySending(v1Port, pen.port, 'send-proxy');
    await haproxySending(v2Port, pen.port, 'send-proxy-v2');
  });
  after(async () => {
    await pen?.stop();
    await backend?.stop();
  });

  for (const [version, port] of [['send-proxy', () => v1Port], ['send-proxy-v2', () => v2Port]] as const) {
    it(`haproxy ${version}: client tracking, X-Forwarded-For and penctl see the client, not haproxy`, async () => {
      const client = version === 'send-proxy' ? '127.0.0.7' : '127.0.0.8';
      assert.equal(await getFrom(port(), client), 'b0');
      assert.equal(backend.seen.at(-1)!['x-forwarded-for'], client);
      assert.match(await pen.ctl('recent'), new RegExp(`^${client.replace(/\./g, '\\.')} connects 1 `, 'm'));
      assert.match(await waitFor('the request log line', () => fs.existsSync(requestLog) && fs.readFileSync(requestLog, 'utf8').includes(client) && fs.readFileSync(requestLog, 'utf8')), new RegExp(`^${client.replace(/\./g, '\\.')} `, 'm'));
    });
  }

  it('client_acl judges the address the header names', async () => {
    for (const c of ['acl 2 deny 127.0.0.8', 'acl 2 permit 0.0.0.0 0.0.0.0', 'client_acl 2']) assert.doesNotMatch(await pen.ctl(c), /do_cmd/);
    assert.equal(await getFrom(v2Port, '127.0.0.8'), '', 'refused by client_acl (no abuse server)');
    assert.equal(await getFrom(v1Port, '127.0.0.7'), 'b0');
    assert.equal(await pen.ctl('client_acl 0'), '0\n');
  });

  it('a client outside the ACL is balanced as usual, and refused when it sends a PROXY header', async () => {
    assert.equal(await getFrom(pen.port, '127.0.0.9'), 'b0');
    const before = backend.seen.length;
    const r = await rawExchange(pen.port, '127.0.0.9', 'PROXY TCP4 10.1.2.3 127.0.0.1 1234 80\r\nGET / HTTP/1.0\r\n\r\n', 3000);
    assert.ok(r.closed, 'pen closed the connection');
    assert.equal(r.reply, '', 'nothing reached the client from a backend');
    assert.equal(backend.seen.length, before, 'the backend saw no request');
    assert.doesNotMatch(await pen.ctl('recent'), /10\.1\.2\.3/);
    const v2 = Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111000c', 'hex'), Buffer.alloc(12), Buffer.from('GET / HTTP/1.0\r\n\r\n')]);
    assert.ok((await rawExchange(pen.port, '127.0.0.9', v2, 3000)).closed);
    assert.equal(backend.seen.length, before);
  });

  it('malformed, oversized and slow headers from a permitted peer are refused; pen goes on', async () => {
    const cases: Array<[string, Buffer | string]> = [
      ['no header', 'GET / HTTP/1.0\r\n\r\n'],
      ['garbage v1', 'PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n'],
      ['oversized v1', `PROXY TCP4 ${'1'.repeat(300)}`],
      ['oversized v2', Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111ffff', 'hex'), Buffer.alloc(4000)])],
    ];
    for (const [what, bytes] of cases) {
      const r = await rawExchange(pen.port, '127.0.0.1', bytes, 3000);
      assert.ok(r.closed, `${what}: closed`);
      assert.equal(r.reply, '', `${what}: no answer`);
    }
    // Half a header, then silence: closed after pen's `timeout` (1 s here).
    const t0 = Date.now();
    const slow = await rawExchange(pen.port, '127.0.0.1', 'PROXY TCP4 1.2.3.4', 5000);
    assert.ok(slow.closed && Date.now() - t0 < 4000, 'a slow header is dropped after the timeout');
    assert.ok(pen.child!.exitCode === null, 'pen still runs');
    for (const logged of ['no PROXY header', 'a version 1 header whose addresses are not IPv4', 'longer than 107 bytes', 'more than 1040', 'no complete PROXY header within 1 s', "127.0.0.9 sent a PROXY header but accept_proxy's ACL does not permit it"]) {
      await waitFor(`the log line "${logged}"`, () => pen.stderr.includes(logged), 3000);
    }
    assert.equal(await getFrom(v1Port, '127.0.0.7'), 'b0');
  });

  it('no accept_proxy: headers are no longer read, as in pen 0.34', async () => {
    assert.equal(await pen.ctl('no accept_proxy'), '');
    assert.equal(await pen.ctl('accept_proxy'), 'accept_proxy off\n');
    assert.equal(await getFrom(pen.port, '127.0.0.1'), 'b0');
    assert.match(await pen.ctl('accept_proxy 10'), /accept_proxy takes a whole number from 0 to 9, not '10'/);
  });
});
