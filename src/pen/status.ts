import type { Balancer, Server } from './balancer';
import { describeCheck } from './health-check';
import type { HealthChecks } from './health';
import type { Proxy } from './proxy';
import type { PenState } from './state';

/**
 * pen's state for programs: the `status_json` reply and the metrics endpoint's source. Its form is
 * docs/pen-status.schema.json; a field is only ever added, never renamed.
 */
export interface StatusSnapshot {
  pid: number;
  uptime_seconds: number;
  listen: string;
  /** The byte path running (absent before the start), and why not the FFI loop when another. */
  data_path?: 'ffi' | 'handles' | 'net';
  data_path_reason?: string;
  /** On the FFI path: whether its loop relays in C rounds or TypeScript ones, and why not C. */
  ffi_rounds?: 'c' | 'ts';
  ffi_rounds_reason?: string;
  counters: {
    connections: number;
    connections_max: number;
    connections_accepted: number;
    clients: number;
    clients_max: number;
    bytes_to_servers: number;
    bytes_from_servers: number;
  };
  servers: ServerStatus[];
  clients: ClientStatus[];
}

/** In rotation, draining, blacklisted after a failed connect, down by its health check, or without an address. */
export type ServerState = 'available' | 'draining' | 'blacklisted' | 'down' | 'unconfigured';

export interface ServerStatus {
  index: number;
  address: string;
  port: number;
  state: ServerState;
  blacklist_remaining: number;
  weight: number;
  prio: number;
  max: number;
  hard: number;
  connections: number;
  bytes_sent: number;
  bytes_received: number;
  health: {
    check: string | null;
    status: 'unchecked' | 'up' | 'down';
    passes: number;
    failures: number;
    checks: number;
    failed_checks: number;
    last_check: string | null;
    last_result: string | null;
  };
}

export interface ClientStatus {
  address: string;
  server: number;
  age_seconds: number;
  connects: number;
  bytes_sent: number;
  bytes_received: number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export function serverState(balancer: Balancer, s: Server): ServerState {
  if (s.port === 0 && s.unixPath === null) return 'unconfigured';
  if (s.draining) return 'draining';
  if (s.down) return 'down';
  if (balancer.isBlacklisted(s)) return 'blacklisted';
  return 'available';
}

function serverStatus(balancer: Balancer, health: HealthChecks, s: Server): ServerStatus {
  const record = health.recordOf(s);
  return {
    index: s.index,
    address: s.unixPath ?? s.host,
    port: s.port,
    state: serverState(balancer, s),
    blacklist_remaining: Math.max(0, s.blacklistedUntil - nowSeconds()),
    weight: s.weight,
    prio: s.prio,
    max: s.maxc,
    hard: s.hard,
    connections: s.conns,
    bytes_sent: s.sx,
    bytes_received: s.rx,
    health: {
      check: s.check ? describeCheck(s.check) : null,
      status: !record || record.checks === 0 ? 'unchecked' : s.down ? 'down' : 'up',
      passes: record?.passes ?? 0,
      failures: record?.failures ?? 0,
      checks: record?.checks ?? 0,
      failed_checks: record?.failed ?? 0,
      last_check: record && record.lastAt ? new Date(record.lastAt).toISOString() : null,
      last_result: record && record.checks ? record.last : null,
    },
  };
}

export function statusSnapshot(state: PenState, proxy: Proxy | null): StatusSnapshot {
  const { balancer } = state;
  const servers = balancer.servers.map((s) => serverStatus(balancer, state.health, s));
  const t = nowSeconds();
  return {
    pid: process.pid,
    uptime_seconds: Math.floor(process.uptime()),
    listen: state.listen,
    ...(state.dataPath && { data_path: state.dataPath.path }),
    ...(state.dataPath?.reason && { data_path_reason: state.dataPath.reason }),
    ...(state.dataPath?.rounds && { ffi_rounds: state.dataPath.rounds }),
    ...(state.dataPath?.roundsReason && { ffi_rounds_reason: state.dataPath.roundsReason }),
    counters: {
      connections: proxy?.used ?? 0,
      connections_max: state.proxy.connMax,
      connections_accepted: proxy?.accepted ?? 0,
      clients: balancer.clients.size,
      clients_max: state.settings.clientsMax,
      bytes_to_servers: servers.reduce((sum, s) => sum + s.bytes_sent, 0),
      bytes_from_servers: servers.reduce((sum, s) => sum + s.bytes_received, 0),
    },
    servers,
    clients: [...balancer.clients.values()].map((c) => ({
      address: c.address,
      server: c.server,
      age_seconds: t - c.last,
      connects: c.connects,
      bytes_sent: c.sx,
      bytes_received: c.rx,
    })),
  };
}

/** The `health` command: one line a server, in the style of `servers`, with its blacklist and checks. */
export function healthReport(state: PenState): string {
  return statusSnapshot(state, null)
    .servers.map((s) => {
      const h = s.health;
      const checks = h.check
        ? ` check ${h.check} health ${h.status} passes ${h.passes} failures ${h.failures} checks ${h.checks} failed ${h.failed_checks}${h.last_result ? ` last ${h.last_result}` : ''}`
        : ' check off';
      return `${s.index} addr ${s.address} port ${s.port} state ${s.state} blacklist ${s.blacklist_remaining}${checks}\n`;
    })
    .join('');
}
