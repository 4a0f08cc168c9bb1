// The bare balancer on pen's byte path (src/pen/transport.ts, libuv stream handles): round robin
// over the backends, nothing else. Beside node-lean.ts (the same on net) it shows what the
// handles save; beside our pen, what pen's table, selection and counters cost on top.
//   node node-handles.js 127.0.0.1:PORT 127.0.0.1:B1 127.0.0.1:B2
import { connect, detectDataPath, listenHandles, Pair } from '../../src/pen/transport';
import { bareArgs } from './bare-args';

const { listen, servers } = bareArgs();
let next = 0;
const hooks = { fromClient: (chunk: Buffer) => chunk, fromServer: () => undefined, relayed: () => undefined, plainRelay: true, closed: () => undefined };

if (detectDataPath({ FLAVORKIT_PEN_DATA_PATH: 'handles' }).path !== 'handles') throw new Error('this Node offers no handle path');
void listenHandles({ kind: 'inet', host: listen.host, port: listen.port }, 4096, (client) => {
  const target = servers[next]!;
  next = (next + 1) % servers.length;
  connect('handles', { host: target.host, port: target.port, unixPath: null, source: null, timeoutMs: 5000 }, (upstream) => {
    if (upstream) new Pair(client, upstream, 'off', hooks);
    else client.close();
  });
});
process.on('SIGTERM', () => process.exit(0));
