import dgram from 'node:dgram';
import type { Balancer, Server } from './balancer';
import type { Endpoint } from './address';

interface Flow {
  upstream: dgram.Socket;
  server: Server;
  last: number;
  /** Datagrams that arrived before the upstream socket finished connecting. */
  pending: Buffer[] | null;
}

/**
 * `-U`: each client address gets its own upstream socket to the server the balancer chose, and
 * replies come back through the listening socket. Flows beyond `maxFlows` recycle the oldest.
 */
export async function startUdp(listen: Endpoint & { kind: 'inet' }, balancer: Balancer, maxFlows: number): Promise<() => void> {
  const family = listen.host.includes(':') ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type: family, reuseAddr: true });
  const flows = new Map<string, Flow>();
  socket.on('message', (message, from) => {
    const key = `${from.address}:${from.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const entry = balancer.storeClient(from.address);
      const server = balancer.initialServer(entry, from.address, from.port) ?? balancer.emergency;
      if (!server || server.unixPath) return;
      entry.server = server.index;
      const upstream = dgram.createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
      upstream.on('error', () => undefined);
      upstream.on('message', (reply) => {
        server.rx += reply.length;
        socket.send(reply, from.port, from.address);
      });
      const created: Flow = { upstream, server, last: Date.now(), pending: [] };
      upstream.connect(server.port, server.host, () => {
        for (const queued of created.pending!) upstream.send(queued);
        created.pending = null;
      });
      flow = created;
      flows.set(key, flow);
      while (flows.size > maxFlows) {
        const [oldKey, old] = flows.entries().next().value!;
        old.upstream.close();
        flows.delete(oldKey);
      }
    }
    flow.last = Date.now();
    flow.server.sx += message.length;
    if (flow.pending) flow.pending.push(message);
    else flow.upstream.send(message);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(listen.port, listen.host, () => resolve());
  });
  return () => {
    for (const f of flows.values()) f.upstream.close();
    socket.close();
  };
}
