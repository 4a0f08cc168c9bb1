import net from 'node:net';

/** What the proxy does with traffic: forward it, hold it without a word, or refuse connections. */
export type ProxyMode = 'pass' | 'silent' | 'refuse';

/**
 * A TCP proxy on loopback in front of one server, to cut a client off from it the way a network
 * does: `silent` holds every byte and every new connection (a partition), `refuse` closes the
 * port (connection refused), `pass` forwards again.
 */
export class TcpProxy {
  port = 0;
  mode: ProxyMode = 'pass';
  private server: net.Server | null = null;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>();

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    const pair = { client, upstream: null as net.Socket | null };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    });
    client.pause();
    if (this.mode === 'pass') this.connect(pair);
  }

  private connect(pair: { client: net.Socket; upstream: net.Socket | null }): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    upstream.on('data', (d) => pair.client.write(d));
    pair.client.on('data', (d) => upstream.write(d));
    pair.client.resume();
  }

  /** Holds everything: bytes stop in both directions and new connections get no answer. */
  silence(): void {
    this.mode = 'silent';
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream?.pause();
    }
  }

  /** Closes the port and every connection through it. */
  async refuse(): Promise<void> {
    this.mode = 'refuse';
    const server = this.server;
    this.server = null;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forwards again: held connections go on where they stopped, a closed port opens again. */
  async pass(): Promise<void> {
    const was = this.mode;
    this.mode = 'pass';
    if (was === 'refuse') await this.start();
    for (const p of this.pairs) {
      if (!p.upstream) this.connect(p);
      else {
        p.client.resume();
        p.upstream.resume();
      }
    }
  }

  async stop(): Promise<void> {
    await this.refuse();
  }
}
