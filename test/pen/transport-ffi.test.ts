// The contract of pen's FFI byte path (src/pen/ffi: an epoll loop calling libc through koffi) on
// the running Node, through the cases of ./relay-contract.ts: the loop runs on its own thread as
// in pen, real clients and backends on this one. test/pen/transport-majors.test.ts runs this file
// on every Node major the package supports, so that koffi failing to load on one of them fails here.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { newServer } from '../../src/pen/balancer';
import { runCommand } from '../../src/pen/commands';
import { FFI_ROUND_ENV, ffiProblem, peerOf, sockaddr } from '../../src/pen/ffi/libc';
import { ffiRefusal, ffiUnservable } from '../../src/pen/ffi/scope';
import { initialState } from '../../src/pen/state';
import { chooseDataPath, DATA_PATH_ENV, type ConnectTarget } from '../../src/pen/transport';
import { waitFor } from '../support/process';
import type { RelayEvent, RelayStart } from './ffi-relay-thread';
import { noReports, relayContract, type Address, type ListenOn, type RelayOptions, type RelayUnderTest } from './relay-contract';

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

/** A relay on the FFI loop in its own thread, and what that thread reports. */
class Relay implements RelayUnderTest {
  readonly reports = noReports();
  listening: ListenOn = { host: '127.0.0.1', port: 0 };
  private readonly connected: Array<Extract<RelayEvent, { kind: 'connected' }>> = [];
  private worker: Worker | null = null;

  async start(backend: Address, rounds: Rounds, options: RelayOptions): Promise<this> {
    if ('path' in options.listen) throw new Error('the FFI loop listens on TCP only');
    const data: RelayStart = { listenHost: options.listen.host, backend, fastClose: options.fastClose };
    const env = { ...process.env, [FFI_ROUND_ENV]: rounds };
    this.worker = new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(THREAD)});`, { eval: true, workerData: data, env });
    const listening = new Promise<Extract<RelayEvent, { kind: 'listening' }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the relay thread reported nothing in time')), 10000);
      this.worker!.on('message', (e: RelayEvent) => {
        if (e.kind === 'listening') {
          clearTimeout(timer);
          resolve(e);
        } else if (e.kind === 'client') this.reports.clients.push({ address: e.address, port: e.port });
        else if (e.kind === 'closed') this.reports.closed.push({ clientBytes: e.clientBytes, serverBytes: e.serverBytes, maxQueued: e.maxQueued });
        else this.connected.push(e);
      });
    });
    const { port, rounds: running } = await listening;
    this.listening = { host: options.listen.host, port };
    // The rounds asked for are the ones that run: the C round's library is built here (scripts/setup.sh).
    assert.match(running, rounds === 'c' ? /^c$/ : /^ts: FLAVORKIT_PEN_FFI_ROUND=ts$/);
    return this;
  }

  /** A connect on the relay's loop, in its thread. */
  async connect(target: ConnectTarget): Promise<{ ok: boolean; ms: number }> {
    const asked = this.connected.length;
    this.worker!.postMessage({ connect: target });
    const { ok, ms } = await waitFor('the relay thread to report the connect', () => this.connected[asked]);
    return { ok, ms };
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

// Every case on both kinds of round: in C (./src/pen/ffi/relay.c, the default) and in TypeScript.
for (const rounds of ['c', 'ts'] as const) {
  relayContract({
    title: `relay on the FFI loop, ${rounds === 'c' ? 'C' : 'TypeScript'} rounds`,
    // What one read and one write can add beyond the bound.
    queueSlack: 2 * 65536,
    tcpOnly: 'the FFI loop listens on TCP only: pen runs a UNIX-socket listener on the handles',
    halfClosesOnReset: null,
    start: (backend, options) => new Relay().start(backend, rounds, options),
  });
}
