// The contract of pen's byte paths as one list of cases. Each test file that owns a path gives a
// PathUnderTest (test/pen/transport.test.ts: handles and net; transport-ffi.test.ts: the FFI loop
// with C and with TypeScript rounds) and runs relayContract on it, so every path answers to the
// same cases and a case added here runs on all of them.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastClose } from '../../src/pen/state';
import { WRITE_QUEUE_BOUND, type ConnectTarget } from '../../src/pen/transport';
import { freePort, tempDir, waitFor } from '../support/process';
import { HungBackend } from './harness';

/** A backend's address: TCP on 127.0.0.1, or a UNIX socket. */
export type Address = { port: number } | { path: string };

/** Where a relay listens: TCP on a loopback host, or a UNIX socket. */
export type ListenOn = { host: string; port: number } | { path: string };

export interface RelayOptions {
  fastClose: FastClose;
  /** TCP on this host (port 0: the path picks one), or a UNIX socket. */
  listen: { host: string } | { path: string };
}

/** A pair the relay closed: the bytes each way, and the most its client's write queue held. */
export interface PairReport {
  clientBytes: number;
  serverBytes: number;
  maxQueued: number;
}

/** What a running relay saw, in order, as it reports it. */
export interface RelayReports {
  /** Each client's address and port as the relay got them at accept. */
  readonly clients: Array<{ address: string | null; port: number }>;
  readonly closed: PairReport[];
}

/** A relay's reports before it has seen anything. */
export const noReports = (): RelayReports => ({ clients: [], closed: [] });

/** A relay pairing each client with a connection to its backend, on the path under test. */
export interface RelayUnderTest {
  readonly listening: ListenOn;
  readonly reports: RelayReports;
  /** One connect on the path's own connect (the relay's loop, where the path has one). */
  connect(target: ConnectTarget): Promise<{ ok: boolean; ms: number }>;
  stop(): void | Promise<void>;
}

export interface PathUnderTest {
  /** The title of its cases' describe. */
  title: string;
  /** What the client's write queue may hold beyond WRITE_QUEUE_BOUND: what one read and one write add there. */
  queueSlack: number;
  /** Why the path listens on TCP only (null: it listens on UNIX sockets too). */
  tcpOnly: string | null;
  /** Why a backend's reset that follows its answer half-closes the pair on this path, where it does (null: it closes the pair). */
  halfClosesOnReset: string | null;
  /** Makes ready and checks the path before any case (each case may run alone). */
  before?: () => void;
  /** A relay to `backend`, having checked that the path (and rounds) asked for are those running. */
  start(backend: Address, options: RelayOptions): Promise<RelayUnderTest>;
}

/** A backend on 127.0.0.1 (or a UNIX socket) that runs `serve` for each connection. */
async function backend(serve: (s: net.Socket) => void, unixPath?: string): Promise<{ server: net.Server; address: Address; sockets: Set<net.Socket> }> {
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

/** A client of `relay`; `allowHalfOpen` keeps its own side open after an EOF. */
function clientOf(relay: RelayUnderTest, allowHalfOpen = false): net.Socket {
  const s = net.connect({ ...relay.listening, allowHalfOpen });
  s.on('error', () => undefined);
  return s;
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

/** Waits until the relay has closed `count` pairs (failing after `ms`), then gives all it closed. */
async function closedPairs(relay: RelayUnderTest, count: number, ms = 10000): Promise<PairReport[]> {
  await waitFor(`the relay to close ${count} pair(s)`, () => relay.reports.closed.length >= count, ms);
  return relay.reports.closed;
}

const openFds = () => fs.readdirSync('/proc/self/fd').length;

export function relayContract(under: PathUnderTest): void {
  describe(under.title, () => {
    const dir = tempDir('relay');
    const cleanups: Array<() => void | Promise<void>> = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    if (under.before) before(under.before);

    const socketFile = (role: string) => path.join(dir, `${role}-${crypto.randomUUID()}.sock`);
    const relayTo = async (serve: (s: net.Socket) => void, options: { fastClose?: FastClose; unixBackend?: boolean; listen?: RelayOptions['listen'] } = {}) => {
      const b = await backend(serve, options.unixBackend ? socketFile('backend') : undefined);
      const relay = await under.start(b.address, { fastClose: options.fastClose ?? 'off', listen: options.listen ?? { host: '127.0.0.1' } });
      cleanups.push(async () => {
        await relay.stop();
        for (const s of b.sockets) s.destroy();
        b.server.close();
      });
      return { relay, backend: b };
    };

    it("gives the client's address and port at accept, over IPv4 and IPv6", async () => {
      for (const host of ['127.0.0.1', '::1']) {
        const { relay } = await relayTo((s) => s.end(), { listen: { host } });
        const client = clientOf(relay);
        await new Promise((r) => client.once('connect', r));
        // Read now: the backend ends at once, and a closed socket has no local port.
        const port = client.localPort;
        const seen = await waitFor(`the relay to accept the client on ${host}`, () => relay.reports.clients[0]);
        assert.deepEqual(seen, { address: host, port });
        await closedSoon(client);
      }
    });

    it('moves 32 MiB each way intact to a slow reader, with the write queue bounded', async () => {
      // The backend echoes; the client writes 32 MiB and reads slowly, so the relay must pause.
      const { relay } = await relayTo((s) => s.pipe(s));
      const payload = crypto.randomBytes(32 * 1024 * 1024);
      const client = clientOf(relay);
      const echoed = readAll(client, true);
      client.end(payload);
      assert.deepEqual(await echoed, { bytes: payload.length, sha256: sha256(payload), ended: 'end' });
      const [pair] = await closedPairs(relay, 1);
      assert.ok(pair!.maxQueued <= WRITE_QUEUE_BOUND + under.queueSlack, `the client's write queue reached ${pair!.maxQueued} bytes`);
      assert.equal(pair!.clientBytes, payload.length);
      assert.equal(pair!.serverBytes, payload.length);
    });

    // The handles read every socket into one shared buffer; a write the kernel does not take at
    // once must still send what was read, though other sockets read into that buffer meanwhile.
    // On net, the backend socket closes by itself once both its directions end, while the slow
    // client's queue may still hold the echo's tail: that close must not close the pair.
    it('keeps 8 pairs apart, each way intact, while half their clients read slowly', async () => {
      const { relay } = await relayTo((s) => s.pipe(s));
      const one = async (pair: number, slow: boolean) => {
        const payload = crypto.randomBytes(8 * 1024 * 1024);
        const client = clientOf(relay);
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
      const client = clientOf(relay);
      let answer = '';
      client.on('data', (d) => (answer += d));
      client.end('question');
      assert.ok(await closedSoon(client));
      assert.equal(answer, 'got question');
      assert.equal((await closedPairs(relay, 1)).length, 1);
    });

    /** A UNIX-domain backend's answer through a relay listening on `listen`. */
    const answerOverSocketFile = async (listen?: RelayOptions['listen']) => {
      const { relay } = await relayTo((s) => s.end('over a socket file'), { unixBackend: true, listen });
      const client = clientOf(relay);
      let answer = '';
      client.on('data', (d) => (answer += d));
      client.end();
      assert.ok(await closedSoon(client));
      assert.equal(answer, 'over a socket file');
    };

    it('connects to a UNIX-domain backend', () => answerOverSocketFile());

    it('on UNIX sockets both ways', { skip: under.tcpOnly ?? false }, () => answerOverSocketFile({ path: socketFile('relay') }));

    it('a backend reset closes the client, and a client reset closes the backend', async () => {
      const first = await relayTo((s) => s.once('data', () => s.resetAndDestroy()));
      const c1 = clientOf(first.relay);
      c1.write('x');
      assert.ok(await closedSoon(c1), 'the client is closed after the backend reset');

      const second = await relayTo((s) => s.resume());
      const c2 = clientOf(second.relay);
      c2.write('x');
      await waitFor('the relay to connect to the backend', () => second.backend.sockets.size > 0);
      const upstreams = [...second.backend.sockets];
      assert.equal(upstreams.length, 1);
      c2.resetAndDestroy();
      assert.ok(await closedSoon(upstreams[0]!), 'the backend connection is closed after the client reset');
    });

    it('a backend that answers and resets at once: the client gets the answer, and the reset closes the pair rather than half-closing it', { skip: under.halfClosesOnReset ?? false }, async () => {
      const { relay } = await relayTo((s) =>
        s.once('data', () => {
          s.write('answer');
          s.resetAndDestroy();
        }),
      );
      // A client that would keep its own side open after an EOF: only a close of the pair ends it.
      const client = clientOf(relay, true);
      let answer = '';
      client.on('data', (d) => (answer += d));
      client.write('question');
      await closedPairs(relay, 1, 3000);
      assert.ok(await closedSoon(client));
      assert.equal(answer, 'answer');
      client.destroy();
    });

    it('tcp_fastclose down: the client ending closes both sides, though the backend never answers', async () => {
      const { relay, backend: b } = await relayTo((s) => s.resume(), { fastClose: 'down' });
      const client = clientOf(relay);
      client.end('GET / HTTP/1.0\r\n\r\n');
      assert.ok(await closedSoon(client), 'the client is closed');
      const upstreams = [...b.sockets];
      assert.ok(upstreams.length <= 1);
      if (upstreams[0]) assert.ok(await closedSoon(upstreams[0]), 'the backend connection is closed');
      assert.equal((await closedPairs(relay, 1)).length, 1);
    });

    it('without tcp_fastclose a backend that never answers keeps the half-closed pair open', async () => {
      const { relay } = await relayTo((s) => s.resume());
      const client = clientOf(relay);
      client.end('GET / HTTP/1.0\r\n\r\n');
      assert.equal(await closedSoon(client, 500), false);
      assert.equal(relay.reports.closed.length, 0);
      client.destroy();
    });

    it('connect: a refused port and a host that never answers both end in failure, the second after the timeout', async () => {
      const { relay } = await relayTo((s) => s.end());
      const refused = await relay.connect({ host: '127.0.0.1', port: await freePort(), unixPath: null, source: null, timeoutMs: 2000 });
      assert.equal(refused.ok, false);
      assert.ok(refused.ms < 1500, 'a refusal is not a timeout');
      const hung = await new HungBackend().start();
      cleanups.push(() => hung.stop());
      const timedOut = await relay.connect({ host: '127.0.0.1', port: hung.port, unixPath: null, source: null, timeoutMs: 700 });
      assert.equal(timedOut.ok, false);
      assert.ok(timedOut.ms >= 650 && timedOut.ms < 2000, `gave up after ${timedOut.ms} ms`);
    });

    it('500 short connections leave no descriptor open', async () => {
      const { relay } = await relayTo((s) => s.on('data', () => s.end('ok')));
      const baseline = openFds();
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            const c = clientOf(relay);
            c.resume();
            c.end('hi');
            await closedSoon(c);
          }),
        );
      }
      assert.equal((await closedPairs(relay, 500)).length, 500);
      // A closed pair's descriptors are released by its loop just after.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(openFds() <= baseline, `${openFds()} descriptors open, ${baseline} before`);
    });
  });
}
