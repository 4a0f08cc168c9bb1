// The contract of pen's FFI byte path (src/pen/ffi: an epoll loop calling libc through koffi) on
// the running Node: the loop runs on its own thread as in pen, real clients and backends on this
// one. test/pen/transport-majors.test.ts runs this file on every Node major the package supports,
// so that koffi failing to load on one of them fails here.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { newServer } from '../../src/pen/balancer';
import { runCommand } from '../../src/pen/commands';
import { FFI_ROUND_ENV, ffiProblem, peerOf, sockaddr } from '../../src/pen/ffi/libc';
import { ffiRefusal, ffiUnservable } from '../../src/pen/ffi/scope';
import { initialState, type FastClose } from '../../src/pen/state';
import { chooseDataPath, DATA_PATH_ENV, WRITE_QUEUE_BOUND } from '../../src/pen/transport';
import { freePort } from '../../tools/ports';
import { tempDir } from '../support/process';
import type { RelayEvent, RelayStart } from './ffi-relay-thread';
import { HungBackend } from './harness';

const MAJOR = Number(process.versions.node.split('.')[0]);
const THREAD = path.join(__dirname, 'ffi-relay-thread.ts');

type Rounds = 'c' | 'ts';

describe('FFI data path detection', () => {
  it(`Node ${MAJOR} loads koffi and libc, and pen runs the FFI path by default`, async () => {
    assert.equal(ffiProblem(), null);
    assert.deepEqual(await chooseDataPath({}), { path: 'ffi', reason: null });
    assert.deepEqual(await chooseDataPath({ [DATA_PATH_ENV]: '' }), { path: 'ffi', reason: null });
    assert.deepEqual(await chooseDataPath({ [DATA_PATH_ENV]: 'ffi' }), { path: 'ffi', reason: null });
    assert.deepEqual(await chooseDataPath({ [DATA_PATH_ENV]: 'handles' }), { path: 'handles', reason: null });
  });

  it('a configuration the FFI path cannot serve runs on the handles, and says why', async () => {
    const reason = 'the FFI path does not serve TLS termination';
    assert.deepEqual(await chooseDataPath({}, reason), { path: 'handles', reason });
    assert.deepEqual(await chooseDataPath({ [DATA_PATH_ENV]: 'ffi' }, reason), { path: 'handles', reason });
  });

  it('a data path the environment names that does not exist is refused, naming those that do', async () => {
    await assert.rejects(chooseDataPath({ [DATA_PATH_ENV]: 'epoll' }), new RegExp(`${DATA_PATH_ENV}=epoll names no data path; use ffi, handles or net`));
  });

  it('health checks, PROXY headers, accept_proxy and metrics_port keep pen off the FFI path, and its thread refuses them', () => {
    const state = initialState();
    state.balancer.servers = [newServer(0, { host: '127.0.0.1', port: 80 })];
    const scope = { tls: false, udp: false, unixListener: false, state };
    assert.equal(ffiUnservable(scope), null);
    const host = { state, proxy: () => null, liveTls: () => null, exit: () => undefined, writeWebStats: () => false, setLog: () => undefined };
    for (const [command, named] of [
      ['server 0 check tcp inter 2', /health checks/],
      ['server 0 proxy v2', /the PROXY protocol to servers/],
      ['accept_proxy 1', /accept_proxy/],
      ['metrics_port 127.0.0.1:9100', /metrics_port/],
    ] as const) {
      assert.match(ffiRefusal(command.split(' ')) ?? '', new RegExp(`^do_cmd: [a-z_ 0-9]+: only pen's handle data path serves this.*restart pen.*${DATA_PATH_ENV}=handles\n$`), command);
      const fresh = initialState();
      fresh.balancer.servers = [newServer(0, { host: '127.0.0.1', port: 80 })];
      assert.doesNotMatch(runCommand({ ...host, state: fresh }, command), /do_cmd/, command);
      assert.match(ffiUnservable({ ...scope, state: fresh }) ?? '', named, command);
    }
    for (const needing of ['server 0 port 81 check http GET / 200', 'server 0 drain proxy v1', 'server 0 no drain check tcp']) assert.notEqual(ffiRefusal(needing.split(' ')), null, needing);
    for (const harmless of ['server 0 check off', 'server 0 drain', 'server 0 no proxy', 'server 0 address check port 80', 'drain_timeout', 'drain_timeout 5', 'no accept_proxy', 'servers', 'server 0 port 81']) {
      assert.equal(ffiRefusal(harmless.split(' ')), null, harmless);
    }
  });

  it('socket addresses are written and read as the kernel lays them out', () => {
    for (const [host, port] of [['127.0.0.1', 80], ['::1', 8080], ['fe80::1:2', 1], ['2001:db8::', 443], ['::ffff:10.1.2.3', 9]] as const) {
      assert.deepEqual(peerOf(sockaddr(host, port)), { address: host, port });
    }
    const unix = sockaddr('', 0, '/run/x.sock');
    assert.equal(unix.readUInt16LE(0), 1);
    assert.equal(unix.subarray(2).toString(), '/run/x.sock\0');
  });
});

/** A relay on the FFI loop in its own thread, and the events it reports. */
class Relay {
  readonly events: RelayEvent[] = [];
  port = 0;
  private worker: Worker | null = null;
  private waiters: Array<() => void> = [];

  async start(backend: RelayStart['backend'], rounds: Rounds, fastClose: FastClose = 'off', listenHost = '127.0.0.1'): Promise<this> {
    const data: RelayStart = { listenHost, backend, fastClose };
    const env = { ...process.env, [FFI_ROUND_ENV]: rounds };
    this.worker = new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(THREAD)});`, { eval: true, workerData: data, env });
    this.worker.on('message', (e: RelayEvent) => {
      this.events.push(e);
      for (const w of this.waiters.splice(0)) w();
    });
    await this.next((e) => e.kind === 'listening');
    const listening = this.events.find((e) => e.kind === 'listening') as Extract<RelayEvent, { kind: 'listening' }>;
    this.port = listening.port;
    // The rounds asked for are the ones that run: the C round's library is built here (scripts/setup.sh).
    assert.match(listening.rounds, rounds === 'c' ? /^c$/ : /^ts: FLAVORKIT_PEN_FFI_ROUND=ts$/);
    return this;
  }

  /** Waits until an event matching `test` has been reported. */
  next(test: (e: RelayEvent) => boolean, ms = 10000): Promise<RelayEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the relay thread reported nothing in time')), ms);
      const look = () => {
        const found = this.events.find(test);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else this.waiters.push(look);
      };
      look();
    });
  }

  closed(): Array<Extract<RelayEvent, { kind: 'closed' }>> {
    return this.events.filter((e): e is Extract<RelayEvent, { kind: 'closed' }> => e.kind === 'closed');
  }

  ask(connect: unknown): void {
    this.worker!.postMessage({ connect });
  }

  client(host = '127.0.0.1'): net.Socket {
    const s = net.connect({ port: this.port, host });
    s.on('error', () => undefined);
    return s;
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage({ stop: true });
    const timer = setTimeout(() => void w.terminate(), 3000);
    await exited;
    clearTimeout(timer);
  }
}

async function backend(serve: (s: net.Socket) => void, unixPath?: string): Promise<{ server: net.Server; address: RelayStart['backend']; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    serve(s);
  });
  await new Promise<void>((r) => (unixPath ? server.listen(unixPath, r) : server.listen(0, '127.0.0.1', r)));
  return { server, sockets, address: unixPath ? { path: unixPath } : { port: (server.address() as net.AddressInfo).port } };
}

const closedSoon = (s: net.Socket, ms = 5000) =>
  new Promise<boolean>((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    const seen = () => {
      clearTimeout(timer);
      resolve(true);
    };
    s.once('end', seen);
    s.once('close', seen);
  });

const openFds = () => fs.readdirSync('/proc/self/fd').length;

const dir = tempDir('transport-ffi');
const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(dir, { recursive: true, force: true });
});

// Every case on both kinds of round: in C (./src/pen/ffi/relay.c, the default) and in TypeScript.
for (const rounds of ['c', 'ts'] as const) {
  describe(`relay on the FFI loop, ${rounds === 'c' ? 'C' : 'TypeScript'} rounds`, () => {
    const relayTo = async (serve: (s: net.Socket) => void, options: { fastClose?: FastClose; unix?: boolean; listenHost?: string } = {}) => {
      const b = await backend(serve, options.unix ? path.join(dir, `backend-${crypto.randomUUID()}.sock`) : undefined);
      const relay = await new Relay().start(b.address, rounds, options.fastClose, options.listenHost);
      cleanups.push(async () => {
        await relay.stop();
        for (const s of b.sockets) s.destroy();
        b.server.close();
      });
      return { relay, backend: b };
    };

    it("gives the client's address and port from accept4, over IPv4 and IPv6", async () => {
      for (const host of ['127.0.0.1', '::1']) {
        const { relay } = await relayTo((s) => s.end(), { listenHost: host });
        const client = relay.client(host);
        await new Promise((r) => client.once('connect', r));
        const seen = await relay.next((e) => e.kind === 'client');
        assert.deepEqual(seen, { kind: 'client', address: host, port: client.localPort });
        await closedSoon(client);
      }
    });

    it('moves 32 MiB each way intact to a slow reader, with the write queue bounded', async () => {
      const { relay } = await relayTo((s) => s.pipe(s));
      const payload = crypto.randomBytes(32 * 1024 * 1024);
      const client = relay.client();
      const got = crypto.createHash('sha256');
      let received = 0;
      const done = new Promise<void>((resolve) => {
        client.on('data', (chunk: Buffer) => {
          got.update(chunk);
          received += chunk.length;
          client.pause();
          setTimeout(() => client.resume(), 1);
        });
        client.on('end', () => resolve());
      });
      client.end(payload);
      await done;
      assert.equal(received, payload.length);
      assert.equal(got.digest('hex'), crypto.createHash('sha256').update(payload).digest('hex'));
      const closed = (await relay.next((e) => e.kind === 'closed')) as Extract<RelayEvent, { kind: 'closed' }>;
      assert.ok(closed.maxQueued <= WRITE_QUEUE_BOUND + 2 * 65536, `the client's write queue reached ${closed.maxQueued} bytes`);
      assert.equal(closed.clientBytes, payload.length);
      assert.equal(closed.serverBytes, payload.length);
    });

    it('passes a half-close on: the client ends, the backend still answers, then both close', async () => {
      const { relay } = await relayTo((s) => {
        let text = '';
        s.on('data', (d) => (text += d));
        s.on('end', () => s.end(`got ${text}`));
      });
      const client = relay.client();
      let answer = '';
      client.on('data', (d) => (answer += d));
      client.end('question');
      assert.ok(await closedSoon(client));
      assert.equal(answer, 'got question');
      await relay.next((e) => e.kind === 'closed');
      assert.equal(relay.closed().length, 1);
    });

    it('connects to a UNIX-domain backend', async () => {
      const { relay } = await relayTo((s) => s.end('over a socket file'), { unix: true });
      const client = relay.client();
      let answer = '';
      client.on('data', (d) => (answer += d));
      client.end();
      assert.ok(await closedSoon(client));
      assert.equal(answer, 'over a socket file');
    });

    it('a backend reset closes the client, and a client reset closes the backend', async () => {
      const first = await relayTo((s) => s.once('data', () => s.resetAndDestroy()));
      const c1 = first.relay.client();
      c1.write('x');
      assert.ok(await closedSoon(c1), 'the client is closed after the backend reset');

      const second = await relayTo((s) => s.resume());
      const c2 = second.relay.client();
      c2.write('x');
      await new Promise((r) => setTimeout(r, 200));
      const upstreams = [...second.backend.sockets];
      assert.equal(upstreams.length, 1);
      c2.resetAndDestroy();
      assert.ok(await closedSoon(upstreams[0]!), 'the backend connection is closed after the client reset');
    });

    it('a backend that answers and resets at once: the client gets the answer, and the reset closes the pair rather than half-closing it', async () => {
      const { relay } = await relayTo((s) =>
        s.once('data', () => {
          s.write('answer');
          s.resetAndDestroy();
        }),
      );
      // A client that would keep its own side open after an EOF: only a close of the pair ends it.
      const client = net.connect({ port: relay.port, host: '127.0.0.1', allowHalfOpen: true });
      client.on('error', () => undefined);
      let answer = '';
      client.on('data', (d) => (answer += d));
      client.write('question');
      await relay.next((e) => e.kind === 'closed', 3000);
      assert.ok(await closedSoon(client));
      assert.equal(answer, 'answer');
      client.destroy();
    });

    it('tcp_fastclose down: the client ending closes both sides, though the backend never answers', async () => {
      const { relay, backend: b } = await relayTo((s) => s.resume(), { fastClose: 'down' });
      const client = relay.client();
      client.end('GET / HTTP/1.0\r\n\r\n');
      assert.ok(await closedSoon(client), 'the client is closed');
      const upstreams = [...b.sockets];
      assert.ok(upstreams.length <= 1);
      if (upstreams[0]) assert.ok(await closedSoon(upstreams[0]), 'the backend connection is closed');
      await relay.next((e) => e.kind === 'closed');
    });

    it('without tcp_fastclose a backend that never answers keeps the half-closed pair open', async () => {
      const { relay } = await relayTo((s) => s.resume());
      const client = relay.client();
      client.end('GET / HTTP/1.0\r\n\r\n');
      assert.equal(await closedSoon(client, 500), false);
      assert.equal(relay.closed().length, 0);
      client.destroy();
    });

    it('connect: a refused port and a host that never answers both end in failure, the second after the timeout', async () => {
      const { relay } = await relayTo((s) => s.end());
      relay.ask({ host: '127.0.0.1', port: await freePort(), unixPath: null, source: null, timeoutMs: 2000 });
      const refused = (await relay.next((e) => e.kind === 'connected')) as Extract<RelayEvent, { kind: 'connected' }>;
      assert.equal(refused.ok, false);
      assert.ok(refused.ms < 1500, 'a refusal is not a timeout');
      const hung = await new HungBackend().start();
      cleanups.push(() => hung.stop());
      relay.events.length = 0;
      relay.ask({ host: '127.0.0.1', port: hung.port, unixPath: null, source: null, timeoutMs: 700 });
      const timedOut = (await relay.next((e) => e.kind === 'connected')) as Extract<RelayEvent, { kind: 'connected' }>;
      assert.equal(timedOut.ok, false);
      assert.ok(timedOut.ms >= 650 && timedOut.ms < 2000, `gave up after ${timedOut.ms} ms`);
    });

    it('500 short connections leave no descriptor open', async () => {
      const { relay } = await relayTo((s) => s.on('data', () => s.end('ok')));
      const baseline = openFds();
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            const c = relay.client();
            c.resume();
            c.end('hi');
            await closedSoon(c);
          }),
        );
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(relay.closed().length, 500);
      assert.ok(openFds() <= baseline, `${openFds()} descriptors open, ${baseline} before`);
    });
  });
}
