import http from 'node:http';
import net from 'node:net';
import type { StatusSnapshot } from './status';

/**
 * The metrics endpoint: pen's status in Prometheus' text format (0.0.4), or OpenMetrics 1.0 to a
 * scraper that asks for it, on its own HTTP port, read-only.
 */

export class MetricsAddressError extends Error {}

/** `metrics_port PORT` or `ADDRESS:PORT`; a bare port listens on loopback only. */
export function parseMetricsListen(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? '127.0.0.1' : text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const portText = colon < 0 ? text : text.slice(colon + 1);
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new MetricsAddressError(`metrics_port ${text}: give a port from 1 to 65535, as PORT or ADDRESS:PORT`);
  if (net.isIP(host) === 0) throw new MetricsAddressError(`metrics_port ${text}: '${host}' is not an IP address; give one, e.g. 127.0.0.1:${port}`);
  return { host, port };
}

type Kind = 'gauge' | 'counter';
interface Family {
  name: string;
  kind: Kind;
  help: string;
  unit?: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The metric families of a snapshot; counters are named without `_total`, as OpenMetrics names families. */
function families(s: StatusSnapshot, startTime: number): Family[] {
  const one = (name: string, kind: Kind, help: string, value: number, unit?: string): Family => ({ name, kind, help, unit, samples: [{ labels: {}, value }] });
  const perServer = (name: string, kind: Kind, help: string, value: (sv: StatusSnapshot['servers'][number]) => number, unit?: string): Family => ({
    name,
    kind,
    help,
    unit,
    samples: s.servers.map((sv) => ({ labels: { server: String(sv.index), address: sv.port ? `${sv.address}:${sv.port}` : sv.address }, value: value(sv) })),
  });
  return [
    one('pen_start_time_seconds', 'gauge', 'When pen started, Unix time.', startTime, 'seconds'),
    one('pen_connections', 'gauge', 'Client connections open now.', s.counters.connections),
    one('pen_connections_max', 'gauge', 'Size of the connection table.', s.counters.connections_max),
    one('pen_connections_accepted', 'counter', 'Client connections taken since the start.', s.counters.connections_accepted),
    one('pen_clients', 'gauge', 'Entries in the client table.', s.counters.clients),
    perServer('pen_server_available', 'gauge', 'Whether the server is in rotation (1) or not (0).', (sv) => (sv.state === 'available' ? 1 : 0)),
    perServer('pen_server_health_down', 'gauge', 'Whether the server is out of rotation by its health check.', (sv) => (sv.state === 'down' ? 1 : 0)),
    perServer('pen_server_blacklist_remaining_seconds', 'gauge', 'Seconds the server stays blacklisted.', (sv) => sv.blacklist_remaining, 'seconds'),
    perServer('pen_server_connections', 'gauge', 'Connections open to the server now.', (sv) => sv.connections),
    perServer('pen_server_sent_bytes', 'counter', 'Bytes sent to the server.', (sv) => sv.bytes_sent, 'bytes'),
    perServer('pen_server_received_bytes', 'counter', 'Bytes received from the server.', (sv) => sv.bytes_received, 'bytes'),
    perServer('pen_server_health_checks', 'counter', 'Health checks made.', (sv) => sv.health.checks),
    perServer('pen_server_health_check_failures', 'counter', 'Health checks failed.', (sv) => sv.health.failed_checks),
    perServer('pen_server_weight', 'gauge', 'The server weight.', (sv) => sv.weight),
    perServer('pen_server_prio', 'gauge', 'The server priority.', (sv) => sv.prio),
  ];
}

/** The exposition text; `openMetrics` for OpenMetrics 1.0, else Prometheus' text format 0.0.4. */
export function renderMetrics(s: StatusSnapshot, startTime: number, openMetrics: boolean): string {
  let out = '';
  for (const f of families(s, startTime)) {
    // Prometheus' format names a counter's family with its `_total`; OpenMetrics without.
    const family = f.kind === 'counter' && !openMetrics ? `${f.name}_total` : f.name;
    const sample = f.kind === 'counter' ? `${f.name}_total` : f.name;
    out += `# HELP ${family} ${f.help}\n# TYPE ${family} ${f.kind}\n`;
    if (openMetrics && f.unit) out += `# UNIT ${family} ${f.unit}\n`;
    for (const { labels, value } of f.samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      out += `${sample}${l ? `{${l}}` : ''} ${value}\n`;
    }
  }
  return openMetrics ? `${out}# EOF\n` : out;
}

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const PROMETHEUS = 'text/plain; version=0.0.4; charset=utf-8';

/** Serves GET /metrics; anything else gets 404 or 405. Bounded: few connections, short timeouts. */
export function metricsServer(snapshot: () => StatusSnapshot): http.Server {
  const startTime = Math.floor(Date.now() / 1000 - process.uptime());
  const server = http.createServer({ maxHeaderSize: 8192, requestTimeout: 5000, headersTimeout: 5000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('pen serves its metrics at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('use GET\n');
      return;
    }
    const openMetrics = /application\/openmetrics-text/.test(req.headers.accept ?? '');
    const body = renderMetrics(snapshot(), startTime, openMetrics);
    res.writeHead(200, { 'Content-Type': openMetrics ? OPENMETRICS : PROMETHEUS, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.maxConnections = 16;
  server.keepAliveTimeout = 5000;
  return server;
}
