import { type Balancer, type ClientEntry, type Server } from './balancer';
import { proxyHeader, startsLikeProxyHeader, type Endpoint4or6 } from './proxyproto';
import type { ProxySettings } from './state';
import { connect, CONNECTING, Pair, type DataPath, type PairHooks, type Side, type SideOwner } from './transport';

/**
 * One client connection and its backend connection: a slot of pen's connection table. Once the
 * backend is up it is also the pair's hooks (counting, logging and rewriting the bytes), so a
 * connection costs this object and its pair, not a closure per hook.
 */
export class Conn implements SideOwner, PairHooks {
  upstream: Side | null = null;
  server: Server | null = null;
  pair: Pair | null = null;
  /** Set when the client went away before its backend answered. */
  aborted = false;
  /** The servers still to try after the first one failed, in failover order; made at the first failure. */
  candidates: Generator<Server> | null = null;
  /** What the relay does with the client's bytes, as the settings were when the backend came up. */
  private log: RequestLogger | null = null;
  private rewrite = false;
  /** The first bytes must not be a PROXY header (accept_proxy's ACL does not permit one). */
  private screen = false;
  /** Nothing to do per chunk (no log, no rewrite, no screen): the data path may relay below the pair. */
  plainRelay = false;

  constructor(
    readonly slot: number,
    readonly client: Side,
    readonly entry: ClientEntry,
    readonly address: string,
    private readonly proxy: Proxy,
    /** Where the client came from when a PROXY header named it, and its bytes read with the header. */
    readonly origin: ClientOrigin | null = null,
  ) {
    client.owner = this;
  }

  /** pen's state bits: 1 connecting, 2 connected, 4 EOF from server, 8 EOF from client. */
  get state(): number {
    return this.pair?.state ?? CONNECTING;
  }

  // While the backend connects, the client is not read: only its loss is heard (on net sockets).
  data(): void {}
  end(): void {}
  drained(): void {}
  shutdownDone(): void {}
  failed(): void {
    this.close();
  }

  /** Relays between the client and `this.upstream`, the backend connection to `this.server`. */
  relay(log: RequestLogger | null, rewrite: boolean): void {
    this.log = log;
    this.rewrite = rewrite;
    this.screen = this.origin?.screen === true;
    this.plainRelay = !log && !rewrite && !this.screen;
    this.pair = new Pair(this.client, this.upstream!, this.proxy.settings.fastClose, this);
  }

  fromClient(chunk: Buffer): Buffer {
    if (this.screen) {
      // Only the first bytes could be a header; after them, nothing more is looked at.
      this.screen = false;
      if (startsLikeProxyHeader(chunk)) {
        this.proxy.onRefused?.(`client ${this.address} sent a PROXY header but accept_proxy's ACL does not permit it; connection closed`);
        this.close();
        return Buffer.alloc(0);
      }
    }
    const s = this.server!;
    if (this.log) this.log(this.address, s.unixPath ?? s.host, chunk);
    const out = this.rewrite ? forwardHeaders(chunk, this.address, this.proxy.proto) : chunk;
    s.sx += out.length;
    this.entry.rx += chunk.length;
    return out;
  }

  fromServer(chunk: Buffer): void {
    this.server!.rx += chunk.length;
    this.entry.sx += chunk.length;
  }

  relayed(fromClient: number, fromServer: number): void {
    const s = this.server!;
    s.sx += fromClient;
    this.entry.rx += fromClient;
    s.rx += fromServer;
    this.entry.sx += fromServer;
  }

  closed(): void {
    this.proxy.debug(() => `connection ${this.slot} closed: ${this.pair!.clientBytes} bytes from the client, ${this.pair!.serverBytes} from server ${this.server!.index}`);
    this.proxy.release(this);
  }

  /** Closes both sides and frees the slot. */
  close(): void {
    if (this.pair) {
      this.pair.close();
      return;
    }
    this.aborted = true;
    this.client.close();
    this.proxy.release(this);
  }
}

/**
 * What the listening side knows of a client beyond its socket: the client and destination an
 * upstream balancer's PROXY header named (with the bytes that came after it), or that its first
 * bytes must not be a PROXY header (`screen`: it is not permitted to send one).
 */
export interface ClientOrigin {
  source: Endpoint4or6 | null;
  destination: Endpoint4or6 | null;
  early: Buffer | null;
  screen: boolean;
}

export type RequestLogger = (clientAddress: string, serverAddress: string, chunk: Buffer) => void;

const GET = /^(GET|POST|HEAD) /i;

/**
 * Inserts X-Forwarded-For and X-Forwarded-Proto into a chunk that starts an HTTP request and holds
 * its whole header, as pen does: per chunk, only GET/POST/HEAD, an existing XFF left alone.
 */
export function forwardHeaders(chunk: Buffer, client: string, proto: 'http' | 'https'): Buffer {
  if (chunk.length < 5 || !GET.test(chunk.subarray(0, 5).toString('latin1'))) return chunk;
  const text = chunk.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  let nl = '\r\n';
  if (end < 0) {
    end = text.indexOf('\n\n');
    nl = '\n';
    if (end < 0) return chunk;
  }
  let insert = '';
  if (!/\nX-Forwarded-For:/i.test(text.slice(0, end))) insert += `${nl}X-Forwarded-For: ${client}`;
  insert = `${nl}X-Forwarded-Proto: ${proto}${insert}`;
  return Buffer.from(text.slice(0, end) + insert + text.slice(end), 'latin1');
}

/** Relays client connections to backends chosen by the balancer, with failover. */
export class Proxy {
  readonly conns: Array<Conn | null>;
  private freeSlots: number[];
  used = 0;
  /** Clients taken since the start (the status's `connections_accepted`). */
  accepted = 0;
  lastSlot = 0;
  onFull: (() => void) | null = null;
  onRoom: (() => void) | null = null;
  /** A client refused for what it sent (a PROXY header it may not send). */
  onRefused: ((message: string) => void) | null = null;

  constructor(
    private readonly balancer: Balancer,
    readonly settings: ProxySettings,
    readonly proto: 'http' | 'https',
    private readonly logRequest: () => RequestLogger | null,
    /** Debug logging; the message is built only when debugging is on (it is per connection). */
    readonly debug: (message: () => string) => void,
    /** How backend connections are made: on handles, or on net sockets. */
    readonly dataPath: DataPath,
  ) {
    this.conns = new Array(settings.connMax).fill(null);
    this.freeSlots = Array.from({ length: settings.connMax }, (_, i) => settings.connMax - 1 - i);
    // One scan a second, as pen's main loop does: a change of `idle_timeout` applies to every
    // connection, those already open included.
    setInterval(() => this.closeIdle(), 1000).unref();
  }

  private closeIdle(): void {
    const limit = this.settings.idleTimeout;
    for (const conn of this.conns) {
      const idle = conn?.pair?.idleTick() ?? 0;
      // Unlike pen, a half-closed pair counts too: a backend that never answers a client that
      // has finished sending would otherwise hold its slot for good.
      if (limit > 0 && idle >= limit) {
        this.debug(() => `connection ${conn!.slot} idle for ${idle} s, closing`);
        conn!.close();
      }
    }
  }

  /** Brings every counter up to date with what the data path relayed below the pairs (before anyone reads them). */
  settle(): void {
    for (const conn of this.conns) conn?.pair?.settle();
  }

  /** Grows the connection table (`conn_max N`); it never shrinks. */
  grow(connMax: number): void {
    const before = this.conns.length;
    // New slots go in front, highest first, as one concatenation: unshifting each is quadratic.
    const added = Array.from({ length: Math.max(0, connMax - before) }, (_, k) => connMax - 1 - k);
    for (let i = before; i < connMax; i++) this.conns.push(null);
    this.freeSlots = added.concat(this.freeSlots);
    this.settings.connMax = this.conns.length;
  }

  get full(): boolean {
    return this.freeSlots.length === 0;
  }

  readonly accept = (client: Side, origin: ClientOrigin | null = null): void => {
    const slot = this.freeSlots.pop();
    if (slot === undefined) {
      // The table is full: refuse this one cleanly.
      client.close();
      return;
    }
    this.used++;
    this.accepted++;
    this.lastSlot = slot;
    if (this.freeSlots.length === 0) this.onFull?.();
    const address = origin?.source?.address ?? client.remoteAddress ?? '0.0.0.0';
    const entry = this.balancer.storeClient(address);
    const conn = new Conn(slot, client, entry, address, this, origin);
    this.conns[slot] = conn;
    const first = this.balancer.initialServer(entry, address, origin?.source?.port ?? client.remotePort);
    if (first === null) {
      const emergency = this.balancer.emergency;
      if (emergency) this.connect(conn, emergency);
      else conn.close();
      return;
    }
    if (first.index >= 0 && !this.balancer.accepts(first, entry, address)) {
      this.next(conn, first);
      return;
    }
    this.connect(conn, first);
  };

  /**
   * The next server for `conn` after `failed` could not take it, or the end of the client. The
   * failover order is made at the first failure, not for every client; the abuse and emergency
   * servers have none.
   */
  private next(conn: Conn, failed: Server): void {
    if (failed.index < 0) {
      conn.close();
      return;
    }
    conn.candidates ??= this.balancer.failover(failed, conn.entry, conn.address);
    const s = conn.candidates.next();
    if (s.done) {
      conn.close();
      return;
    }
    this.connect(conn, s.value);
  }

  private connect(conn: Conn, s: Server): void {
    if (conn.aborted) return;
    if (s.index >= 0) conn.entry.server = s.index;
    conn.server = s;
    s.conns++;
    const target = { host: s.host, port: s.port, unixPath: s.unixPath, source: this.settings.source, timeoutMs: this.settings.timeout * 1000 };
    connect(this.dataPath, target, (upstream) => {
      if (conn.aborted) {
        s.conns--;
        upstream?.close();
        return;
      }
      if (upstream) {
        this.pipe(conn, upstream, s);
        return;
      }
      s.conns--;
      conn.server = null;
      this.balancer.blacklist(s);
      this.debug(() => `connect to server ${s.index} failed; blacklisted for ${this.balancer.settings.blacklistSeconds} s`);
      this.next(conn, s);
    });
  }

  private pipe(conn: Conn, upstream: Side, s: Server): void {
    const { client } = conn;
    conn.upstream = upstream;
    if (this.settings.tcpNodelay) {
      client.setNoDelay(true);
      upstream.setNoDelay(true);
    }
    if (this.settings.keepalive) upstream.setKeepAlive(true);
    const origin = conn.origin;
    if (s.proxyProtocol) {
      const source = { address: conn.address, port: origin?.source?.port ?? client.remotePort };
      upstream.write(proxyHeader(s.proxyProtocol, client.remoteAddress === null && !origin?.source ? null : source, origin?.destination ?? client.localEndpoint?.() ?? null));
    }
    conn.relay(this.logRequest(), this.settings.http);
    if (origin?.early) conn.pair!.data(client, origin.early);
  }

  /** Frees a connection's slot (and its server's count) once it has closed. */
  release(conn: Conn): void {
    if (this.conns[conn.slot] !== conn) return;
    this.conns[conn.slot] = null;
    if (conn.server && conn.upstream) conn.server.conns--;
    const wasFull = this.freeSlots.length === 0;
    this.freeSlots.push(conn.slot);
    this.used--;
    if (wasFull) this.onRoom?.();
  }

  /** `close N`: closes a slot's connection. */
  close(slot: number): boolean {
    if (slot < 0 || slot >= this.conns.length) return false;
    this.conns[slot]?.close();
    return true;
  }

  /** Every open connection closed, at stop. */
  closeAll(): void {
    for (const c of this.conns) c?.close();
  }
}
