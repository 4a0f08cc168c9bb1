// The thread of test/pen/transport-ffi.test.ts: pen's FFI loop relaying each client to a backend
// through Pair, as pen's FFI thread does, reporting what it saw to the test's thread.
import { parentPort, workerData } from 'node:worker_threads';
import { loadLibc, type Libc } from '../../src/pen/ffi/libc';
import { FfiLoop } from '../../src/pen/ffi/loop';
import type { FastClose } from '../../src/pen/state';
import { Pair, type ConnectTarget, type Side } from '../../src/pen/transport';

export interface RelayStart {
  listenHost: string;
  backend: { port: number } | { path: string };
  fastClose: FastClose;
}

export type RelayEvent =
  | { kind: 'listening'; port: number; rounds: string }
  | { kind: 'client'; address: string | null; port: number }
  | { kind: 'closed'; clientBytes: number; serverBytes: number; maxQueued: number }
  | { kind: 'connected'; ok: boolean; ms: number };

const start = workerData as RelayStart;
const post = (e: RelayEvent) => parentPort!.postMessage(e);
const libc = loadLibc() as Libc;
const loop = new FfiLoop(libc);
const target: ConnectTarget =
  'path' in start.backend
    ? { host: '', port: 0, unixPath: start.backend.path, source: null, timeoutMs: 2000 }
    : { host: '127.0.0.1', port: start.backend.port, unixPath: null, source: null, timeoutMs: 2000 };
const pairs = new Set<Pair>();

const { port } = loop.listen(start.listenHost, 0, 128, (client) => {
  post({ kind: 'client', address: client.remoteAddress, port: client.remotePort });
  loop.connect(target, (upstream: Side | null) => {
    if (!upstream) {
      client.close();
      return;
    }
    let maxQueued = 0;
    const watchQueue = () => void (maxQueued = Math.max(maxQueued, client.queued));
    // What the C round relays passes no hook: the queue is also looked at between the loop's slices.
    const watching = setInterval(watchQueue, 1);
    const pair: Pair = new Pair(client, upstream, start.fastClose, {
      fromClient: (chunk) => chunk,
      fromServer: watchQueue,
      relayed: () => undefined,
      plainRelay: true,
      closed: () => {
        clearInterval(watching);
        pairs.delete(pair);
        post({ kind: 'closed', clientBytes: pair.clientBytes, serverBytes: pair.serverBytes, maxQueued });
      },
    });
    pairs.add(pair);
  });
});
post({ kind: 'listening', port, rounds: libc.relay ? 'c' : `ts: ${libc.relayNote}` });

// Connect attempts the test asks for, answered with their outcome and duration.
parentPort!.on('message', (m: { connect: ConnectTarget } | { stop: true }) => {
  if ('stop' in m) {
    for (const p of pairs) p.close();
    loop.stop();
    parentPort!.close();
    return;
  }
  const t0 = Date.now();
  loop.connect(m.connect, (side) => {
    post({ kind: 'connected', ok: side !== null, ms: Date.now() - t0 });
    side?.close();
  });
});
loop.run();
