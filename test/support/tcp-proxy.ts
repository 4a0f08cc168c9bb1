import net from 'node:net';

/**
 * What the proxy does with traffic: forward it, hold it without a word, refuse connections, or
 * forward it with what the server sends slowed to a trickle.
 */
export type ProxyMode = 'pass' | 'silent' | 'refuse' | 'trickle';

/** A trickle hands the client this many bytes of what the server sent... */
const TRICKLE_BYTES = 64;
/** ...every this many milliseconds. */
const TRICKLE_MS = 10;

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
  /** What the server sent and the client has not been handed yet, in order. */
  pending: Buffer[];
  timer: NodeJS.Timeout | null;
}

/**
 * A TCP proxy on loopback in front of one server, to cut a client off from it the way a network
 * does: `silent` holds every byte and every new connection (a partition), `refuse` closes the
 * port (connection refused), `pass` forwards again, `trickle` forwards again but hands on what the
 * server sends in small pieces, so that what a partition held arrives one piece after another.
 */
export class TcpProxy {
  port = 0;
  mode: ProxyMode = 'pass';
  private server: net.Server | null = null;
  private readonly pairs = new Set<Pair>();

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
    const pair: Pair = { client, upstream: null, pending: [], timer: null };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      pair.upstream?.destroy();
      if (pair.timer) clearInterval(pair.timer);
      this.pairs.delete(pair);
    });
    client.pause();
    if (this.mode === 'pass' || this.mode === 'trickle') this.connect(pair);
  }

  private connect(pair: Pair): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => pair.client.destroy());
    upstream.on('data', (d: Buffer) => this.toClient(pair, d));
    pair.client.on('data', (d) => upstream.write(d));
    pair.client.resume();
  }

  /** Hands the server's bytes on, after any still queued. */
  private toClient(pair: Pair, data: Buffer): void {
    if (this.mode !== 'trickle' && pair.pending.length === 0) {
      pair.client.write(data);
      return;
    }
    pair.pending.push(data);
    pair.timer ??= setInterval(() => this.drip(pair), TRICKLE_MS);
  }

  private drip(pair: Pair): void {
    if (this.mode === 'silent') return;
    let budget = this.mode === 'trickle' ? TRICKLE_BYTES : Infinity;
    while (budget > 0 && pair.pending.length) {
      const head = pair.pending[0]!;
      const piece = head.subarray(0, budget);
      pair.client.write(piece);
      budget -= piece.length;
      if (piece.length === head.length) pair.pending.shift();
      else pair.pending[0] = head.subarray(piece.length);
    }
    if (pair.pending.length === 0 && this.mode !== 'trickle') {
      clearInterval(pair.timer!);
      pair.timer = null;
    }
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
    await this.resume('pass');
  }

  /** Forwards again, but what the server sends (what was held first) only in small pieces. */
  async trickle(): Promise<void> {
    await this.resume('trickle');
  }

  private async resume(mode: 'pass' | 'trickle'): Promise<void> {
    const was = this.mode;
    this.mode = mode;
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
