import dns from 'node:dns';
import net from 'node:net';
import { resolveService } from './libc/netaddr';

export class AddressError extends Error {}

export type Endpoint = { kind: 'unix'; path: string } | { kind: 'inet'; host: string; port: number };

export function describeEndpoint(e: Endpoint): string {
  return e.kind === 'unix' ? e.path : `${e.host}:${e.port}`;
}

function port(text: string, what: string): number {
  let p: number;
  try {
    p = resolveService(text, 'tcp');
  } catch {
    throw new AddressError(`${what}: "${text}" is neither a port number nor a service name`);
  }
  if (p < 1 || p > 65535) throw new AddressError(`${what}: port ${text} is out of range 1..65535`);
  return p;
}

/** `[host:]port` or `/path/to/socket`: split at the last colon, as pen does (so `::1:2222` works). */
export function parseListen(text: string, what = `listen address "${text}"`): Endpoint {
  if (text.includes('/')) return { kind: 'unix', path: text };
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? '0.0.0.0' : text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { kind: 'inet', host: host || '0.0.0.0', port: port(colon < 0 ? text : text.slice(colon + 1), what) };
}

export interface ServerSpec {
  host: string;
  port: number;
  maxc: number;
  hard: number;
  weight: number;
  prio: number;
  unixPath: string | null;
}

function int(text: string | undefined, what: string, spec: string): number {
  if (text === undefined || text === '') return 0;
  if (!/^-?\d+$/.test(text)) throw new AddressError(`server "${spec}": ${what} "${text}" is not a number`);
  return Number(text);
}

/** `host[:port[:maxc[:hard[:weight[:prio]]]]]`, `[ipv6]:port:...`, or a socket path. */
export function parseServerSpec(spec: string, defaultPort: number): ServerSpec {
  if (spec.includes('/') && !spec.startsWith('[')) {
    return { host: spec, port: 0, maxc: 0, hard: 0, weight: 0, prio: 0, unixPath: spec };
  }
  let host: string;
  let rest: string[];
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close < 0) throw new AddressError(`server "${spec}": missing "]" after the IPv6 address`);
    host = spec.slice(1, close);
    rest = spec.slice(close + 1).replace(/^:/, '').split(':');
    if (rest.length === 1 && rest[0] === '') rest = [];
  } else {
    [host = '', ...rest] = spec.split(':');
  }
  if (host === '') throw new AddressError(`server "${spec}": no host`);
  if (rest.length > 5) throw new AddressError(`server "${spec}": too many fields; use host:port:maxc:hard:weight:prio`);
  return {
    host,
    port: rest[0] ? port(rest[0], `server "${spec}"`) : defaultPort,
    maxc: int(rest[1], 'max connections', spec),
    hard: int(rest[2], 'hard limit', spec),
    weight: int(rest[3], 'weight', spec),
    prio: int(rest[4], 'priority', spec),
    unixPath: null,
  };
}

/** Names are resolved once, at start-up, as pen does: the first address wins. */
export async function resolveOnce(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  try {
    return (await dns.promises.lookup(host)).address;
  } catch {
    throw new AddressError(`unknown or invalid address [${host}]`);
  }
}
