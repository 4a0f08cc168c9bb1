// The smallest useful Node TCP balancer: round robin over the backends, each client socket
// piped to a fresh backend socket. It is the floor any Node implementation pays (libuv, streams),
// measured beside pen and haproxy so that our pen's overhead can be told apart from Node's.
//   node node-baseline.js 127.0.0.1:PORT 127.0.0.1:B1 127.0.0.1:B2
import net from 'node:net';
import { bareArgs } from './bare-args';

const { listen, servers } = bareArgs();
let next = 0;
const server = net.createServer({ noDelay: true }, (client) => {
  const target = servers[next];
  next = (next + 1) % servers.length;
  const upstream = net.connect({ ...target, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen({ host: listen.host, port: listen.port, backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
