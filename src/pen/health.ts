import net from 'node:net';
import type { Balancer, Server } from './balancer';
import type { HealthCheck } from './health-check';

/*
 * Active health checks, haproxy's way: every `inter` a server is probed (a TCP connect, or an HTTP
 * request whose status must fall in a range); `fall` failures in a row take it out of rotation,
 * `rise` successes in a row bring it back. A server starts in rotation, as in pen.
 */

/** The longest answer head an HTTP check reads before it decides. */
const STATUS_LINE_MAX = 1024;
/** Checks start within this share of `inter` around their time, so that servers drift apart. */
const JITTER = 0.1;

/** What a server's checks have found so far. */
export interface CheckRecord {
  /** Successes and failures in a row: one of them is 0. */
  passes: number;
  failures: number;
  checks: number;
  failed: number;
  /** Unix time in ms of the last finished check (0: none yet). */
  lastAt: number;
  /** The last check's outcome: `200`, `connected`, `timeout`, `ECONNREFUSED`, ... */
  last: string;
}

interface Probe {
  timer: NodeJS.Timeout | null;
  /** The check this probe runs; a changed check gets a new probe. */
  check: HealthCheck;
  socket: net.Socket | null;
  record: CheckRecord;
}

export type HealthLog = (message: string) => void;

/** Runs the configured checks of a balancer's servers, one probe in flight per server at most. */
export class HealthChecks {
  private readonly probes = new Map<Server, Probe>();
  private running = false;

  constructor(
    private readonly balancer: Balancer,
    /** The local address backend connections come from (`source`), read at each check. */
    private readonly source: () => string | null,
    private log: HealthLog = () => undefined,
  ) {}

  /** The record of a server's checks; null while it has none. */
  recordOf(server: Server): CheckRecord | null {
    return this.probes.get(server)?.record ?? null;
  }

  /** Starts checking every server that has a check, each at a random point of its first interval. */
  start(log: HealthLog): void {
    this.log = log;
    this.running = true;
    this.sync();
  }

  stop(): void {
    this.running = false;
    for (const server of [...this.probes.keys()]) this.drop(server);
  }

  /**
   * Follows the servers' check settings: a server whose check changed starts afresh (back in
   * rotation), one whose check is off, or that is no longer in the table, stops being checked.
   */
  sync(): void {
    const servers = new Set(this.balancer.servers);
    for (const server of [...this.probes.keys()]) {
      if (!servers.has(server) || this.probes.get(server)!.check !== server.check) this.drop(server);
    }
    if (!this.running) return;
    for (const server of servers) {
      if (server.check && !this.probes.has(server)) this.add(server, server.check);
    }
  }

  private drop(server: Server): void {
    const probe = this.probes.get(server)!;
    if (probe.timer) clearTimeout(probe.timer);
    probe.socket?.destroy();
    this.probes.delete(server);
    server.down = false;
  }

  private add(server: Server, check: HealthCheck): void {
    const probe: Probe = { timer: null, check, socket: null, record: { passes: 0, failures: 0, checks: 0, failed: 0, lastAt: 0, last: '' } };
    this.probes.set(server, probe);
    server.down = false;
    this.schedule(server, probe, Math.random() * check.interMs);
  }

  private schedule(server: Server, probe: Probe, delayMs: number): void {
    probe.timer = setTimeout(() => {
      probe.timer = null;
      const started = Date.now();
      this.probe(server, probe, (ok, outcome) => {
        if (this.probes.get(server) !== probe) return;
        this.record(server, probe, ok, outcome);
        const spread = 1 + (Math.random() * 2 - 1) * JITTER;
        this.schedule(server, probe, Math.max(0, started + probe.check.interMs * spread - Date.now()));
      });
    }, delayMs);
    probe.timer.unref();
  }

  private record(server: Server, probe: Probe, ok: boolean, outcome: string): void {
    const r = probe.record;
    const { rise, fall } = probe.check;
    r.checks++;
    r.lastAt = Date.now();
    r.last = outcome;
    const where = `server ${server.index} (${server.unixPath ?? `${server.host}:${server.port}`})`;
    if (ok) {
      r.passes++;
      r.failures = 0;
      if (server.down && r.passes >= rise) {
        server.down = false;
        // The checks have just seen it answer: a blacklist from a client's failed connect ends too.
        server.blacklistedUntil = 0;
        this.log(`${where} is up: ${r.passes} health check(s) passed (${outcome})`);
      }
    } else {
      r.failed++;
      r.failures++;
      r.passes = 0;
      if (!server.down && r.failures >= fall) {
        server.down = true;
        this.log(`${where} is down: ${r.failures} health check(s) failed in a row (${outcome})`);
      }
    }
  }

  /** One check: a connect, then for HTTP one request and its status line; never more than the timeout. */
  private probe(server: Server, probe: Probe, done: (ok: boolean, outcome: string) => void): void {
    const { check } = probe;
    if (server.port === 0 && server.unixPath === null) {
      done(false, 'no address');
      return;
    }
    const source = this.source();
    const socket = server.unixPath
      ? net.connect({ path: server.unixPath })
      : net.connect({ host: server.host, port: server.port, ...(source ? { localAddress: source } : {}) });
    probe.socket = socket;
    let finished = false;
    const finish = (ok: boolean, outcome: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      probe.socket = null;
      socket.destroy();
      done(ok, outcome);
    };
    const timer = setTimeout(() => finish(false, 'timeout'), check.timeoutMs ?? check.interMs);
    timer.unref();
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    socket.on('connect', () => {
      if (check.kind === 'tcp') {
        finish(true, 'connected');
        return;
      }
      const host = check.hostHeader ?? (server.unixPath ? 'localhost' : net.isIPv6(server.host) ? `[${server.host}]` : server.host);
      socket.write(`${check.method} ${check.path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: pen-health-check\r\nConnection: close\r\n\r\n`);
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        head += chunk;
        const eol = head.indexOf('\n');
        if (eol < 0 && head.length < STATUS_LINE_MAX) return;
        const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
        if (!m) {
          finish(false, 'not an HTTP answer');
          return;
        }
        const status = Number(m[1]);
        finish(status >= check.statusLow && status <= check.statusHigh, String(status));
      });
      socket.on('end', () => finish(false, 'closed before the status line'));
    });
  }
}
