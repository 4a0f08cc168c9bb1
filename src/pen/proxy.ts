import net from 'node:net';
import { ABUSE, type Balancer, type ClientEntry, type Server } from './balancer';
import type { FastClose } from './state';

export interface ProxySettings {
  /** Backend connect timeout, seconds. */
  timeout: number;
  /** Insert X-Forwarded-For and X-Forwarded-Proto into HTTP requests. */
  http: boolean;
  tcpNodelay: boolean;
  keepalive: boolean;
  /** Close pairs idle this long, seconds (0: never). */
  idleTimeout: number;
  /** Local address for backend connections. */
  source: string | null;
  connMax: number;
  /** `tcp_fastclose`: which side's EOF closes the whole pair at once (pen's CS_CLOSED_UP/DOWN). */
  fastClose: FastClose;
}

/** One client connection and its backend connection: a slot of pen's connection table. */
export interface Conn {
  slot: number;
  client: net.Socket;
  upstream: net.Socket | null;
  server: Server | null;
  entry: ClientEntry;
  address: string;
  /** pen's state bits: 1 connecting, 2 connected, 4 EOF from server, 8 EOF from client. */
  state: number;
  /** When a byte last moved either way, in seconds of the idle clock. */
  lastActive: number;
}

/** Seconds since start, advanced by the idle scan: the clock `idle_timeout` is measured on, as pen's `now`. */
let idleClock = 0;

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
  lastSlot = 0;
  onFull: (() => void) | null = null;
  onRoom: (() => void) | null = null;

  constructor(
    private readonly balancer: Balancer,
    readonly settings: ProxySettings,
    private readonly proto: 'http' | 'https',
    private readonly logRequest: () => RequestLogger | null,
    private readonly debug: (message: string) => void,
  ) {
    this.conns = new Array(settings.connMax).fill(null);
    this.freeSlots = Array.from({ length: settings.connMax }, (_, i) => settings.connMax - 1 - i);
    // One scan a second, as pen's main loop does: a change of `idle_timeout` applies to every
    // connection, those already open included.
    setInterval(() => this.closeIdle(), 1000).unref();
  }

  private closeIdle(): void {
    idleClock++;
    const limit = this.settings.idleTimeout;
    if (limit <= 0) return;
    for (const conn of this.conns) {
      // Unlike pen, a half-closed pair counts too: a backend that never answers a client that
      // has finished sending would otherwise hold its slot for good.
      if (conn && conn.state & 2 && idleClock - conn.lastActive >= limit) {
        this.debug(`connection ${conn.slot} idle for ${idleClock - conn.lastActive} s, closing`);
        conn.client.destroy();
        conn.upstream?.destroy();
      }
    }
  }

  /** Grows the connection table (`conn_max N`); it never shrinks. */
  grow(connMax: number): void {
    for (let i = this.conns.length; i < connMax; i++) {
      this.conns.push(null);
      this.freeSlots.unshift(i);
    }
    this.settings.connMax = this.conns.length;
  }

  get full(): boolean {
    return this.freeSlots.length === 0;
  }

  readonly accept = (client: net.Socket): void => {
    const slot = this.freeSlots.pop();
    if (slot === undefined) {
      // The table is full: refuse this one cleanly.
      client.destroy();
      return;
    }
    this.used++;
    this.lastSlot = slot;
    if (this.freeSlots.length === 0) this.onFull?.();
    client.pause();
    client.on('error', () => undefined);
    const address = client.remoteAddress ?? '0.0.0.0';
    const entry = this.balancer.storeClient(address);
    const conn: Conn = { slot, client, upstream: null, server: null, entry, address, state: 1, lastActive: idleClock };
    this.conns[slot] = conn;
    client.once('close', () => this.release(conn));
    const first = this.balancer.initialServer(entry, address, client.remotePort ?? 0);
    if (first === null) {
      const emergency = this.balancer.emergency;
      if (emergency) this.connect(conn, emergency, null);
      else client.destroy();
      return;
    }
    const candidates = first.index === ABUSE ? null : this.balancer.failover(first, entry, address);
    if (first.index >= 0 && !this.balancer.accepts(first, entry, address)) {
      this.next(conn, candidates);
      return;
    }
    this.connect(conn, first, candidates);
  };

  private next(conn: Conn, candidates: Generator<Server> | null): void {
    const s = candidates?.next();
    if (!s || s.done) {
      conn.client.destroy();
      return;
    }
    this.connect(conn, s.value, candidates);
  }

  private connect(conn: Conn, s: Server, candidates: Generator<Server> | null): void {
    if (conn.client.destroyed) return;
    if (s.index >= 0) conn.entry.server = s.index;
    const options: net.NetConnectOpts = s.unixPath
      ? { path: s.unixPath, allowHalfOpen: true }
      : { host: s.host, port: s.port, allowHalfOpen: true, ...(this.settings.source ? { localAddress: this.settings.source } : {}) };
    const upstream = net.connect(options);
    conn.upstream = upstream;
    conn.server = s;
    s.conns++;
    let connected = false;
    upstream.setTimeout(this.settings.timeout * 1000);
    const fail = () => {
      if (connected) return;
      upstream.destroy();
      s.conns--;
      conn.upstream = null;
      conn.server = null;
      this.balancer.blacklist(s);
      this.debug(`connect to server ${s.index} failed; blacklisted for ${this.balancer.settings.blacklistSeconds} s`);
      this.next(conn, candidates);
    };
    upstream.once('timeout', fail);
    upstream.once('error', fail);
    upstream.once('connect', () => {
      connected = true;
      upstream.off('timeout', fail);
      upstream.off('error', fail);
      upstream.setTimeout(0);
      this.pipe(conn, upstream, s);
    });
  }

  private pipe(conn: Conn, upstream: net.Socket, s: Server): void {
    const { client, entry } = conn;
    conn.state = 2;
    conn.lastActive = idleClock;
    if (this.settings.tcpNodelay) {
      client.setNoDelay(true);
      upstream.setNoDelay(true);
    }
    if (this.settings.keepalive) upstream.setKeepAlive(true);
    const http = this.settings.http;
    const log = this.logRequest();
    const serverAddress = s.unixPath ?? s.host;
    client.on('data', (chunk: Buffer) => {
      if (log) log(conn.address, serverAddress, chunk);
      const out = http ? forwardHeaders(chunk, conn.address, this.proto) : chunk;
      s.sx += out.length;
      entry.rx += chunk.length;
      conn.lastActive = idleClock;
      if (!upstream.write(out)) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => {
      s.rx += chunk.length;
      entry.sx += chunk.length;
      conn.lastActive = idleClock;
      if (!client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    // EOF from one side: pass the half-close on, or with `tcp_fastclose` for that side close the
    // pair once what is queued for the other side has been written.
    const fast = this.settings.fastClose;
    client.on('end', () => {
      conn.state |= 8;
      if (fast === 'down' || fast === 'both') closeWhenWritten(upstream, client);
      else upstream.end();
    });
    upstream.on('end', () => {
      conn.state |= 4;
      if (fast === 'up' || fast === 'both') closeWhenWritten(client, upstream);
      else client.end();
    });
    upstream.on('error', () => client.destroy());
    // Not every client error destroys the client (a TLS renegotiation attack does not): this does.
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.resume();
  }

  private release(conn: Conn): void {
    if (this.conns[conn.slot] !== conn) return;
    this.conns[conn.slot] = null;
    if (conn.server && conn.upstream) conn.server.conns--;
    conn.upstream?.destroy();
    const wasFull = this.freeSlots.length === 0;
    this.freeSlots.push(conn.slot);
    this.used--;
    if (wasFull) this.onRoom?.();
  }

  /** `close N`: closes a slot's connection. */
  close(slot: number): boolean {
    const conn = this.conns[slot];
    if (slot < 0 || slot >= this.conns.length) return false;
    conn?.client.destroy();
    conn?.upstream?.destroy();
    return true;
  }
}

/** Ends `other` once its queue is written, and closes both: pen's close of a pair. */
function closeWhenWritten(other: net.Socket, ended: net.Socket): void {
  other.end(() => {
    other.destroy();
    ended.destroy();
  });
}
