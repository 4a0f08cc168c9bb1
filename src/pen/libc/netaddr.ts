import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';

/** A getaddrinfo failure, with glibc's gai_strerror text (what pen's tools print). */
export class GaiError extends Error {
  constructor(
    readonly gaiText: string,
    readonly detail: string,
  ) {
    super(`getaddrinfo: ${gaiText}`);
  }
}

const EAI_NONAME = 'Name or service not known';
const EAI_SERVICE = 'Servname not supported for ai_socktype';

/** Port of a service name in /etc/services for the protocol, as getservbyname would find it. */
function servicePort(name: string, protocol: 'tcp' | 'udp'): number | null {
  let text: string;
  try {
    text = fs.readFileSync('/etc/services', 'latin1');
  } catch {
    return null;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [official, portProto, ...aliases] = line.split(/\s+/);
    const [port, proto] = portProto.split('/');
    if (proto !== protocol) continue;
    if (official === name || aliases.includes(name)) return Number(port);
  }
  return null;
}

/**
 * The port getaddrinfo makes of a service string: digits are taken modulo 2^16 (as glibc
 * stores them), an empty string is port 0, anything else is a name from /etc/services.
 */
export function resolveService(service: string, protocol: 'tcp' | 'udp'): number {
  if (/^[0-9]*$/.test(service)) return service === '' ? 0 : Number(BigInt(service) & 0xffffn);
  const port = servicePort(service, protocol);
  if (port === null) {
    throw new GaiError(EAI_SERVICE, `"${service}" is neither a port number nor a ${protocol} service in /etc/services`);
  }
  return port;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** The first address getaddrinfo would return for `host` (pen's tools use only the first). */
export async function resolveHost(host: string): Promise<ResolvedAddress> {
  const literal = net.isIP(host);
  if (literal) return { address: host, family: literal as 4 | 6 };
  if (host === '') throw new GaiError(EAI_NONAME, 'the host part is empty');
  try {
    const found = await dns.promises.lookup(host, { hints: dns.ADDRCONFIG });
    return { address: found.address, family: found.family as 4 | 6 };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const text = code === 'EAI_AGAIN' ? 'Temporary failure in name resolution' : EAI_NONAME;
    throw new GaiError(text, `cannot resolve host "${host}"`);
  }
}

/**
 * inet_aton(3): one to four parts separated by dots, each decimal, octal (leading 0) or hex
 * (0x); the last part fills the remaining bytes; trailing whitespace and what follows it is
 * ignored. Returns the address as an unsigned 32-bit number, or null when invalid.
 */
export function inetAton(text: string): number | null {
  const end = text.search(/[ \t\n\v\f\r]/);
  const body = end < 0 ? text : text.slice(0, end);
  const parts = body.split('.');
  if (parts.length < 1 || parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let v: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(part)) v = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) v = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) v = parseInt(part, 10);
    else return null;
    values.push(v);
  }
  const last = values[values.length - 1];
  const head = values.slice(0, -1);
  if (head.some((v) => v > 0xff)) return null;
  const lastMax = [0xffffffff, 0xffffff, 0xffff, 0xff][head.length];
  if (last > lastMax) return null;
  let addr = 0;
  head.forEach((v, i) => (addr += v * 2 ** (8 * (3 - i))));
  return addr + last;
}

/** The IPv4 address a datagram came from as a 32-bit number (IPv4-mapped IPv6 included). */
export function ipv4Number(address: string): number | null {
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (net.isIPv4(plain)) return inetAton(plain);
  return null;
}
