import net from 'node:net';
import type { Acls } from './acl';
import type { HealthCheck } from './health-check';

export interface Server {
  index: number;
  host: string;
  port: number;
  unixPath: string | null;
  maxc: number;
  hard: number;
  weight: number;
  prio: number;
  /** ACL a client must pass to use this server (-1: none). */
  acl: number;
  conns: number;
  /** Unix time of the last failure (0: none): the HTML page's "status". */
  status: number;
  /** Blacklisted until this Unix time. */
  blacklistedUntil: number;
  sx: number;
  rx: number;
  /** `server N proxy v1|v2`: the PROXY header written to this server first (absent: none). */
  proxyProtocol?: 1 | 2;
  /** `server N drain`: no new clients; its open connections finish. */
  draining?: boolean;
  /** Its active health check (null: none, as in pen). */
  check: HealthCheck | null;
  /** Taken out of rotation by its health check. */
  down: boolean;
}

export interface ClientEntry {
  address: string;
  /** Index of the server this client used last (-1: none yet). */
  server: number;
  last: number;
  connects: number;
  sx: number;
  rx: number;
}

export interface Settings {
  roundrobin: boolean;
  hash: boolean;
  weight: boolean;
  prio: boolean;
  stubborn: boolean;
  blacklistSeconds: number;
  trackingSeconds: number;
  clientsMax: number;
  clientAcl: number;
}

export const EMERGENCY = -1;
export const ABUSE = -2;

const now = () => Math.floor(Date.now() / 1000);

export function newServer(index: number, fields: Partial<Server> & { host: string; port: number }): Server {
  return { index, unixPath: null, maxc: 0, hard: 0, weight: 0, prio: 0, acl: -1, conns: 0, status: 0, blacklistedUntil: 0, sx: 0, rx: 0, check: null, down: false, ...fields };
}

/** The raw IPv4 `s_addr` as an x86 host integer: pen hashes that, not the dotted value. */
function rawIpv4(address: string): number | null {
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (!net.isIPv4(plain)) return null;
  const b = plain.split('.').map(Number);
  return ((b[3]! << 24) | (b[2]! << 16) | (b[1]! << 8) | b[0]!) >>> 0;
}

/**
 * Server selection as pen 0.34 does it: client tracking with round robin for new clients by
 * default, or hash, weight, priority; per-server limits, blacklisting after a failure, failover to
 * the next server, then the emergency server.
 */
export class Balancer {
  servers: Server[] = [];
  emergency: Server | null = null;
  abuse: Server | null = null;
  private lastServer = 0;
  /** Client IP → entry, least recently used first (a Map keeps insertion order). */
  readonly clients = new Map<string, ClientEntry>();
  /** The key last stored in `clients`, which is its last in order. */
  private newestKey: string | null = null;

  constructor(
    readonly settings: Settings,
    private readonly acls: Acls,
  ) {}

  serverAt(index: number): Server | null {
    if (index === EMERGENCY) return this.emergency;
    if (index === ABUSE) return this.abuse;
    return this.servers[index] ?? null;
  }

  /** Finds or adds the client's entry; the least recently used one makes room. */
  storeClient(address: string): ClientEntry {
    const key = address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
    const t = now();
    let entry = this.clients.get(key);
    if (entry && this.settings.trackingSeconds > 0 && t - entry.last > this.settings.trackingSeconds) {
      this.clients.delete(key);
      entry = undefined;
    }
    if (entry) {
      // The table is in order of last use: a client that was also the last one stays where it is.
      if (key !== this.newestKey) {
        this.clients.delete(key);
        this.clients.set(key, entry);
      }
    } else {
      entry = { address: key, server: -1, last: t, connects: 0, sx: 0, rx: 0 };
      while (this.clients.size >= this.settings.clientsMax) this.clients.delete(this.clients.keys().next().value!);
      this.clients.set(key, entry);
    }
    this.newestKey = key;
    entry.connects++;
    entry.last = t;
    return entry;
  }

  isBlacklisted(s: Server): boolean {
    return s.blacklistedUntil > now();
  }

  /**
   * Whether `s` is in rotation: neither blacklisted, draining nor failing its health check. Every data path
   * asks this before it sends a client to a server.
   */
  isAvailable(s: Server): boolean {
    return !s.down && !s.draining && !this.isBlacklisted(s);
  }

  blacklist(s: Server, seconds = this.settings.blacklistSeconds): void {
    const t = now();
    s.status = t;
    s.blacklistedUntil = t + seconds;
  }

  /** Whether `s` may take this client now (pen's try_server checks, before connecting). */
  accepts(s: Server, client: ClientEntry, address: string): boolean {
    if (s.port === 0 && s.unixPath === null) return false;
    if (!this.isAvailable(s)) return false;
    const sticky = client.server === s.index;
    if (s.maxc > 0 && s.conns >= s.maxc && (!sticky || s.conns >= s.hard)) return false;
    if (s.acl >= 0 && !this.acls.permits(s.acl, address)) return false;
    return true;
  }

  private usable(s: Server): boolean {
    return (s.port !== 0 || s.unixPath !== null) && s.host !== '0.0.0.0' && this.isAvailable(s);
  }

  private byRoundRobin(): Server | null {
    const n = this.servers.length;
    for (let i = 0; i < n; i++) {
      this.lastServer = (this.lastServer + 1) % n;
      const s = this.servers[this.lastServer]!;
      if (this.usable(s)) return s;
    }
    return null;
  }

  private byWeight(): Server | null {
    let best: Server | null = null;
    let bestLoad = Infinity;
    for (const s of this.servers) {
      if (s.weight <= 0 || !this.usable(s)) continue;
      const load = Math.floor((256 * s.conns) / s.weight);
      if (load < bestLoad) {
        best = s;
        bestLoad = load;
      }
    }
    return best;
  }

  private byPrio(): Server | null {
    let best: Server | null = null;
    for (const s of this.servers) if (this.usable(s) && (best === null || s.prio < best.prio)) best = s;
    return best;
  }

  private byHash(address: string, port: number): Server | null {
    const n = this.servers.length;
    if (n === 0) return null;
    const v4 = rawIpv4(address);
    if (v4 !== null) {
      const rawPort = ((port & 0xff) << 8) | (port >> 8);
      return this.servers[(this.settings.roundrobin ? (v4 ^ rawPort) >>> 0 : v4) % n]!;
    }
    const bytes = address.split(':').pop() ?? '0';
    return this.servers[(parseInt(bytes.slice(-2) || '0', 16) & 0xff) % n]!;
  }

  /** The first server to try for a new connection, or null (then the emergency server). */
  initialServer(client: ClientEntry, address: string, port: number): Server | null {
    if (this.settings.clientAcl > 0 && !this.acls.permits(this.settings.clientAcl, address)) return this.abuse;
    if (!this.settings.roundrobin && client.server >= 0 && this.servers[client.server]) return this.servers[client.server]!;
    if (this.settings.prio) return this.byPrio();
    if (this.settings.weight) return this.byWeight();
    if (this.settings.hash) return this.byHash(address, port);
    return this.byRoundRobin();
  }

  /**
   * Servers to try, in order, after `failed` could not take the client: the next ones by index
   * until back at the start, then the emergency server. Stubborn mode tries nothing else.
   */
  *failover(failed: Server, client: ClientEntry, address: string): Generator<Server> {
    if (this.settings.stubborn || failed.index < 0) return;
    const n = this.servers.length;
    for (let i = 1; i < n; i++) {
      const s = this.servers[(failed.index + i) % n]!;
      if (this.accepts(s, client, address)) yield s;
    }
    if (this.emergency) yield this.emergency;
  }
}
