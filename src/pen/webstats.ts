import type { PenState } from './state';
import type { Proxy } from './proxy';
import type { Side } from './transport';

const two = (n: number) => String(n).padStart(2, '0');

function stamp(d: Date): string {
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

const row = (cells: Array<string | number>, header = false) =>
  `<tr>\n${cells.map((c) => (header ? `<td bgcolor="#80f080">${c}</td>` : `<td>${c}</td>`)).join('\n')}\n</tr>\n`;

/** The HTML status page of `status` and SIGUSR1, in pen's layout. */
export function statusPage(state: PenState, proxy: Proxy): string {
  const servers = state.balancer.servers;
  const now = Math.floor(Date.now() / 1000);
  let html = `<html>\n<head>\n<title>Pen status page</title>\n</head>\n<body bgcolor="#ffffff"><h1>Pen status page</h1>\n`;
  html += `Time ${stamp(new Date())}, ${servers.length} servers, ${proxy.used} current<p>\n<table bgcolor="#c0c0c0">\n`;
  html += row(['server', 'address', 'status', 'port', 'connections', 'max soft', 'max hard', 'sent', 'received', 'weight', 'prio'], true);
  for (const s of servers) html += row([s.index, s.unixPath ?? s.host, s.status, s.port, s.conns, s.maxc, s.hard, s.sx, s.rx, s.weight, s.prio]);
  html += `</table>\n<h2>Active clients</h2>Max number of clients: ${state.settings.clientsMax}<p><table bgcolor="#c0c0c0">\n`;
  html += row(['client', 'address', 'age(secs)', 'last server', 'connects', 'sent', 'received'], true);
  let i = 0;
  for (const c of state.balancer.clients.values()) html += row([i++, c.address, now - c.last, c.server, c.connects, c.sx, c.rx]);
  html += `</table>\n<h2>Active connections</h2>Number of connections: ${state.proxy.connMax} max, ${proxy.used} used, ${proxy.lastSlot} last<p><table bgcolor="#c0c0c0">\n`;
  html += row(['connection', 'downfd', 'upfd', 'pending data down', 'pending data up', 'client', 'server'], true);
  for (const c of proxy.conns) {
    if (!c) continue;
    html += row([c.slot, fdOf(c.client), c.upstream ? fdOf(c.upstream) : -1, c.client.queued, c.upstream?.queued ?? 0, c.entry.address, c.server?.index ?? -1]);
  }
  html += `</table>\n</body>\n</html>\n`;
  return html;
}

/** The file descriptor behind a socket, where Node exposes it (pen's commands name sockets by fd). */
export function fdOf(side: Side): number {
  return side.fd;
}
