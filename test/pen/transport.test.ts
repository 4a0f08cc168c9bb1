// The contract of pen's byte path (src/pen/transport.ts) on the running Node, on both paths:
// libuv handles and net, each through the cases of ./relay-contract.ts.
// test/pen/transport-majors.test.ts runs this file on every Node major the package supports, so
// that a change inside Node fails here rather than in production.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { chooseDataPath, connect, DATA_PATH_ENV, detectDataPath, listenHandles, netSide, Pair, type ConnectTarget, type DataPath, type Listener, type Side } from '../../src/pen/transport';
import { freePort } from '../support/process';
import { noReports, relayContract, type Address, type ListenOn, type RelayOptions, type RelayUnderTest } from './relay-contract';

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

/** A relay as pen runs one, on this thread: a listener whose clients are paired with a connection to the backend. */
class Relay implements RelayUnderTest {
  readonly reports = noReports();
  listening: ListenOn = { path: '' };
  private readonly pairs = new Set<Pair>();
  private listener: Listener | net.Server | null = null;

  constructor(
    private readonly dataPath: 'handles' | 'net',
    private readonly backend: Address,
    private readonly options: RelayOptions,
  ) {}

  async start(): Promise<this> {
    const accept = (client: Side) => {
      this.reports.clients.push({ address: client.remoteAddress, port: client.remotePort });
      const target = 'path' in this.backend
        ? { host: '', port: 0, unixPath: this.backend.path, source: null, timeoutMs: 2000 }
        : { host: '127.0.0.1', port: this.backend.port, unixPath: null, source: null, timeoutMs: 2000 };
      connect(this.dataPath, target, (upstream) => {
        if (!upstream) {
          client.close();
          return;
        }
        let maxQueued = 0;
        const pair: Pair = new Pair(client, upstream, this.options.fastClose, {
          fromClient: (chunk) => chunk,
          fromServer: () => void (maxQueued = Math.max(maxQueued, client.queued)),
          relayed: () => undefined,
          plainRelay: false,
          closed: () => {
            this.pairs.delete(pair);
            this.reports.closed.push({ clientBytes: pair.clientBytes, serverBytes: pair.serverBytes, maxQueued });
          },
        });
        this.pairs.add(pair);
      });
    };
    const listen = this.options.listen;
    if (this.dataPath === 'handles') {
      const endpoint = 'path' in listen ? { kind: 'unix' as const, path: listen.path } : { kind: 'inet' as const, host: listen.host, port: await freePort() };
      this.listener = await listenHandles(endpoint, 128, accept);
      this.listening = endpoint.kind === 'unix' ? { path: endpoint.path } : { host: endpoint.host, port: endpoint.port };
    } else {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => accept(netSide(s)));
      await new Promise<void>((r) => ('path' in listen ? server.listen(listen.path, r) : server.listen(0, listen.host, r)));
      this.listener = server;
      this.listening = 'path' in listen ? { path: listen.path } : { host: listen.host, port: (server.address() as net.AddressInfo).port };
    }
    return this;
  }

  connect(target: ConnectTarget): Promise<{ ok: boolean; ms: number }> {
    const t0 = Date.now();
    return new Promise((resolve) =>
      connect(this.dataPath, target, (side) => {
        resolve({ ok: side !== null, ms: Date.now() - t0 });
        side?.close();
      }),
    );
  }

  stop(): void {
    for (const p of this.pairs) p.close();
    this.listener?.close();
  }
}

for (const dataPath of ['handles', 'net'] as const satisfies readonly DataPath[]) {
  relayContract({
    title: `relay on ${dataPath}`,
    // What one read and one write can add beyond the bound on this thread's paths.
    queueSlack: 2 * 65536 + 1024 * 1024,
    tcpOnly: null,
    halfClosesOnReset: 'libuv reads a reset that follows the answer as an EOF, which this path takes for a half-close: the pair stays half-open',
    // The handle path is chosen here, not by the detection cases above.
    before: () => {
      if (dataPath === 'handles') assert.equal(detectDataPath({ [DATA_PATH_ENV]: 'handles' }).path, 'handles');
    },
    start: (backend, options) => new Relay(dataPath, backend, options).start(),
  });
}
