// A leaner Node balancer than node-baseline.ts, to show which Node techniques pay on this hot
// path: no stream piping (data events written through, pause/resume backpressure), no
// TCP_NODELAY setsockopt per socket (pen's default is off), the client is not read until the
// backend is connected (as pen does), half-close forwarded with end().
//   node node-lean.js 127.0.0.1:PORT 127.0.0.1:B1 127.0.0.1:B2
import net from 'node:net';
import { bareArgs } from './bare-args';

const { listen, servers } = bareArgs();
let next = 0;

function forward(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
}

const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
  const target = servers[next];
  next = (next + 1) % servers.length;
  const upstream = net.connect({ host: target.host, port: target.port, family: 4, allowHalfOpen: true });
  forward(client, upstream);
  forward(upstream, client);
  upstream.once('connect', () => client.resume());
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', () => upstream.writableEnded || upstream.end());
});
server.listen({ host: listen.host, port: listen.port, backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
