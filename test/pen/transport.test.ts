// The contract of pen's byte path (src/pen/transport.ts) on the running Node, on both paths:
// libuv handles and net. test/pen/transport-majors.test.ts runs this file on every Node major
// the package supports, so that a change inside Node fails here rather than in production.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastClose } from '../../src/pen/state';
import { chooseDataPath, connect, DATA_PATH_ENV, detectDataPath, listenHandles, netSide, Pair, WRITE_QUEUE_BOUND, type DataPath, type Listener, type Side } from '../../src/pen/transport';
import { freePort, tempDir } from '../support/process';
import { HungBackend } from './harness';

const MAJOR = Number(process.versions.node.split('.')[0]);

describe('data path detection', () => {
  it(`Node ${MAJOR} offers the handle path, where the FFI loop does not serve the configuration or it is asked for, and its probe passes`, async () => {
    assert.deepEqual(await chooseDataPath({}, 'the FFI path does not serve UDP'), { path: 'handles', reason: 'the FFI path does not serve UDP' });
    assert.deepEqual(await chooseDataPath({ [DATA_PATH_ENV]: 'handles' }), { path: 'handles', reason: null });
  });

  it(`${DATA_PATH_ENV}=net chooses net and says why`, () => {
    assert.deepEqual(detectDataPath({ [DATA_PATH_ENV]: 'net' }), { path: 'net', reason: `${DATA_PATH_ENV}=net` });
  });
});

/** A relay as pen runs one: a listener whose clients are paired with a connection to `backend`. */
class Relay {
  readonly pairs: Pair[] = [];
  readonly closed: Pair[] = [];
  maxQueued = 0;
  private listener: Listener | net.Server | null = null;
  address: { port: number } | { path: string } = { port: 0 };

  constructor(
    readonly dataPath: DataPath,
    private readonly backend: { port: number } | { path: string },
    private readonly fastClose: FastClose = 'off',
    private readonly onClient: (client: Side) => void = () => undefined,
  ) {}

  async start(unixPath?: string): Promise<this> {
    const accept = (client: Side) => {
      this.onClient(client);
      const target = 'path' in this.backend
        ? { host: '', port: 0, unixPath: this.backend.path, source: null, timeoutMs: 2000 }
        : { host: '127.0.0.1', port: this.backend.port, unixPath: null, source: null, timeoutMs: 2000 };
      connect(this.dataPath, target, (upstream) => {
        if (!upstream) {
          client.close();
          return;
        }
        const pair: Pair = new Pair(client, upstream, this.fastClose, {
          fromClient: (chunk) => chunk,
          fromServer: () => {
            this.maxQueued = Math.max(this.maxQueued, client.queued);
          },
          relayed: () => undefined,
          plainRelay: false,
          closed: () => this.closed.push(pair),
        });
        this.pairs.push(pair);
      });
    };
    if (this.dataPath === 'handles') {
      const endpoint = unixPath ? { kind: 'unix' as const, path: unixPath } : { kind: 'inet' as const, host: '127.0.0.1', port: await freePort() };
      this.listener = await listenHandles(endpoint, 128, accept);
      this.address = unixPath ? { path: unixPath } : { port: endpoint.kind === 'inet' ? endpoint.port : 0 };
    } else {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => accept(netSide(s)));
      await new Promise<void>((r) => (unixPath ? server.listen(unixPath, r) : server.listen(0, '127.0.0.1', r)));
      this.listener = server;
      this.address = unixPath ? { path: unixPath } : { port: (server.address() as net.AddressInfo).port };
    }
    return this;
  }

  client(): net.Socket {
    const s = 'path' in this.address ? net.connect({ path: this.address.path }) : net.connect({ port: this.address.port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    return s;
  }

  stop(): void {
    for (const p of this.pairs) p.close();
    this.listener?.close();
  }
}

/** A backend on 127.0.0.1 (or a UNIX socket) that runs `serve` for each connection. */
async function backend(serve: (s: net.Socket) => void, unixPath?: string): Promise<{ server: net.Server; address: { port: number } | { path: string }; sockets: Set<net.Socket> }> {
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

/** Whether the relay closed its end of `s` (EOF or close) within `ms`. */
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

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * How many bytes `s` read up to its end, their hash, and how it ended (`end`, or `close` when the
 * relay reset it: then the case fails on what was read rather than waiting for an end that never
 * comes); `slow` pauses 1 ms after each read.
 */
function readAll(s: net.Socket, slow: boolean): Promise<{ bytes: number; sha256: string; ended: 'end' | 'close' }> {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  return new Promise((resolve) => {
    let ended: 'end' | 'close' | null = null;
    const settle = (how: 'end' | 'close') => {
      if (ended) return;
      ended = how;
      resolve({ bytes, sha256: hash.digest('hex'), ended: how });
    };
    s.on('close', () => settle('close'));
    s.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      if (!slow) return;
      s.pause();
      setTimeout(() => s.resume(), 1);
    });
    s.on('end', () => settle('end'));
  });
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

const dir = tempDir('transport');
const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(dir, { recursive: true, force: true });
});

for (const dataPath of ['handles', 'net'] as const) {
  describe(`relay on ${dataPath}`, () => {
    // Each case may run alone (--test-name-pattern): the handle path is chosen here, not by the cases above.
    before(() => {
      if (dataPath === 'handles') assert.equal(detectDataPath({ [DATA_PATH_ENV]: 'handles' }).path, 'handles');
    });

    const relayTo = async (serve: (s: net.Socket) => void, options: { fastClose?: FastClose; unix?: boolean; onClient?: (c: Side) => void } = {}) => {
      const b = await backend(serve, options.unix ? path.join(dir, `${dataPath}-backend-${crypto.randomUUID()}.sock`) : undefined);
      const relay = await new Relay(dataPath, b.address, options.fastClose, options.onClient).start(options.unix ? path.join(dir, `${dataPath}-relay-${crypto.randomUUID()}.sock`) : undefined);
      cleanups.push(() => {
        relay.stop();
        for (const s of b.sockets) s.destroy();
        b.server.close();
      });
      return { relay, backend: b };
    };

    it("gives the client's address and port at accept", async () => {
      let seen: [string | null, number] = [null, 0];
      const { relay } = await relayTo((s) => s.end(), { onClient: (c) => (seen = [c.remoteAddress, c.remotePort]) });
      const client = relay.client();
      await new Promise((r) => client.once('connect', r));
      await closedSoon(client);
      assert.deepEqual(seen, ['127.0.0.1', client.localPort]);
    });

    it('moves 32 MiB each way intact to a slow reader, with the write queue bounded', async () => {
      // The backend echoes; the client writes 32 MiB and reads slowly, so the relay must pause.
      const { relay } = await relayTo((s) => s.pipe(s));
      const payload = crypto.randomBytes(32 * 1024 * 1024);
      const client = relay.client();
      const echoed = readAll(client, true);
      client.end(payload);
      assert.deepEqual(await echoed, { bytes: payload.length, sha256: sha256(payload), ended: 'end' });
      // The bound, plus what one read and one write can add beyond it.
      assert.ok(relay.maxQueued <= WRITE_QUEUE_BOUND + 2 * 65536 + 1024 * 1024, `the client's write queue reached ${relay.maxQueued} bytes`);
      assert.equal(relay.pairs[0]!.clientBytes, payload.length);
      assert.equal(relay.pairs[0]!.serverBytes, payload.length);
    });

    // The handles read every socket into one shared buffer; a write the kernel does not take at
    // once must still send what was read, though other sockets read into that buffer meanwhile.
    // On net, the backend socket closes by itself once both its directions end, while the slow
    // client's queue may still hold the echo's tail: that close must not close the pair.
    it('keeps 8 pairs apart, each way intact, while half their clients read slowly', async () => {
      const { relay } = await relayTo((s) => s.pipe(s));
      const one = async (pair: number, slow: boolean) => {
        const payload = crypto.randomBytes(8 * 1024 * 1024);
        const client = relay.client();
        const echoed = readAll(client, slow);
        // Written in pieces, so that reads from this client interleave with the other pairs' writes.
        for (let at = 0; at < payload.length; at += 256 * 1024) {
          if (!client.write(payload.subarray(at, at + 256 * 1024))) await new Promise((r) => client.once('drain', r));
        }
        client.end();
        assert.deepEqual(await echoed, { bytes: payload.length, sha256: sha256(payload), ended: 'end' }, `pair ${pair} (${slow ? 'slow' : 'fast'} reader)`);
      };
      await Promise.all(Array.from({ length: 8 }, (_, i) => one(i, i % 2 === 0)));
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
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(relay.closed.length, 1);
    });

    it('on UNIX sockets both ways', async () => {
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
      await new Promise((r) => setTimeout(r, 100));
      const upstreams = [...second.backend.sockets];
      assert.equal(upstreams.length, 1);
      c2.resetAndDestroy();
      assert.ok(await closedSoon(upstreams[0]!), 'the backend connection is closed after the client reset');
    });

    it('tcp_fastclose down: the client ending closes both sides, though the backend never answers', async () => {
      const { relay, backend: b } = await relayTo((s) => s.resume(), { fastClose: 'down' });
      const client = relay.client();
      client.end('GET / HTTP/1.0\r\n\r\n');
      assert.ok(await closedSoon(client), 'the client is closed');
      const upstreams = [...b.sockets];
      assert.ok(upstreams.length <= 1);
      if (upstreams[0]) assert.ok(await closedSoon(upstreams[0]), 'the backend connection is closed');
      assert.equal(relay.closed.length, 1);
    });

    it('without tcp_fastclose a backend that never answers keeps the half-closed pair open', async () => {
      const { relay } = await relayTo((s) => s.resume());
      const client = relay.client();
      client.end('GET / HTTP/1.0\r\n\r\n');
      assert.equal(await closedSoon(client, 500), false);
      assert.equal(relay.closed.length, 0);
      client.destroy();
    });

    it('connect: a refused port and a host that never answers both end in null, the second after the timeout', async () => {
      const refused = await freePort();
      const started = Date.now();
      const side = await new Promise<Side | null>((r) => connect(dataPath, { host: '127.0.0.1', port: refused, unixPath: null, source: null, timeoutMs: 2000 }, r));
      assert.equal(side, null);
      assert.ok(Date.now() - started < 1500, 'a refusal is not a timeout');
      const hung = await new HungBackend().start();
      cleanups.push(() => hung.stop());
      const t0 = Date.now();
      const timedOut = await new Promise<Side | null>((r) => connect(dataPath, { host: '127.0.0.1', port: hung.port, unixPath: null, source: null, timeoutMs: 700 }, r));
      assert.equal(timedOut, null);
      assert.ok(Date.now() - t0 >= 650, `gave up after ${Date.now() - t0} ms`);
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
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(relay.closed.length, 500);
      assert.ok(openFds() <= baseline, `${openFds()} descriptors open, ${baseline} before`);
    });
  });
}
