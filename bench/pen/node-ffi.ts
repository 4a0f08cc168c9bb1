// The bare balancer on pen's FFI byte path (src/pen/ffi/loop.ts, an epoll loop calling libc
// through koffi), on the main thread: round robin over the backends, nothing else. Beside our pen
// on the same path it shows what pen's table, selection, counters and its thread cost on top.
//   node node-ffi.js 127.0.0.1:PORT 127.0.0.1:B1 127.0.0.1:B2
import { loadLibc } from '../../src/pen/ffi/libc';
import { FfiLoop } from '../../src/pen/ffi/loop';
import { Pair } from '../../src/pen/transport';
import { bareArgs } from './bare-args';

const { listen, servers } = bareArgs();
let next = 0;
const hooks = { fromClient: (chunk: Buffer) => chunk, fromServer: () => undefined, relayed: () => undefined, plainRelay: true, closed: () => undefined };

const libc = loadLibc();
if (typeof libc === 'string') throw new Error(libc);
const loop = new FfiLoop(libc);
loop.listen(listen.host, listen.port, 4096, (client) => {
  const target = servers[next]!;
  next = (next + 1) % servers.length;
  loop.connect({ host: target.host, port: target.port, unixPath: null, source: null, timeoutMs: 5000 }, (upstream) => {
    if (upstream) new Pair(client, upstream, 'off', hooks);
    else client.close();
  });
});
loop.run();
process.on('SIGTERM', () => process.exit(0));
